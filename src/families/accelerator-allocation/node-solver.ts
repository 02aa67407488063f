import type { AgentPlan, LocalSolver } from "../../core/family.ts";
import type { SparseUpdate } from "./schemas.ts";
import type { NodeProblem } from "./decompose.ts";
import { nodeStep, nodeWorkspace } from "./node-step.ts";

/**
 * A node agent's LocalSolver: its y (accelerator-time per column) and the exact knapsack step
 * of node-step.ts, censored (censorStep). What a plan commits for us comes from the round events
 * (node-agent.ts): in synchronous rounds it is what we proposed for it; with asynchronous rounds a
 * round may not take our delta, or take it late. The plan carries only the shared signal.
 */
export type NodePlan = AgentPlan & {
  /** The round this plan closed; our answer is for the next. */
  readonly round: number;
  readonly rho: number;
  /** The full signal (xbar - zbar + u), folded from the cluster plans' sparse updates. */
  readonly signal: ArrayLike<number>;
  /** Our y as the rounds up to this plan committed it (from the round events: which of our deltas each took); absent: what we proposed. */
  readonly committed?: Float64Array;
};

export function nodeSolver(problem: NodeProblem, censor: number): LocalSolver<NodePlan, Float64Array> {
  const workspace = nodeWorkspace(problem);
  return {
    commit: (plan, proposed) => plan.committed ?? proposed ?? new Float64Array(problem.columns.length),
    step: (plan, committed) =>
      censorStep(nodeStep(problem, committed, plan.signal, plan.rho, workspace), committed, censorThreshold(censor, plan.round + 1), problem.capacity),
  };
}

/** AdmmSettings.censor's threshold in a round: it halves every 1000 rounds. */
export const censorThreshold = (censor: number, round: number): number => censor * 2 ** (-round / 1000);

/**
 * Keeps the committed value wherever the step moved it by at most `threshold` (in place): the
 * result is what the node sends and commits, so the coordinator's fold, which applies the
 * delta, holds exactly the node's values. Threshold 0 keeps only entries that did not move.
 *
 * Old and new values mixed could overbook the node (the step keeps sum y <= capacity only for
 * its own values, and plans rely on that: repair.ts). If they would, every decrease is sent:
 * then each kept value is at most the step's, and so is the sum.
 */
export function censorStep(next: Float64Array, committed: ArrayLike<number>, threshold: number, capacity: number): Float64Array {
  if (threshold === 0) return next;
  // Plain loops, no allocation: this runs over every column of every node each round.
  let sum = 0;
  for (let k = 0; k < next.length; k++) sum += Math.abs(next[k] - committed[k]) <= threshold ? committed[k] : next[k];
  const overbooks = sum > capacity;
  for (let k = 0; k < next.length; k++) {
    const change = next[k] - committed[k];
    if (Math.abs(change) <= threshold && !(overbooks && change < 0)) next[k] = committed[k];
  }
  return next;
}

/** The entries of `next` that differ from `previous`: what a node-delta carries. */
export function changedEntries(previous: ArrayLike<number>, next: ArrayLike<number>): SparseUpdate {
  const index: number[] = [];
  const value: number[] = [];
  for (let k = 0; k < next.length; k++) {
    if (next[k] !== previous[k]) {
      index.push(k);
      value.push(next[k]);
    }
  }
  return { index, value };
}

/** Applies a sparse update in place (a cluster plan's signal entries, a node's y). */
export function applyUpdate(values: { [k: number]: number }, update: SparseUpdate): void {
  for (let i = 0; i < update.index.length; i++) values[update.index[i]] = update.value[i];
}
