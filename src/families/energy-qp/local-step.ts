import type { LocalProblem } from "./local-problem.ts";

/**
 * The agent's x-update of sharing ADMM (Boyd et al. 2011, section 7.3):
 *
 *   x_i+ = argmin_{lower <= x <= upper} f_i(x) + rho/2 * || x - (x_i - signal) ||^2
 *
 * with signal = xbar - zbar + u from the last plan. f_i is a separable quadratic, so each
 * coordinate has the closed form clip((rho * v - linear) / (quadratic + rho)). Pure.
 */
export function localStep(
  problem: LocalProblem,
  previous: Readonly<Record<string, number>>,
  signal: Readonly<Record<string, number>>,
  rho: number,
): Record<string, number> {
  const next: Record<string, number> = {};
  for (const v of problem.variables) {
    const target = (previous[v.resource] ?? 0) - (signal[v.resource] ?? 0);
    const unclipped = (rho * target - v.linear) / (v.quadratic + rho);
    next[v.resource] = Math.min(v.upper, Math.max(v.lower, unclipped));
  }
  return next;
}
