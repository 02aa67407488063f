import type { LocalProblem } from "../../src/families/energy-qp/local-problem.ts";
import { DEFAULT_ADMM } from "../../src/core/problem-spec.ts";
import type { ProblemSpec } from "../../src/families/energy-qp/schemas.ts";

/** mulberry32: a small seeded PRNG, so every "random" test is the same on every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const between = (rand: () => number, lo: number, hi: number): number => lo + (hi - lo) * rand();
const pick = <T>(rand: () => number, items: readonly T[]): T[] => {
  const chosen = items.filter(() => rand() < 0.6);
  return chosen.length > 0 ? chosen : [items[Math.floor(rand() * items.length)]];
};

/**
 * A random feasible instance: 2-6 agents over 2-8 resources, separable quadratics (some
 * variables purely linear), boxes, and 1-4 global rows with non-negative coefficients whose
 * limits sit between the rows' least possible value and their value at the box maxima.
 */
export function randomInstance(seed: number): { problems: LocalProblem[]; spec: ProblemSpec } {
  const rand = seeded(seed);
  const resources = Array.from({ length: 2 + Math.floor(rand() * 7) }, (_, j) => `r${j}`);
  const problems = Array.from(
    { length: 2 + Math.floor(rand() * 5) },
    (_, i): LocalProblem => ({
      owner: `a${i}`,
      constant: 0,
      variables: pick(rand, resources).map((resource) => {
        const lower = between(rand, -10, 10);
        return {
          resource,
          lower,
          upper: lower + between(rand, 1, 100),
          quadratic: rand() < 0.15 ? 0 : between(rand, 0.5, 5),
          linear: between(rand, -60, 20),
        };
      }),
    }),
  );
  const constraints = Array.from({ length: 1 + Math.floor(rand() * 4) }, (_, k) => {
    const coefficients = Object.fromEntries(pick(rand, resources).map((r) => [r, Math.round(between(rand, 0.2, 2) * 100) / 100]));
    let least = 0;
    let most = 0;
    for (const p of problems) {
      for (const v of p.variables) {
        least += (coefficients[v.resource] ?? 0) * v.lower;
        most += (coefficients[v.resource] ?? 0) * v.upper;
      }
    }
    return { name: `c${k}`, coefficients, limit: least + between(rand, 0.1, 0.7) * (most - least) };
  });
  return {
    problems,
    spec: { resources, constraints, agents: problems.map((p) => p.owner), admm: { ...DEFAULT_ADMM, epsAbs: 1e-10, epsRel: 1e-10, maxRounds: 50_000 } },
  };
}
