import type { PlanFacts } from "../core/family.ts";
import { familyOf } from "../families/registry.ts";
import { relativeGap } from "../solver/gap.ts";
import type { AnyProblemState, ReplayState } from "./reducer.ts";
import { stateHash } from "./state-hash.ts";

/**
 * The outcome of one problem as `run`, `demo` and `replay` report it (the `--json` object).
 * Field names are snake_case: this is what scripts read.
 */
export type Outcome = {
  readonly scenario: string | null;
  readonly tenant: string;
  readonly problem: string;
  /** "inaccurate": the residuals met their tolerances, but the plan misses the reference or a constraint (see `inaccuracy`). */
  readonly status: AnyProblemState["phase"] | "failed" | "inaccurate";
  readonly converged: boolean;
  /** Why a plan whose residuals converged is not reported as converged, or null. */
  readonly inaccuracy: string | null;
  readonly rounds: number;
  readonly objective: number | null;
  readonly reference_objective: number | null;
  readonly gap: number | null;
  /** The gap to the optimum the plan is proven within, from the stream alone (no reference needed), or null where the family proves none. */
  readonly certified_gap: number | null;
  readonly max_violation: number | null;
  readonly primal_residual: number | null;
  readonly dual_residual: number | null;
  readonly state_hash: string;
  readonly events: number;
  readonly rejected: number;
  readonly allocations: PlanFacts["allocations"];
};

export function summarize(
  replay: ReplayState,
  problem: AnyProblemState | undefined,
  context: {
    scenario: string | null;
    tenant: string;
    problem: string;
    referenceObjective: number | null;
    extraViolation?: number;
    /** The objective of the agents' own values, where the run holds them and the fold cannot say it (a problem with noise). */
    privateObjective?: number;
  },
): Outcome {
  const facts = problem === undefined ? NO_PLAN : familyOf(problem).facts(problem, context.extraViolation ?? 0);
  const { violation, allocations, violationTolerance } = facts;
  const objective = facts.objective ?? (problem === undefined ? null : (context.privateObjective ?? null));
  const gap = objective === null || context.referenceObjective === null ? null : relativeGap(objective, context.referenceObjective);
  const inaccuracy = problem?.phase === "converged" ? inaccuracyOf(gap, violation, violationTolerance) : null;
  return {
    scenario: context.scenario,
    tenant: context.tenant,
    problem: context.problem,
    status: inaccuracy !== null ? "inaccurate" : (problem?.phase ?? "failed"),
    converged: problem?.phase === "converged" && inaccuracy === null,
    inaccuracy,
    rounds: Math.max(0, problem?.round ?? 0),
    objective,
    reference_objective: context.referenceObjective,
    gap,
    certified_gap: facts.certifiedGap ?? null,
    max_violation: violation,
    primal_residual: problem?.residuals.primal ?? null,
    dual_residual: problem?.residuals.dual ?? null,
    state_hash: stateHash(replay),
    events: replay.events,
    rejected: replay.rejected.length,
    allocations,
  };
}

/** A converged plan's relative gap to the reference may be at most this. */
export const GAP_TOLERANCE = 1e-3;

/** Residuals are ADMM's own test; a plan is only reported converged when it also holds against the reference and the constraints. */
function inaccuracyOf(gap: number | null, violation: number | null, tolerance: number): string | null {
  const problems = [
    ...(gap !== null && !(gap <= GAP_TOLERANCE) ? [`relative gap ${gap.toExponential(2)} to HiGHS exceeds ${GAP_TOLERANCE}`] : []),
    ...(violation !== null && !(violation <= tolerance)
      ? [`a constraint is violated by ${violation.toExponential(2)} (tolerance ${tolerance.toExponential(1)})`]
      : []),
  ];
  return problems.length === 0 ? null : `the residuals met their tolerances, but ${problems.join(", and ")}`;
}

const NO_PLAN: PlanFacts = { objective: null, violation: null, allocations: {}, violationTolerance: 0 };
