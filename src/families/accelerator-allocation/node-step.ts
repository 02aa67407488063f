import type { RoundAggregate } from "../../solver/admm.ts";
import { solveKnapsack } from "./knapsack.ts";
import type { NodeColumn, NodeProblem } from "./decompose.ts";

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
export type NodeWorkspace = {
  readonly p: Float64Array;
  readonly q: Float64Array;
  readonly upper: Float64Array;
  readonly ones: Float64Array;
  /** The capacity's price last round: where the knapsack's Newton search starts (it moves the result by rounding at most). */
  lambda: number;
};

export function nodeWorkspace(problem: NodeProblem): NodeWorkspace {
  const n = problem.columns.length;
  return {
    p: new Float64Array(n),
    q: new Float64Array(n),
    upper: Float64Array.from(problem.columns, (c) => c.upper),
    ones: new Float64Array(n).fill(1),
    lambda: 0,
  };
}

/** A node's columns as parallel typed arrays: the per-round loops run over these, thousands of columns per node. */
type ColumnArrays = {
  readonly job: Int32Array;
  readonly time: Float64Array;
  readonly thrResource: Int32Array;
  readonly thr: Float64Array;
  readonly gain: Float64Array;
  /** time^2 + thr^2: the column's weight in the squared norms. */
  readonly norm: Float64Array;
};

// Keyed by the column list, which nodes of one type share (decompose.ts).
const arraysCache = new WeakMap<readonly NodeColumn[], ColumnArrays>();

function columnArrays(problem: NodeProblem): ColumnArrays {
  const c = problem.columns;
  let arrays = arraysCache.get(c);
  if (arrays === undefined) {
    arrays = {
      job: Int32Array.from(c, (col) => col.job),
      time: Float64Array.from(c, (col) => col.time),
      thrResource: Int32Array.from(c, (col) => col.thrResource),
      thr: Float64Array.from(c, (col) => col.thr),
      gain: Float64Array.from(c, (col) => col.gain),
      norm: Float64Array.from(c, (col) => col.time * col.time + col.thr * col.thr),
    };
    arraysCache.set(c, arrays);
  }
  return arrays;
}

export function nodeStep(
  problem: NodeProblem,
  previous: ArrayLike<number>,
  signal: ArrayLike<number>,
  rho: number,
  workspace = nodeWorkspace(problem),
): Float64Array {
  const { p, q, upper, ones } = workspace;
  const { job, time, thrResource, thr, gain, norm } = columnArrays(problem);
  for (let j = 0; j < job.length; j++) {
    const y = previous[j];
    const vTime = time[j] * y - signal[job[j]];
    const vThr = thrResource[j] < 0 ? 0 : thr[j] * y - signal[thrResource[j]];
    p[j] = rho * (time[j] * vTime + thr[j] * vThr) + gain[j];
    q[j] = rho * norm[j];
  }
  const next = new Float64Array(problem.columns.length);
  workspace.lambda = solveKnapsack(p, q, upper, ones, problem.capacity, next, workspace.lambda);
  return next;
}

/** Each column's weight in the residuals' squared norms (time^2 + thr^2): what clusterAggregate weighs y^2 by. */
export const columnNorms = (problem: NodeProblem): Float64Array => columnArrays(problem).norm;

/** Adds what y contributes to each shared resource into `total` (length: the coupling's resources). */
export function addContribution(problem: NodeProblem, y: ArrayLike<number>, total: Float64Array, sign = 1): void {
  const { job, time, thrResource, thr } = columnArrays(problem);
  for (let j = 0; j < job.length; j++) {
    total[job[j]] += sign * time[j] * y[j];
    if (thrResource[j] >= 0) total[thrResource[j]] += sign * thr[j] * y[j];
  }
}

/**
 * What the coordinator needs of a round (RoundAggregate) from every node's previous and new y:
 * the mean contribution and the squared norms of the contributions and of their steps. The
 * in-process solver and the stream's fold both call this, so they take the same steps.
 */
export function clusterAggregate(
  round: number,
  nodes: readonly NodeProblem[],
  previous: readonly ArrayLike<number>[],
  next: readonly ArrayLike<number>[],
  resources: number,
): RoundAggregate {
  const total = new Float64Array(resources);
  let sumSquares = 0;
  let sumSquaredSteps = 0;
  nodes.forEach((node, n) => {
    addContribution(node, next[n], total);
    const { norm } = columnArrays(node);
    const [now, before] = [next[n], previous[n]];
    for (let k = 0; k < norm.length; k++) {
      const step = now[k] - before[k];
      sumSquares += norm[k] * now[k] * now[k];
      sumSquaredSteps += norm[k] * step * step;
    }
  });
  return { round, agents: nodes.length, xbar: Array.from(total, (v) => v / nodes.length), sumSquares, sumSquaredSteps };
}
