import { eventId, type CatoptEvent } from "../../core/event.ts";
import type { AgentView, FamilyAgent } from "../../core/family.ts";
import { MAX_MAGNITUDE } from "../../core/validate.ts";
import type { LocalProblem } from "./local-problem.ts";
import { qpDelta, qpSolver, type QpPlan } from "./qp-solver.ts";

/**
 * An owner's agent of an energy QP: it joins with its resources and box, and answers each plan
 * with a delta/1 of what changed. Plans carry no agent's values (plan/2): its own, as the fold
 * holds them, are what the round events say the rounds took of its deltas (all of them in
 * synchronous rounds). A restarted agent rebuilds them from the stream: its own deltas (resume),
 * then the round events, read in order.
 */
export function qpAgent(tenant: string, problem: string, local: LocalProblem): FamilyAgent {
  const sent = new Map<number, Readonly<Record<string, number>>>();
  let committed: Readonly<Record<string, number>> = {};
  let lastRound = -1; // the last round event taken: each counts once, in order, as in the fold
  const ourDelta = `${tenant}/${problem}/delta/`;
  const roundOfOurs = (id: string): number | undefined => {
    if (!id.startsWith(ourDelta) || !id.endsWith(`/${local.owner}`)) return undefined;
    const round = id.slice(ourDelta.length, id.length - local.owner.length - 1);
    return /^\d+$/.test(round) ? Number(round) : undefined;
  };
  return {
    name: local.owner,
    solver: qpSolver(local),
    joinEvent: (round) => joinEvent(tenant, problem, local, round),
    deltaEvent: (view) => {
      const event = deltaEvent(tenant, problem, local, view);
      if (!sent.has(event.round)) sent.set(event.round, event.body.entries);
      return event;
    },
    resume: (own) => {
      for (const event of own) if (event.schema === "delta/1" && !sent.has(event.round)) sent.set(event.round, event.body.entries);
    },
    opened: (event) => (event.schema === "open/1" ? { agents: event.body.agents } : undefined),
    plan: (event): QpPlan | undefined => {
      if (event.schema === "round/2") {
        if (event.round !== lastRound + 1) return undefined; // one the fold refuses as out of order
        lastRound = event.round;
        for (const id of event.body.took) {
          const round = roundOfOurs(id);
          const entries = round === undefined ? undefined : sent.get(round);
          if (entries !== undefined) committed = { ...committed, ...entries };
        }
        return undefined;
      }
      // An older coordinator's plan/1 says every agent's values: ours is among them.
      if (event.schema === "plan/1") return { ...event.body, committed: event.body.allocations[local.owner] ?? {} };
      if (event.schema === "plan/2") return { ...event.body, committed };
      return undefined;
    },
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
