import { eventId, type AnyEvent, type CatoptEvent } from "../core/event.ts";
import type { AnyProblemState } from "../replay/reducer.ts";
import type { ClosedBy } from "../core/schemas.ts";
import { roundTakes } from "./coordinator-machine.ts";

/** The coordinator's own events, as pure functions of what it knows (its plans are its family's: planEvents). */

/** What a coordinator opens: one of its family's open events. */
export type OpenEvent = AnyEvent;

/** Closes the next round: what it takes (every agent's freshest usable part) and why it closes now. */
export function roundEvent(state: AnyProblemState, closedBy: ClosedBy): CatoptEvent<"round/2"> {
  const round = state.round + 1;
  return {
    schema: "round/2",
    id: eventId(state.tenant, state.problem, "round", round),
    tenant: state.tenant,
    problem: state.problem,
    round,
    base: state.round,
    body: { took: roundTakes(state), closedBy },
  };
}
