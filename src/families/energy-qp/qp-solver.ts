import { localObjective, type LocalProblem } from "./local-problem.ts";
import type { SharedPlanBody } from "./schemas.ts";
import { localStep } from "./local-step.ts";
import type { AgentView, LocalSolver } from "../../core/family.ts";

/** An owner's quadratic program as an agent's LocalSolver: the plan as the agent takes it carries its own committed x. */
export type QpValues = Readonly<Record<string, number>>;

/** A plan as an agent acts on it: the shared plan, and its own values as the fold holds them. */
export type QpPlan = SharedPlanBody & { readonly committed: QpValues };

export function qpSolver(local: LocalProblem): LocalSolver<QpPlan, QpValues> {
  return {
    commit: (plan) => plan.committed,
    step: (plan, committed) => localStep(local, committed, plan.signal, plan.rho),
  };
}

/** The delta to publish for the plan in context: only the entries that changed, and our objective. */
export function qpDelta(local: LocalProblem, context: AgentView): { round: number; base: number; entries: Record<string, number>; objective: number } {
  const committed = (context.committed ?? {}) as QpValues;
  const proposed = (context.proposed ?? {}) as QpValues;
  const entries = Object.fromEntries(Object.entries(proposed).filter(([resource, value]) => committed[resource] !== value));
  return { round: context.planRound + 1, base: context.planRound, entries, objective: localObjective(local, proposed) };
}
