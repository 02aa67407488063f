import { readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { POLICIES, type ClusterProblem } from "../../src/families/accelerator-allocation/cluster.ts";
import { parseClusterScenario } from "../../src/families/accelerator-allocation/cluster-scenario.ts";
import { waterLevel } from "../../src/families/accelerator-allocation/coupling.ts";
import { solveKnapsack } from "../../src/families/accelerator-allocation/knapsack.ts";
import { policyForm } from "../../src/families/accelerator-allocation/policy.ts";
import { solveAllocationReference } from "../../src/families/accelerator-allocation/reference-lp.ts";
import { planViolation } from "../../src/families/accelerator-allocation/repair.ts";
import { checkSlos } from "../../src/families/accelerator-allocation/slo-check.ts";
import { solveAllocationInProcess } from "../../src/families/accelerator-allocation/solve-in-process.ts";
import { syntheticCluster } from "../../src/families/accelerator-allocation/synthetic.ts";
import { PROJECT_ROOT } from "../../src/bus/embedded-server.ts";
import { censorStep, censorThreshold } from "../../src/families/accelerator-allocation/node-solver.ts";
import { isOneLineError, lastJson, runCli } from "../helpers/cli.ts";
import { seeded } from "../helpers/random.ts";

const small = parseClusterScenario(JSON.parse(readFileSync(path.join(PROJECT_ROOT, "scenarios/gavel-small/scenario.json"), "utf8")), "gavel-small");

/** Distributed plan vs HiGHS on the same LP: converged, within 1e-3, feasible to 1e-9. */
async function assertMatchesHighs(problem: ClusterProblem, label: string): Promise<number> {
  const exact = await solveAllocationReference(problem, policyForm(problem));
  if (exact.status !== "optimal") throw new Error(`${label}: HiGHS ${exact.detail}`);
  const run = solveAllocationInProcess(problem);
  const gap = (exact.objective - run.objective) / Math.abs(exact.objective);
  assert.ok(run.converged, `${label}: converged`);
  assert.ok(Math.abs(gap) < 1e-3, `${label}: relative gap ${gap}`);
  assert.ok(planViolation(problem, run.x) <= 1e-9, `${label}: violation ${planViolation(problem, run.x)}`);
  return run.objective;
}

test("the knapsack step meets its KKT conditions exactly", () => {
  const random = seeded(11);
  for (let trial = 0; trial < 300; trial++) {
    const n = 1 + Math.floor(random() * 12);
    const vec = (f: () => number) => Float64Array.from({ length: n }, f);
    const [p, q, upper, a] = [vec(() => 4 * random() - 1), vec(() => 0.1 + random()), vec(() => random() * 3), vec(() => 0.2 + random())];
    const limit = random() * 4;
    const y = new Float64Array(n);
    const lambda = solveKnapsack(p, q, upper, a, limit, y);
    const load = y.reduce((sum, yj, j) => sum + a[j] * yj, 0);
    assert.ok(lambda >= 0 && load <= limit + 1e-9, `feasible (trial ${trial})`);
    if (lambda > 0) assert.ok(Math.abs(load - limit) < 1e-9, `a priced row binds (trial ${trial})`);
    for (const [j, yj] of y.entries()) assert.ok(Math.abs(yj - Math.min(upper[j], Math.max(0, (p[j] - lambda * a[j]) / q[j]))) < 1e-12);
    // Warm-started anywhere (as node agents start from last round's price), the same solution.
    const warm = new Float64Array(n);
    const warmLambda = solveKnapsack(p, q, upper, a, limit, warm, random() * 2 * (lambda + 1));
    assert.ok(Math.abs(warmLambda - lambda) <= 1e-12 * (1 + lambda), `warm start moves lambda ${lambda} -> ${warmLambda} (trial ${trial})`);
    for (const [j, yj] of warm.entries()) assert.ok(Math.abs(yj - y[j]) < 1e-12, `warm start moves y (trial ${trial})`);
  }
});

test("a censored step sends only changes above the threshold, keeps the rest as committed, and never overbooks the node", () => {
  const random = seeded(5);
  for (let trial = 0; trial < 500; trial++) {
    const n = 1 + Math.floor(random() * 20);
    const capacity = 1 + random() * 4;
    // Two feasible points of the node (within [0, 1] and summing to at most the capacity): what the last round committed and the new step.
    const feasible = () => {
      const y = Float64Array.from({ length: n }, () => random());
      const sum = y.reduce((a, b) => a + b, 0);
      return sum > capacity ? y.map((v) => (v * capacity) / sum) : y;
    };
    const committed = feasible();
    const near = Float64Array.from(feasible(), (v, k) => (random() < 0.5 ? committed[k] + (v - committed[k]) * 1e-3 : v));
    const total = near.reduce((a, b) => a + b, 0);
    const step = total > capacity ? near.map((v) => (v * capacity) / total) : near;
    const threshold = 0.02 * random();
    const sent = censorStep(Float64Array.from(step), committed, threshold, capacity);
    for (let k = 0; k < n; k++) {
      assert.ok(sent[k] === step[k] || sent[k] === committed[k], "each value is the step's or the committed one");
      if (Math.abs(step[k] - committed[k]) > threshold) assert.is(sent[k], step[k], "a change above the threshold is sent");
    }
    assert.ok(sent.reduce((a, b) => a + b, 0) <= capacity + 1e-12, "the node is not overbooked");
  }
  assert.equal([...censorStep(Float64Array.of(1, 2), [1, 3], 0, 10)], [1, 2], "threshold 0 sends every change");
  assert.is(censorThreshold(1e-6, 1000), 5e-7, "the threshold halves every 1000 rounds");
});

test("the max-min water level minimizes the coordinator's prox (against a fine scan)", () => {
  const random = seeded(12);
  for (let trial = 0; trial < 200; trial++) {
    const n = 1 + Math.floor(random() * 6);
    const w = Array.from({ length: n }, () => (random() - 0.5) * 10);
    const floor = w.map(() => (random() < 0.5 ? 0 : random() * 3));
    const above = w.map((x, k) => Math.max(x, floor[k]));
    const [weight, volume] = [0.1 + random() * 3, random() * 5];
    const cost = (t: number) => -weight * volume * t + (weight / 2) * w.reduce((sum, x, k) => sum + (Math.max(x, floor[k], t) - x) ** 2, 0);
    const t = waterLevel(above, w, volume);
    let best = Infinity;
    for (let s = -20; s <= 40; s += 0.001) best = Math.min(best, cost(s));
    assert.ok(cost(t) <= best + 1e-9, `trial ${trial}: ${cost(t)} > ${best}`);
  }
});

for (const policy of POLICIES) {
  test(`gavel-small, ${policy}: the node agents' plan is within 1e-3 of HiGHS and feasible`, async () => {
    const aware = await assertMatchesHighs({ ...small.cluster, policy }, policy);
    const agnostic = solveAllocationInProcess({ ...small.cluster, policy, heterogeneityAgnostic: true });
    assert.ok(agnostic.objective <= aware * (1 + 1e-6), `the agnostic baseline (${agnostic.objective}) does not beat the heterogeneity-aware plan (${aware})`);
  });
}

test("random Gavel-like clusters (fixed seeds): every policy within 1e-3 of HiGHS", async () => {
  for (const seed of [1, 2, 3]) {
    for (const policy of POLICIES) {
      const problem = syntheticCluster({ seed, jobs: 40, tenants: 4, nodes: { V100: 1, P100: 1, K80: 1, A100: 1 }, perNode: 8, policy });
      await assertMatchesHighs(problem, `seed ${seed} ${policy}`);
    }
  }
});

test("tenant quotas are a limit the plan respects, and HiGHS agrees on the optimum", async () => {
  const problem: ClusterProblem = { ...small.cluster, policy: "max-throughput", quotas: { vision: 5, language: 4 } };
  await assertMatchesHighs(problem, "quotas");
});

test("SLOs that cannot all be met are reported with the jobs that fall short", () => {
  const greedy: ClusterProblem = {
    ...small.cluster,
    policy: "cost",
    jobs: small.cluster.jobs.map((job) => (job.name === "lm-lstm-b20" ? { ...job, slo: 500 } : job)),
  };
  const report = checkSlos(greedy);
  assert.ok(report !== undefined && !report.feasible);
  assert.equal(report.short[0].job, "lm-lstm-b20");
  assert.ok(report.reach < 0.2, `reach ${report.reach}`);
  assert.ok(checkSlos({ ...small.cluster, policy: "cost" })?.feasible);
});

test("a cluster scenario with a bad field is refused naming its path", () => {
  const raw = JSON.parse(readFileSync(path.join(PROJECT_ROOT, "scenarios/gavel-small/scenario.json"), "utf8"));
  const broken = (edit: (s: Record<string, any>) => void): string => {
    const copy = structuredClone(raw);
    edit(copy);
    try {
      parseClusterScenario(copy, "s.json");
    } catch (err) {
      return (err as Error).message;
    }
    return "accepted";
  };
  assert.match(
    broken((s) => (s.jobs[2].throughput.TPU = 3)),
    's.json: scenario.jobs[2].throughput.TPU: no node has accelerator type "TPU"',
  );
  assert.match(
    broken((s) => (s.jobs[0].throughput = { V100: 0, P100: 0, K80: 0 })),
    "scenario.jobs[0].throughput: the job can run on no type",
  );
  assert.match(
    broken((s) => (s.policy = "fastest")),
    "scenario.policy: expected one of",
  );
  assert.match(
    broken((s) => {
      s.policy = "makespan";
      delete s.jobs[4].steps;
    }),
    "scenario.jobs[4].steps: the makespan policy needs",
  );
  assert.match(
    broken((s) => (s.nodes[1].count = 0)),
    "scenario.nodes[1].count: expected an integer >= 1",
  );
});

test("catopt allocate: the plan as JSON, within 1e-3 of HiGHS; a broken scenario is one line", async () => {
  const ok = await runCli(["allocate", "gavel-small", "--policy", "max-throughput", "--json"]);
  assert.is(ok.code, 0, ok.stderr);
  const report = lastJson<{ relative_gap: number; max_violation: number; agnostic_objective: number; objective: number }>(ok);
  assert.ok(Math.abs(report.relative_gap) < 1e-3 && report.max_violation <= 1e-9);
  assert.ok(report.agnostic_objective < report.objective);

  const dir = await mkdtemp(path.join(tmpdir(), "catopt-alloc-"));
  const file = path.join(dir, "bad.json");
  await writeFile(
    file,
    JSON.stringify({
      format: "catopt-cluster/1",
      name: "x",
      tenant: "p",
      problem: "x",
      policy: "cost",
      nodes: [{ name: "n", type: "V100", count: 2 }],
      jobs: [{ name: "j", tenant: "t", throughput: { V100: 1 } }],
    }),
  );
  const bad = await runCli(["allocate", file]);
  assert.is(bad.code, 1);
  assert.ok(isOneLineError(bad.stderr), bad.stderr);
  assert.match(bad.stderr, "scenario.prices.V100: the cost policy needs a price");
});

test.run();
