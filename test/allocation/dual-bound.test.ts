import { test } from "uvu";
import * as assert from "uvu/assert";
import { POLICIES, solvingThroughputs, type ClusterProblem } from "../../src/families/accelerator-allocation/cluster.ts";
import { decompose } from "../../src/families/accelerator-allocation/decompose.ts";
import { dualBound, planValue, roundCertificate } from "../../src/families/accelerator-allocation/dual-bound.ts";
import { policyForm } from "../../src/families/accelerator-allocation/policy.ts";
import { solveAllocationReference } from "../../src/families/accelerator-allocation/reference-lp.ts";
import { ALLOCATION_ADMM, solveAllocationInProcess } from "../../src/families/accelerator-allocation/solve-in-process.ts";
import { syntheticCluster } from "../../src/families/accelerator-allocation/synthetic.ts";
import { seeded } from "../helpers/random.ts";

/** The LP's optimum in its scaled units: HiGHS's plan, valued as the bound values plans. */
async function optimum(problem: ClusterProblem): Promise<number> {
  const solving = solvingThroughputs(problem);
  const form = policyForm(solving);
  const exact = await solveAllocationReference(solving, form);
  if (exact.status !== "optimal") throw new Error(`HiGHS: ${exact.detail}`);
  return planValue(solving, form, decompose(solving, form), exact.x);
}

const instances = (): { label: string; problem: ClusterProblem }[] =>
  [11, 12, 13, 14].flatMap((seed) =>
    POLICIES.map((policy) => ({
      label: `seed ${seed} ${policy}`,
      problem: syntheticCluster({ seed, jobs: 30, tenants: 3, nodes: { V100: 2, P100: 1, K80: 2, A100: 1 }, perNode: 8, policy }),
    })),
  );

test("the Lagrangian bound is never below the HiGHS optimum: at random prices, and at every round's prices of a run", async () => {
  for (const { label, problem } of instances()) {
    const solving = solvingThroughputs(problem);
    const decomposition = decompose(solving, policyForm(solving));
    const best = await optimum(problem);
    const tolerance = 1e-9 * Math.max(1, Math.abs(best));
    const random = seeded(label.length * 7919 + best);
    for (let trial = 0; trial < 20; trial++) {
      const scale = 10 ** (3 * random() - 2);
      const prices = Array.from({ length: decomposition.coupling.resources }, () => (2 * random() - 1) * scale);
      const bound = dualBound(decomposition, prices);
      assert.ok(bound >= best - tolerance, `${label}: bound ${bound} below the optimum ${best} at random prices`);
    }
    let rounds = 0;
    solveAllocationInProcess(problem, { ...ALLOCATION_ADMM, gap: undefined }, (round, _residuals, certificate) => {
      rounds++;
      assert.ok(certificate.bound >= best - tolerance, `${label}: round ${round}'s bound ${certificate.bound} is below the optimum ${best}`);
      // A plan that misses an SLO floor is no feasible plan (and proves nothing): only a feasible one is below the optimum.
      if (Number.isFinite(certificate.gap))
        assert.ok(certificate.value <= best + tolerance, `${label}: round ${round}'s repaired plan ${certificate.value} is above the optimum ${best}`);
    });
    assert.ok(rounds > 0);
  }
});

test("a plan certified within 1e-3 is within 1e-3 of HiGHS, and the certified stop comes before the residual rule", async () => {
  for (const { label, problem } of instances()) {
    const best = await optimum(problem);
    const run = solveAllocationInProcess(problem, { ...ALLOCATION_ADMM, gap: 1e-3 });
    // Today's rule beside it: residuals alone, rho fixed after balancing.
    const residuals = solveAllocationInProcess(problem, { ...ALLOCATION_ADMM, gap: undefined, rhoEvery: undefined });
    const solving = solvingThroughputs(problem);
    const form = policyForm(solving);
    const value = planValue(solving, form, decompose(solving, form), run.x);
    assert.ok(run.converged, `${label}: ${run.rounds} rounds`);
    assert.ok((best - value) / Math.abs(best) <= 1e-3, `${label}: ${value} against the optimum ${best}`);
    assert.ok(run.certifiedGap <= 1e-3, `${label}: certified ${run.certifiedGap}`);
    assert.ok(run.rounds <= residuals.rounds, `${label}: ${run.rounds} rounds certified, ${residuals.rounds} by residuals`);
  }
});

test("a plan below an SLO floor is certified nothing, and such a run stops by its residuals as before", () => {
  const problem = syntheticCluster({ seed: 3, jobs: 12, tenants: 2, nodes: { V100: 1, K80: 1 }, perNode: 8, policy: "cost", sloShare: 0.5 });
  const solving = solvingThroughputs(problem);
  const decomposition = decompose(solving, policyForm(solving));
  const nothing = Object.fromEntries(problem.jobs.map((j) => [j.name, {}]));
  assert.ok(
    problem.jobs.some((j) => (j.slo ?? 0) > 0),
    "the instance has SLO floors",
  );
  const zero = { rho: 1, xbar: [], zbar: [], u: new Array(decomposition.coupling.resources).fill(0) };
  assert.is(roundCertificate(solving, policyForm(solving), decomposition, nothing, zero).gap, Number.POSITIVE_INFINITY);
  // ADMM meets the floors only to its tolerance (1e-4 short here): no certificate, and the residual rule ends the run.
  const certified = solveAllocationInProcess(problem, ALLOCATION_ADMM);
  const residuals = solveAllocationInProcess(problem, { ...ALLOCATION_ADMM, gap: undefined });
  assert.is(certified.certifiedGap, Number.POSITIVE_INFINITY);
  assert.ok(certified.converged);
  assert.is(certified.rounds, residuals.rounds);
});

test("a plan that books nodes the bound leaves out is certified nothing (a node that left, still in a secure round's sums)", async () => {
  const problem = syntheticCluster({ seed: 12, jobs: 20, tenants: 2, nodes: { V100: 2, K80: 2 }, perNode: 8, policy: "max-throughput" });
  const solving = solvingThroughputs(problem);
  const decomposition = decompose(solving, policyForm(solving));
  const exact = await solveAllocationReference(solving, policyForm(solving));
  if (exact.status !== "optimal") throw new Error("HiGHS");
  const state = { rho: 1, xbar: [], zbar: [], u: new Array(decomposition.coupling.resources).fill(0) };
  const all = roundCertificate(solving, policyForm(solving), decomposition, exact.x, state);
  assert.ok(Number.isFinite(all.gap), "over every node, the optimal plan proves a gap");
  const without = roundCertificate(solving, policyForm(solving), decomposition, exact.x, state, (node) => node.node !== problem.nodes[0].name);
  assert.ok(without.value > without.bound, `the plan (${without.value}) books more than the bound without ${problem.nodes[0].name} (${without.bound})`);
  assert.is(without.gap, Number.POSITIVE_INFINITY);
});

test.run();
