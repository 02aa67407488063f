import { eventId, type CatoptEvent } from "../core/event.ts";
import type { Role } from "../core/schemas.ts";
import type { CompatibilityMode } from "../contracts/compatibility.ts";
import type { SchemaDescriptor } from "../core/wire-schema.ts";
import { GOVERNANCE_PROBLEM } from "../replay/reducer.ts";

/** Governance events, signed by the governance identity and published on catopt.<tenant>.gov.<kind>. */
export function admitEvent(tenant: string, did: string, role: Role, name: string): CatoptEvent<"admit/1"> {
  return {
    schema: "admit/1",
    id: eventId(tenant, GOVERNANCE_PROBLEM, "admit", 0, `${role}:${name}:${did}`),
    tenant,
    problem: GOVERNANCE_PROBLEM,
    round: 0,
    base: -1,
    body: { did, role, name },
  };
}

export function revokeEvent(tenant: string, did: string, reason: string): CatoptEvent<"revoke/1"> {
  return {
    schema: "revoke/1",
    id: eventId(tenant, GOVERNANCE_PROBLEM, "revoke", 0, did),
    tenant,
    problem: GOVERNANCE_PROBLEM,
    round: 0,
    base: -1,
    body: { did, reason },
  };
}

export function schemaEvent(tenant: string, schema: SchemaDescriptor, mode: CompatibilityMode): CatoptEvent<"schema/1"> {
  const fields = schema.fields.map((f) => ({ ...f }));
  return {
    schema: "schema/1",
    id: eventId(tenant, GOVERNANCE_PROBLEM, "schema", schema.version, schema.name),
    tenant,
    problem: GOVERNANCE_PROBLEM,
    round: 0,
    base: -1,
    body: { name: schema.name, version: schema.version, fields, mode },
  };
}

export function approveEvent(tenant: string, adapter: string, approved: boolean, at: number): CatoptEvent<"approve/1"> {
  // `at` (the caller's clock) keeps a later re-approval from being de-duplicated as the earlier one.
  return {
    schema: "approve/1",
    id: eventId(tenant, GOVERNANCE_PROBLEM, "approve", at, adapter),
    tenant,
    problem: GOVERNANCE_PROBLEM,
    round: 0,
    base: -1,
    body: { adapter, approved },
  };
}

export function policyEvent(tenant: string, name: string, value: string, at: number): CatoptEvent<"policy/1"> {
  return {
    schema: "policy/1",
    id: eventId(tenant, GOVERNANCE_PROBLEM, "policy", at, name),
    tenant,
    problem: GOVERNANCE_PROBLEM,
    round: 0,
    base: -1,
    body: { name, value },
  };
}

/** A problem's share of its tenant's privacy budget (privacy-grant/1), epsilon at the budget's delta. */
export function privacyGrantEvent(tenant: string, problem: string, epsilon: number): CatoptEvent<"privacy-grant/1"> {
  return {
    schema: "privacy-grant/1",
    id: eventId(tenant, GOVERNANCE_PROBLEM, "privacy-grant", 0, problem),
    tenant,
    problem: GOVERNANCE_PROBLEM,
    round: 0,
    base: -1,
    body: { problem, epsilon },
  };
}

/** A tenant's privacy budget (privacy-budget/1); `at` keeps a later change from being de-duplicated as an earlier one. */
export function privacyBudgetEvent(tenant: string, epsilon: number, delta: number, at: number): CatoptEvent<"privacy-budget/1"> {
  return {
    schema: "privacy-budget/1",
    id: eventId(tenant, GOVERNANCE_PROBLEM, "privacy-budget", at, "tenant"),
    tenant,
    problem: GOVERNANCE_PROBLEM,
    round: 0,
    base: -1,
    body: { epsilon, delta },
  };
}
