import { eventId, type CatoptEvent } from "../core/event.ts";
import type { LocalProblem } from "../core/local-problem.ts";
import type { AgentContext } from "./agent-machine.ts";
import { qpDelta } from "./qp-solver.ts";

/** The agent's own events, as pure functions of its problem and machine context. */
export function joinEvent(tenant: string, problem: string, local: LocalProblem, round = 0): CatoptEvent<"join/1"> {
  return {
    schema: "join/1",
    id: eventId(tenant, problem, "join", round, local.owner),
    tenant,
    problem,
    round,
    base: round - 1,
    body: { resources: local.variables.map((v) => v.resource) },
  };
}

export function deltaEvent(tenant: string, problem: string, local: LocalProblem, context: AgentContext): CatoptEvent<"delta/1"> {
  const { round, base, entries, objective } = qpDelta(local, context);
  return { schema: "delta/1", id: eventId(tenant, problem, "delta", round, context.agent), tenant, problem, round, base, body: { entries, objective } };
}

/** Leaving after plan `planRound` (-1: before any plan). */
export function leaveEvent(tenant: string, problem: string, agent: string, planRound: number, reason: string): CatoptEvent<"leave/1"> {
  const round = Math.max(0, planRound);
  return { schema: "leave/1", id: eventId(tenant, problem, "leave", round, agent), tenant, problem, round, base: round - 1, body: { reason } };
}
