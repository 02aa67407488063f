import { test } from "uvu";
import * as assert from "uvu/assert";
import { localObjective, type LocalProblem } from "../../src/families/energy-qp/local-problem.ts";
import { DEFAULT_ADMM } from "../../src/core/problem-spec.ts";
import { localStep } from "../../src/families/energy-qp/local-step.ts";
import { dot, projectOntoPolyhedron } from "../../src/solver/projection.ts";
import { solveReference } from "../../src/families/energy-qp/reference.ts";
import { solveSharing } from "../../src/families/energy-qp/sharing.ts";
import { boundViolation, globalViolation } from "../../src/families/energy-qp/violation.ts";
import { relativeGap } from "../../src/solver/gap.ts";
import { randomInstance, seeded } from "../helpers/random.ts";

test("the agent step meets its optimality conditions: stationary inside the box, pushing outward at a bound", () => {
  const rand = seeded(7);
  for (let trial = 0; trial < 200; trial++) {
    const q = rand() < 0.2 ? 0 : 5 * rand();
    const problem: LocalProblem = {
      owner: "a",
      constant: 0,
      variables: [{ resource: "r", lower: -10 * rand(), upper: 10 * rand(), quadratic: q, linear: 40 * rand() - 20 }],
    };
    const [v] = problem.variables;
    const rho = 0.1 + 5 * rand();
    const previous = { r: 20 * rand() - 10 };
    const signal = { r: 20 * rand() - 10 };
    const x = localStep(problem, previous, signal, rho).r;
    // d/dx [f(x) + rho/2 (x - target)^2] at x
    const gradient = q * x + v.linear + rho * (x - (previous.r - signal.r));
    assert.ok(x >= v.lower && x <= v.upper, "inside the box");
    if (x > v.lower && x < v.upper) assert.ok(Math.abs(gradient) < 1e-9, `stationary, gradient ${gradient}`);
    if (x === v.lower && x < v.upper) assert.ok(gradient >= -1e-9, "at the lower bound the objective wants to go lower");
    if (x === v.upper && x > v.lower) assert.ok(gradient <= 1e-9, "at the upper bound the objective wants to go higher");
  }
});

test("the projection onto { s : G s <= h } is feasible and at least as close as HiGHS's, with dependent rows too", async () => {
  const rand = seeded(11);
  for (let trial = 0; trial < 40; trial++) {
    const m = 2 + Math.floor(rand() * 6);
    const k = 1 + Math.floor(rand() * 5);
    const G = Array.from({ length: k }, () => Array.from({ length: m }, () => (rand() < 0.3 ? 0 : 4 * rand() - 2)));
    if (trial % 4 === 0) G.push([...G[0]]); // a duplicate row: a degenerate active set
    const inside = Array.from({ length: m }, () => 10 * rand() - 5);
    const h = G.map((row) => dot(row, inside) + 3 * rand()); // non-empty: `inside` meets every row
    const w = Array.from({ length: m }, () => 20 * rand() - 10);
    const s = projectOntoPolyhedron(w, { G, h });

    // The same projection as a QP for HiGHS: each coordinate an "agent" with one variable.
    const problems: LocalProblem[] = w.map((wj, j) => ({
      owner: `c${j}`,
      constant: 0,
      variables: [{ resource: `r${j}`, lower: -1e6, upper: 1e6, quadratic: 1, linear: -wj }],
    }));
    const constraints = G.map((row, i) => ({ name: `g${i}`, coefficients: Object.fromEntries(row.map((a, j) => [`r${j}`, a])), limit: h[i] }));
    const reference = await solveReference(problems, constraints);
    if (reference.status !== "optimal") throw new Error(`HiGHS: ${reference.status}`);
    const expected = w.map((_, j) => reference.allocations[`c${j}`][`r${j}`]);
    // The projection is unique, so feasible and no farther from w than HiGHS's answer means
    // optimal; HiGHS's own QP tolerance (about 1e-6 here) bounds how close the two agree.
    const halfSquaredDistance = (x: readonly number[]): number => 0.5 * x.reduce((sum, xj, j) => sum + (xj - w[j]) ** 2, 0);
    for (const [i, row] of G.entries()) assert.ok(dot(row, s) <= h[i] + 1e-9, `trial ${trial}: row ${i} violated`);
    // HiGHS may buy a little objective with a 1e-10 violation; ours is exactly feasible.
    assert.ok(halfSquaredDistance(s) <= halfSquaredDistance(expected) * (1 + 1e-9) + 1e-9, `trial ${trial}: farther from w than HiGHS's projection`);
    const apart = Math.sqrt(s.reduce((sum, sj, j) => sum + (sj - expected[j]) ** 2, 0));
    assert.ok(apart < 1e-4, `trial ${trial}: ${apart} from HiGHS's projection`);
  }
});

test("sharing ADMM meets HiGHS on 50 random instances: gap < 1e-4, violation < 1e-6", async () => {
  let worstGap = 0;
  let worstViolation = 0;
  for (let seed = 1; seed <= 50; seed++) {
    const { problems, spec } = randomInstance(seed);
    const reference = await solveReference(problems, spec.constraints);
    if (reference.status !== "optimal") throw new Error(`seed ${seed}: HiGHS says ${reference.status}`);
    const result = solveSharing(problems, spec);
    assert.ok(result.converged, `seed ${seed}: no convergence in ${result.rounds} rounds`);
    const objective = problems.reduce((sum, p) => sum + localObjective(p, result.allocations[p.owner]), 0);
    const gap = relativeGap(objective, reference.objective);
    const violation = Math.max(globalViolation(spec.constraints, result.allocations), boundViolation(problems, result.allocations));
    assert.ok(gap < 1e-4, `seed ${seed}: gap ${gap}`);
    assert.ok(violation < 1e-6, `seed ${seed}: violation ${violation}`);
    worstGap = Math.max(worstGap, gap);
    worstViolation = Math.max(worstViolation, violation);
  }
  assert.ok(worstGap < 1e-6 && worstViolation < 1e-6, `worst gap ${worstGap}, worst violation ${worstViolation}`);
});

test("a constraint on a resource nobody uses neither stalls nor binds the others", async () => {
  const problems: LocalProblem[] = ["a", "b"].map((owner) => ({
    owner,
    constant: 0,
    variables: [{ resource: "used", lower: 0, upper: 10, quadratic: 1, linear: -8 }],
  }));
  const constraints = [{ name: "mixed", coefficients: { used: 1, unused: 3 }, limit: 6 }];
  const spec = { resources: ["used", "unused"], constraints, agents: ["a", "b"], admm: { ...DEFAULT_ADMM, epsAbs: 1e-10, epsRel: 1e-10 } };
  const result = solveSharing(problems, spec);
  assert.ok(result.converged);
  assert.ok(Math.abs(result.allocations.a.used - 3) < 1e-6 && Math.abs(result.allocations.b.used - 3) < 1e-6, JSON.stringify(result.allocations));
});

test("HiGHS reports an infeasible scenario as such", async () => {
  const problems: LocalProblem[] = [{ owner: "a", constant: 0, variables: [{ resource: "r", lower: 5, upper: 10, quadratic: 1, linear: 0 }] }];
  const result = await solveReference(problems, [{ name: "cap", coefficients: { r: 1 }, limit: 4 }]);
  assert.is(result.status, "infeasible");
});

test.run();
