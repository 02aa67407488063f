import { eventId, type CatoptEvent } from "../core/event.ts";
import type { ProblemSpec } from "../core/problem-spec.ts";
import type { AnyProblemState } from "../replay/reducer.ts";
import type { ClosedBy } from "../core/schemas.ts";
import { roundTakes } from "./coordinator-machine.ts";

/** The coordinator's own events, as pure functions of what it knows (the plan is the reducer's: expectedPlanEvent). */
export function openEvent(tenant: string, problem: string, spec: ProblemSpec): CatoptEvent<"open/1"> {
  return { schema: "open/1", id: eventId(tenant, problem, "open", 0), tenant, problem, round: 0, base: -1, body: spec };
}

/** What a coordinator opens: a quadratic program (open/1) or a cluster allocation (cluster-open/1). */
export type OpenEvent = CatoptEvent<"open/1"> | CatoptEvent<"cluster-open/1">;

/** Closes the next round: what it takes (every agent's freshest usable part) and why it closes now. */
export function roundEvent(state: AnyProblemState, closedBy: ClosedBy): CatoptEvent<"round/2"> {
  const round = state.round + 1;
  return { schema: "round/2", id: eventId(state.tenant, state.problem, "round", round), tenant: state.tenant, problem: state.problem, round, base: state.round, body: { took: roundTakes(state), closedBy } };
}
