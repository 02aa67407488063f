import { eventId, type CatoptEvent } from "../core/event.ts";

/** Leaving after plan `planRound` (-1: before any plan). */
export function leaveEvent(tenant: string, problem: string, agent: string, planRound: number, reason: string): CatoptEvent<"leave/1"> {
  const round = Math.max(0, planRound);
  return { schema: "leave/1", id: eventId(tenant, problem, "leave", round, agent), tenant, problem, round, base: round - 1, body: { reason } };
}
