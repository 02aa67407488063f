import { test } from "uvu";
import * as assert from "uvu/assert";
import { applyChange, warmStart } from "../../src/families/accelerator-allocation/churn.ts";
import type { ClusterProblem } from "../../src/families/accelerator-allocation/cluster.ts";
import { policyForm } from "../../src/families/accelerator-allocation/policy.ts";
import { solveAllocationReference } from "../../src/families/accelerator-allocation/reference-lp.ts";
import { planViolation } from "../../src/families/accelerator-allocation/repair.ts";
import { ALLOCATION_ADMM, solveAllocationInProcess } from "../../src/families/accelerator-allocation/solve-in-process.ts";
import { syntheticCluster } from "../../src/families/accelerator-allocation/synthetic.ts";

const base = (policy: ClusterProblem["policy"]): ClusterProblem =>
  syntheticCluster({ seed: 21, jobs: 60, tenants: 3, nodes: { V100: 2, P100: 2, K80: 2, A100: 2 }, perNode: 8, policy });

/** Two jobs finish, two arrive (copies with other throughputs), one is measured again. */
function churned(problem: ClusterProblem): ClusterProblem {
  const [a, b, c, d] = problem.jobs;
  return applyChange(problem, {
    depart: [a.name, b.name],
    arrive: [
      { ...c, name: "arrived-0", throughput: Object.fromEntries(Object.entries(c.throughput).map(([t, v]) => [t, v * 1.05])) },
      { ...d, name: "arrived-1" },
    ],
    throughput: { [problem.jobs[5].name]: Object.fromEntries(Object.entries(problem.jobs[5].throughput).map(([t, v]) => [t, v * 0.9])) },
  });
}

for (const policy of ["max-throughput", "max-min-fairness"] as const) {
  test(`${policy}: a re-solve after churn, warm from the last plan, is certified within 1e-3 of HiGHS in fewer rounds than from zeros`, async () => {
    const before = base(policy);
    const first = solveAllocationInProcess(before, ALLOCATION_ADMM);
    assert.ok(first.converged);
    const after = churned(before);
    const exact = await solveAllocationReference(after, policyForm(after));
    if (exact.status !== "optimal") throw new Error(`HiGHS: ${exact.detail}`);
    const start = warmStart(before, first.end, after);
    assert.equal(
      start.y.map((y) => y.length),
      solveAllocationInProcess(after, { ...ALLOCATION_ADMM, maxRounds: 1 }).end.y.map((y) => y.length),
      "one value per column of the changed cluster",
    );
    const warm = solveAllocationInProcess(after, ALLOCATION_ADMM, undefined, start);
    const cold = solveAllocationInProcess(after, ALLOCATION_ADMM);
    assert.ok(warm.converged && warm.certifiedGap <= 1e-3, `certified ${warm.certifiedGap}`);
    assert.ok((exact.objective - warm.objective) / Math.abs(exact.objective) <= 1e-3, `${warm.objective} against HiGHS ${exact.objective}`);
    assert.ok(planViolation(after, warm.x) <= 1e-9);
    assert.ok(warm.rounds < cold.rounds, `warm ${warm.rounds} rounds, cold ${cold.rounds}`);
  });
}

test("a change that departs or re-measures a job the cluster lacks, or adds one it has, is refused with the job's name", () => {
  const problem = base("max-throughput");
  const none = { arrive: [], depart: [], throughput: {} };
  assert.throws(() => applyChange(problem, { ...none, depart: ["nobody"] }), /job nobody departs, but the cluster has no such job/);
  assert.throws(() => applyChange(problem, { ...none, throughput: { nobody: { V100: 1 } } }), /job nobody's throughput changes/);
  assert.throws(
    () => applyChange(problem, { ...none, arrive: [problem.jobs[0]] }),
    new RegExp(`job ${problem.jobs[0].name} arrives, but the cluster has it already`),
  );
  assert.throws(() => applyChange(problem, { ...none, depart: problem.jobs.map((j) => j.name) }), /list at least one job/);
  // Arrivals are read as a scenario's jobs are.
  const model = problem.jobs[0];
  const arrival = { ...model, name: "arrived" };
  assert.throws(() => applyChange(problem, { ...none, arrive: [arrival, arrival] }), /job "arrived" appears twice/);
  assert.throws(() => applyChange(problem, { ...none, arrive: [{ ...arrival, throughput: {} }] }), /the job can run on no type/);
  assert.throws(() => applyChange(problem, { ...none, arrive: [{ ...arrival, throughput: { V100: Number.NaN } }] }), /expected a finite number/);
  assert.throws(() => applyChange(problem, { ...none, arrive: [{ ...arrival, name: "constructor" }] }), /"constructor" must be 1-64 letters/);
});

test.run();
