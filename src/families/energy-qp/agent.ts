import { eventId, type CatoptEvent } from "../../core/event.ts";
import type { AgentView, FamilyAgent } from "../../core/family.ts";
import { MAX_MAGNITUDE } from "../../core/validate.ts";
import type { LocalProblem } from "./local-problem.ts";
import { qpDelta, qpSolver } from "./qp-solver.ts";

/** An owner's agent of an energy QP: it joins with its resources and box, and answers each plan/1 with a delta/1 of what changed. */
export function qpAgent(tenant: string, problem: string, local: LocalProblem): FamilyAgent {
  return {
    name: local.owner,
    solver: qpSolver(local),
    joinEvent: (round) => joinEvent(tenant, problem, local, round),
    deltaEvent: (view) => deltaEvent(tenant, problem, local, view),
    opened: (event) => (event.schema === "open/1" ? { agents: event.body.agents } : undefined),
    plan: (event) => (event.schema === "plan/1" ? event.body : undefined),
  };
}

/** The agent's own events, as pure functions of its problem and what its machine decided. */
export function joinEvent(tenant: string, problem: string, local: LocalProblem, round = 0): CatoptEvent<"join/2"> {
  return {
    schema: "join/2",
    id: eventId(tenant, problem, "join", round, local.owner),
    tenant,
    problem,
    round,
    base: round - 1,
    body: {
      resources: local.variables.map((v) => v.resource),
      lower: Object.fromEntries(local.variables.map((v) => [v.resource, -coarseBound(-v.lower)])),
      upper: Object.fromEntries(local.variables.map((v) => [v.resource, coarseBound(v.upper)])),
    },
  };
}

/**
 * The least power of two at or above `bound` (0 for a bound at or below 0; at most the bound on
 * every number, MAX_MAGNITUDE, which holds every bound a local problem may have). The join declares
 * the agent's box rounded outward like this: the fold can then refuse a value the agent could
 * never hold, while readers of the stream learn only the bounds' signs and orders of magnitude,
 * not the owner's limits. The box always holds 0, where a late joiner's values start.
 */
export function coarseBound(bound: number): number {
  if (bound <= 0) return 0;
  // log2 rounds: a bound a few ulps above a power of two can come out at that power, inside it.
  const power = 2 ** Math.ceil(Math.log2(bound));
  return Math.min(power < bound ? power * 2 : power, MAX_MAGNITUDE);
}

export function deltaEvent(tenant: string, problem: string, local: LocalProblem, context: AgentView): CatoptEvent<"delta/1"> {
  const { round, base, entries, objective } = qpDelta(local, context);
  return { schema: "delta/1", id: eventId(tenant, problem, "delta", round, local.owner), tenant, problem, round, base, body: { entries, objective } };
}
