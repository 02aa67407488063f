import { clusterAllocation } from "../allocation/cluster-fold.ts";
import { policyForm, policyObjective } from "../allocation/policy.ts";
import { planViolation } from "../allocation/repair.ts";
import { globalViolation, relativeGap } from "../solver/violation.ts";
import { isClusterState, type AnyProblemState, type ProblemState, type ReplayState } from "./reducer.ts";
import { stateHash } from "./state-hash.ts";

/**
 * The outcome of one problem as `run`, `demo` and `replay` report it (the `--json` object).
 * Field names are snake_case: this is what scripts read.
 */
export type Outcome = {
  readonly scenario: string | null;
  readonly tenant: string;
  readonly problem: string;
  readonly status: ProblemState["phase"] | "failed";
  readonly converged: boolean;
  readonly rounds: number;
  readonly objective: number | null;
  readonly reference_objective: number | null;
  readonly gap: number | null;
  readonly max_violation: number | null;
  readonly primal_residual: number | null;
  readonly dual_residual: number | null;
  readonly state_hash: string;
  readonly events: number;
  readonly rejected: number;
  readonly allocations: ProblemState["x"];
};

export function summarize(
  replay: ReplayState,
  problem: AnyProblemState | undefined,
  context: { scenario: string | null; tenant: string; problem: string; referenceObjective: number | null; extraViolation?: number },
): Outcome {
  const { objective, violation, allocations } = planFacts(problem, context.extraViolation ?? 0);
  return {
    scenario: context.scenario,
    tenant: context.tenant,
    problem: context.problem,
    status: problem?.phase ?? "failed",
    converged: problem?.phase === "converged",
    rounds: Math.max(0, problem?.round ?? 0),
    objective,
    reference_objective: context.referenceObjective,
    gap: objective === null || context.referenceObjective === null ? null : relativeGap(objective, context.referenceObjective),
    max_violation: violation,
    primal_residual: problem?.residuals.primal ?? null,
    dual_residual: problem?.residuals.dual ?? null,
    state_hash: stateHash(replay),
    events: replay.events,
    rejected: replay.rejected.length,
    allocations,
  };
}

/** The plan's objective, its worst constraint violation and its allocations, for either kind of problem. */
function planFacts(problem: AnyProblemState | undefined, extraViolation: number): { objective: number | null; violation: number | null; allocations: Outcome["allocations"] } {
  if (problem === undefined) return { objective: null, violation: null, allocations: {} };
  if (isClusterState(problem)) {
    // The repaired plan, valued under the true throughputs, in the policy's units.
    const { cluster } = problem.open;
    const x = clusterAllocation(problem);
    return { objective: problem.round < 1 ? null : policyObjective(cluster, policyForm(cluster), x), violation: planViolation(cluster, x), allocations: x };
  }
  return { objective: problem.plan?.objective ?? null, violation: Math.max(globalViolation(problem.spec.constraints, problem.x), extraViolation), allocations: problem.x };
}
