import { eventId, type CatoptEvent } from "../core/event.ts";
import type { Role } from "../core/schemas.ts";
import { GOVERNANCE_PROBLEM } from "../replay/reducer.ts";

/** Governance events, signed by the governance identity and published on catopt.<tenant>.gov.<kind>. */
export function admitEvent(tenant: string, did: string, role: Role, name: string): CatoptEvent<"admit/1"> {
  return { schema: "admit/1", id: eventId(tenant, GOVERNANCE_PROBLEM, "admit", 0, `${role}:${name}:${did}`), tenant, problem: GOVERNANCE_PROBLEM, round: 0, base: -1, body: { did, role, name } };
}

export function revokeEvent(tenant: string, did: string, reason: string): CatoptEvent<"revoke/1"> {
  return { schema: "revoke/1", id: eventId(tenant, GOVERNANCE_PROBLEM, "revoke", 0, did), tenant, problem: GOVERNANCE_PROBLEM, round: 0, base: -1, body: { did, reason } };
}
