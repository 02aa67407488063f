import type { RoundAggregate } from "../solver/admm.ts";
import { solveKnapsack } from "./knapsack.ts";
import type { NodeProblem } from "./decompose.ts";

/**
 * A node agent's x-update of sharing ADMM (Boyd et al. 2011, section 7.3) for the allocation
 * LP: with v = (its contribution last round) - signal,
 *
 *   y+ = argmin_{0 <= y <= upper, sum y <= capacity}  -gain . y + rho / 2 * || A y - v ||^2
 *
 * where A y is what y adds to the shared resources (time, normalized throughput). Each y_j
 * touches only its own job's resources, so the quadratic is separable and the only coupling
 * is the node's capacity: one knapsack, solved exactly. Pure.
 */
export type NodeWorkspace = { readonly p: Float64Array; readonly q: Float64Array; readonly upper: Float64Array; readonly ones: Float64Array };

export function nodeWorkspace(problem: NodeProblem): NodeWorkspace {
  const n = problem.columns.length;
  return { p: new Float64Array(n), q: new Float64Array(n), upper: Float64Array.from(problem.columns, (c) => c.upper), ones: new Float64Array(n).fill(1) };
}

export function nodeStep(problem: NodeProblem, previous: ArrayLike<number>, signal: ArrayLike<number>, rho: number, workspace = nodeWorkspace(problem)): Float64Array {
  const { p, q, upper, ones } = workspace;
  problem.columns.forEach((c, j) => {
    const y = previous[j];
    const vTime = c.time * y - signal[c.job];
    const vThr = c.thrResource < 0 ? 0 : c.thr * y - signal[c.thrResource];
    p[j] = rho * (c.time * vTime + c.thr * vThr) + c.gain;
    q[j] = rho * (c.time * c.time + c.thr * c.thr);
  });
  const next = new Float64Array(problem.columns.length);
  solveKnapsack(p, q, upper, ones, problem.capacity, next);
  return next;
}

/** Adds what y contributes to each shared resource into `total` (length: the coupling's resources). */
export function addContribution(problem: NodeProblem, y: ArrayLike<number>, total: Float64Array, sign = 1): void {
  problem.columns.forEach((c, j) => {
    total[c.job] += sign * c.time * y[j];
    if (c.thrResource >= 0) total[c.thrResource] += sign * c.thr * y[j];
  });
}

/**
 * What the coordinator needs of a round (RoundAggregate) from every node's previous and new y:
 * the mean contribution and the squared norms of the contributions and of their steps. The
 * in-process solver and the stream's fold both call this, so they take the same steps.
 */
export function clusterAggregate(round: number, nodes: readonly NodeProblem[], previous: readonly ArrayLike<number>[], next: readonly ArrayLike<number>[], resources: number): RoundAggregate {
  const total = new Float64Array(resources);
  let sumSquares = 0;
  let sumSquaredSteps = 0;
  nodes.forEach((node, n) => {
    addContribution(node, next[n], total);
    node.columns.forEach((c, k) => {
      const step = next[n][k] - previous[n][k];
      const coefficients = c.time * c.time + c.thr * c.thr;
      sumSquares += coefficients * next[n][k] * next[n][k];
      sumSquaredSteps += coefficients * step * step;
    });
  });
  return { round, agents: nodes.length, xbar: Array.from(total, (v) => v / nodes.length), sumSquares, sumSquaredSteps };
}
