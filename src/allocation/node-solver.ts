import type { AgentPlan, LocalSolver } from "../agent/agent-machine.ts";
import type { SparseUpdate } from "../core/schemas.ts";
import type { NodeProblem } from "./decompose.ts";
import { nodeStep, nodeWorkspace } from "./node-step.ts";

/**
 * A node agent's LocalSolver: its y (accelerator-time per column) and the exact knapsack step
 * of node-step.ts. Rounds are synchronous (every round takes every node's delta), so what a
 * plan commits for us is what we proposed for it; the plan carries only the shared signal.
 */
export type NodePlan = AgentPlan & {
  readonly rho: number;
  /** The full signal (xbar - zbar + u), folded from the cluster plans' sparse updates. */
  readonly signal: ArrayLike<number>;
};

export function nodeSolver(problem: NodeProblem): LocalSolver<NodePlan, Float64Array> {
  const workspace = nodeWorkspace(problem);
  return {
    commit: (_plan, proposed) => proposed ?? new Float64Array(problem.columns.length),
    step: (plan, committed) => nodeStep(problem, committed, plan.signal, plan.rho, workspace),
  };
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
  update.index.forEach((k, i) => (values[k] = update.value[i]));
}
