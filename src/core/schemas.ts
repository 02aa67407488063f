import type { AdmmSettings } from "./problem-spec.ts";
import type { SubjectKind } from "./subjects.ts";
import * as v from "./validate.ts";

/**
 * The registry of message schemas: the Morphisms of DESIGN.md. Every event names its schema
 * as "<name>/<version>"; a body is parsed by its schema before anything reads it, so a reducer
 * only ever sees well-typed values. This file holds the engine's own schemas (rounds,
 * governance, quarantine); each problem family declares its own in its folder
 * (src/families/<name>/schemas.ts), adding them to BodyOf by declaration merging, and
 * src/families/registry.ts puts the tables together.
 */

/** The coordinator's decision to close a round: exactly which events it took. */
export type RoundBody = { readonly took: readonly string[] };

/**
 * Why a round closed: every agent's answer to the last plan was in ("all"), enough of them
 * ("quorum"), or its deadline passed ("deadline"). Timing decides it, so it is recorded.
 */
export type ClosedBy = "all" | "quorum" | "deadline";
export type RoundBodyV2 = RoundBody & { readonly closedBy: ClosedBy };

export type PlanStatus = "running" | "converged" | "max-rounds";

/** The coordinator's plans say whether the run goes on. */
export const PLAN_STATUSES = ["running", "converged", "max-rounds"] as const;

/** Governance: the trust root admits a signer to a role in a tenant (an agent by name, or a coordinator). */
export type Role = "agent" | "coordinator";
export type AdmitBody = { readonly did: string; readonly role: Role; readonly name: string };
export type RevokeBody = { readonly did: string; readonly reason: string };

/** Governance: register a schema version (checked under `mode`), approve an adapter, set a policy. */
export type SchemaBody = { readonly name: string; readonly version: number; readonly fields: readonly Readonly<Record<string, unknown>>[]; readonly mode: string };
export type ApproveBody = { readonly adapter: string; readonly approved: boolean };
export type PolicyBody = { readonly name: string; readonly value: string };

/** A refused message, published by the governance consumer with the reason. */
export type QuarantineBody = { readonly seq: number; readonly subject: string; readonly reason: string; readonly data: Uint8Array };

/**
 * An agent leaves a running problem for good (it may join again later, as a newcomer): its
 * values stop counting, and rounds stop waiting for it. Every family's agents leave alike, on
 * their delta subject; the family says what leaving does to its problem (ProblemFamily.leave).
 */
export type LeaveBody = { readonly reason: string };

/** Each schema's body type, by schema id. An interface, so that a family's schemas.ts can add its own. */
export interface BodyOf {
  "round/1": RoundBody;
  "round/2": RoundBodyV2;
  "leave/1": LeaveBody;
  "admit/1": AdmitBody;
  "revoke/1": RevokeBody;
  "quarantine/1": QuarantineBody;
  "schema/1": SchemaBody;
  "approve/1": ApproveBody;
  "policy/1": PolicyBody;
}

export type SchemaId = keyof BodyOf;

/** Parses a body from the wire, naming the path of the first bad field (a ValidationError). */
export type Parser<B> = (body: unknown, path: string) => B;

/** A schema's subject kind and parser. */
export type SchemaEntry<S extends SchemaId> = { readonly subject: SubjectKind; readonly parse: Parser<BodyOf[S]> };

/** Schemas by id: the engine's (below), a family's, or all of them (the registry's). */
export type SchemaTable = { readonly [S in SchemaId]?: SchemaEntry<S> };

/** The ADMM settings of an open event, as every family's open carries them. */
export function parseAdmmSettings(value: unknown, path: string): AdmmSettings {
  const admm = v.record(value, path);
  return checkAdmmSettings({
    rho: v.positive(admm.rho, `${path}.rho`),
    epsAbs: v.positive(admm.epsAbs, `${path}.epsAbs`),
    epsRel: v.positive(admm.epsRel, `${path}.epsRel`),
    mu: v.positive(admm.mu, `${path}.mu`),
    tau: v.positive(admm.tau, `${path}.tau`),
    balanceRounds: v.integer(admm.balanceRounds, `${path}.balanceRounds`),
    maxRounds: v.integer(admm.maxRounds, `${path}.maxRounds`, 1),
    // Absent in streams written before asynchronous rounds: those rounds were synchronous.
    maxStaleness: admm.maxStaleness === undefined ? 0 : v.integer(admm.maxStaleness, `${path}.maxStaleness`),
    // Absent in QP problems and in streams written before censored deltas; kept absent, so that
    // those streams' folds (and state hashes) stay what they were.
    ...(admm.censor === undefined ? {} : { censor: v.nonNegative(admm.censor, `${path}.censor`) }),
    // Absent in synchronous problems and in streams written before it (problem-spec.ts).
    ...(admm.stop === undefined ? {} : { stop: v.oneOf(admm.stop, ["steady"] as const, `${path}.stop`) }),
  }, path);
}

/**
 * The rules ADMM settings keep wherever they come from (a scenario or an open event), so the two
 * cannot drift: residual balancing must scale rho (tau > 1) and only on a real imbalance (mu > 1).
 */
export function checkAdmmSettings(admm: AdmmSettings, path: string): AdmmSettings {
  if (admm.tau <= 1) throw new v.ValidationError(`${path}.tau`, "must be > 1");
  if (admm.mu <= 1) throw new v.ValidationError(`${path}.mu`, "must be > 1");
  return admm;
}

const CLOSED_BY = ["all", "quorum", "deadline"] as const;

/** The engine's own schemas and the subjects they travel on. */
export const ENGINE_SCHEMAS: SchemaTable = {
  "leave/1": { subject: "delta", parse: (body, path) => ({ reason: v.string(v.record(body, path).reason, `${path}.reason`) }) },
  "round/1": { subject: "round", parse: (body, path) => ({ took: v.stringList(v.record(body, path).took, `${path}.took`) }) },
  "round/2": { subject: "round", parse: (body, path) => {
    const b = v.record(body, path);
    return { took: v.stringList(b.took, `${path}.took`), closedBy: b.closedBy === undefined ? "all" : v.oneOf(b.closedBy, CLOSED_BY, `${path}.closedBy`) };
  } },
  "admit/1": { subject: "gov", parse: (body, path) => {
    const b = v.record(body, path);
    return { did: v.string(b.did, `${path}.did`), role: v.oneOf(b.role, ["agent", "coordinator"] as const, `${path}.role`), name: v.string(b.name, `${path}.name`) };
  } },
  "revoke/1": { subject: "gov", parse: (body, path) => {
    const b = v.record(body, path);
    return { did: v.string(b.did, `${path}.did`), reason: v.string(b.reason, `${path}.reason`) };
  } },
  "quarantine/1": { subject: "quarantine", parse: (body, path) => {
    const b = v.record(body, path);
    return { seq: v.integer(b.seq, `${path}.seq`, 1), subject: v.string(b.subject, `${path}.subject`), reason: v.string(b.reason, `${path}.reason`), data: v.bytes(b.data, `${path}.data`) };
  } },
  "schema/1": { subject: "gov", parse: (body, path) => {
    const b = v.record(body, path);
    return {
      name: v.string(b.name, `${path}.name`),
      version: v.integer(b.version, `${path}.version`, 1),
      fields: v.array(b.fields, `${path}.fields`).map((f, i) => v.record(f, `${path}.fields[${i}]`)),
      mode: v.string(b.mode, `${path}.mode`),
    };
  } },
  "approve/1": { subject: "gov", parse: (body, path) => {
    const b = v.record(body, path);
    if (typeof b.approved !== "boolean") throw new v.ValidationError(`${path}.approved`, "expected true or false");
    return { adapter: v.string(b.adapter, `${path}.adapter`), approved: b.approved };
  } },
  "policy/1": { subject: "gov", parse: (body, path) => {
    const b = v.record(body, path);
    return { name: v.string(b.name, `${path}.name`), value: v.string(b.value, `${path}.value`) };
  } },
};
