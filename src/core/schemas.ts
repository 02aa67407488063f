import type { AdmmSettings, SecureSettings } from "./problem-spec.ts";
import * as v from "./validate.ts";
import { declareBody, defaulted, field, optional, type BodyOfDeclared, type Declared } from "./wire-schema.ts";

/**
 * The registry of message schemas: the Morphisms of DESIGN.md. Every event names its schema
 * as "<name>/<version>"; a body is parsed by its schema before anything reads it, so a reducer
 * only ever sees well-typed values, and an old version is upcast to today's at that same read
 * boundary, so no fold reads two versions. Each schema is declared once (core/wire-schema.ts).
 * This file holds the engine's own schemas (rounds, leaves, governance, quarantine); each
 * problem family declares its open, join, delta and plan bodies in its folder
 * (src/families/<name>/schemas.ts), adding them to BodyOf by declaration merging, and
 * src/families/registry.ts puts the tables together.
 */

/**
 * Why a round closed: every agent's answer to the last plan was in ("all"), enough of them
 * ("quorum"), or its deadline passed ("deadline"). Timing decides it, so it is recorded.
 */
export type ClosedBy = "all" | "quorum" | "deadline";
const CLOSED_BY = ["all", "quorum", "deadline"] as const;

/** "budget-exhausted": the next round would spend more of the tenant's privacy budget than the problem holds. */
export type PlanStatus = "running" | "converged" | "max-rounds" | "budget-exhausted";

/** The coordinator's plans say whether the run goes on. */
export const PLAN_STATUSES = ["running", "converged", "max-rounds", "budget-exhausted"] as const;

/**
 * Governance: the trust root admits a signer to a role in a tenant: an agent (by name), a
 * coordinator, a viewer (reads the tenant's plans) or an auditor (reads the streams). The role
 * decides what the fold accepts from it and what the NATS server lets it publish and read.
 */
export type Role = "agent" | "coordinator" | "viewer" | "auditor";
export const ROLES: readonly Role[] = ["agent", "coordinator", "viewer", "auditor"];

const ids = (x: unknown, at: string) => v.stringList(x, at);
const text = (x: unknown, at: string) => v.string(x, at);

/** The coordinator's decision to close a round: exactly which events it took (round/1: every agent's, as all rounds then closed). */
const ROUND_1 = declareBody("round", { took: field("array:string", ids, ["t/p/delta/1/a"]) });
const ROUND_2 = declareBody("round", {
  took: field("array:string", ids, ["t/p/delta/1/a"]),
  closedBy: defaulted("string", (x, at) => v.oneOf(x, CLOSED_BY, at), "all", "quorum"),
});

/**
 * An agent leaves a running problem for good (it may join again later, as a newcomer): its
 * values stop counting, and rounds stop waiting for it. Every family's agents leave alike, on
 * their delta subject; the family says what leaving does to its problem (ProblemFamily.leave).
 */
const LEAVE_1 = declareBody("leave", { reason: field("string", text, "drained") });

const ADMIT_1 = declareBody("governance", {
  did: field("string", text, "did:key:z6Mk"),
  role: field("string", (x, at) => v.oneOf(x, ROLES, at), "agent"),
  name: field("string", text, "a"),
});
const REVOKE_1 = declareBody("governance", { did: field("string", text, "did:key:z6Mk"), reason: field("string", text, "left the fleet") });

/** A refused message, published by the governance consumer with the reason. */
const QUARANTINE_1 = declareBody("quarantine", {
  seq: field("integer", (x, at) => v.integer(x, at, 1), 1),
  subject: field("string", text, "catopt.t.delta.p.a"),
  reason: field("string", text, "bad signature"),
  data: field("bytes", v.bytes, new Uint8Array([1])),
});

/** Governance: register a schema version (checked under `mode`), approve an adapter, set a policy. */
const SCHEMA_1 = declareBody("governance", {
  name: field("string", text, "telemetry"),
  version: field("integer", (x, at) => v.integer(x, at, 1), 2),
  fields: field("array:object", (x, at) => v.array(x, at).map((f, i) => v.record(f, `${at}[${i}]`)), [{ name: "source", type: "string", required: true }]),
  mode: field("string", text, "backward"),
});
// approved before adapter: the order its parser checked them in, so a refusal names the same field (refusals are in state hashes).
const APPROVE_1 = declareBody("governance", { approved: field("boolean", v.boolean, true), adapter: field("string", text, "energy-asset") });
const POLICY_1 = declareBody("governance", { name: field("string", text, "rounds"), value: field("string", text, "quorum") });
/**
 * The PrivacyBudget contract: a tenant's whole (epsilon, delta)-DP budget, over all its problems
 * with noise. A later one replaces it; what governance granted of it stays spent.
 */
const PRIVACY_BUDGET_1 = declareBody("governance", {
  epsilon: field("number", (x, at) => bounded(v.positive(x, at), 1000, at), 1),
  delta: field("number", (x, at) => bounded(v.positive(x, at), 0.5, at), 1e-6),
});
/**
 * Governance grants a problem part of its tenant's budget (epsilon at the budget's delta), before
 * the problem opens; the fold grants at most what the tenant has left. Both travel on the tenant's
 * governance subjects, which every fold of every problem of the tenant reads: so no two problems
 * spend the same budget, though none reads another's rounds.
 */
const PRIVACY_GRANT_1 = declareBody("governance", {
  problem: field("string", text, "sol-energy"),
  epsilon: field("number", (x, at) => bounded(v.positive(x, at), 1000, at), 1),
});
function bounded(x: number, max: number, at: string): number {
  if (x > max) throw new v.ValidationError(at, `${x} is more than ${max}`);
  return x;
}

export type RoundBody = BodyOfDeclared<typeof ROUND_2>;
/** Bytes of exactly `length`, or of at most `max` when `length` is absent: bounded before anything reads them. */
const sizedBytes =
  (length: number | undefined, max = MAX_SECURE_BYTES) =>
  (x: unknown, at: string): Uint8Array => {
    const b = v.bytes(x, at);
    if (length !== undefined && b.length !== length) throw new v.ValidationError(at, `expected ${length} bytes, got ${b.length}`);
    if (b.length > max) throw new v.ValidationError(at, `${b.length} bytes, more than ${max}`);
    return b;
  };

/** The most bytes of masked words or of one sealed share a message may carry (16,384 words). */
export const MAX_SECURE_BYTES = 131_072;

/**
 * Secure aggregation (src/secure): an agent's masked contribution to a round, in place of its
 * delta. `words`: its contribution in the ring mod 2^64 plus its masks, 8 bytes each,
 * big-endian; `commitment`: sha256 of its self-mask seed; `shares`: a Shamir share of that seed
 * for each peer of the round, sealed for it (only the peer can open it). The family says what
 * the words hold; nobody but the agent knows what they add up to alone.
 */
const MASKED_1 = declareBody("delta", {
  /** The attempt of the round it masks for (attempt/1 starts another): its masks cancel only with that attempt's roster's. */
  attempt: defaulted("integer", attemptNumber, 1, 2),
  words: field("bytes", sizedBytes(undefined), new Uint8Array(8)),
  commitment: field("bytes", sizedBytes(32), new Uint8Array(32)),
  /** A 66-byte share of the seed, sealed (82 bytes with its tag) for each peer. */
  shares: field("map:bytes", (x, at) => bytesMap(x, at, 82), { a: new Uint8Array(82) }),
  /** A digest of each share (src/secure/aggregation.ts shareDigest), for the fold to check the share the peer sends back. */
  shareDigests: field("map:bytes", (x, at) => bytesMap(x, at, 32), { a: new Uint8Array(32) }),
});

/**
 * An agent reveals its self-mask seed for a round whose taken set it checked (src/secure:
 * revealRefusal): the set, as it read it, goes with it, so the fold checks it was this round's,
 * and a restarted agent knows which set it revealed for.
 */
const REVEAL_1 = declareBody("delta", {
  seed: field("bytes", sizedBytes(32), new Uint8Array(32)),
  took: field("array:string", (x, at) => v.stringList(x, at), ["a", "b", "c"]),
  attempt: defaulted("integer", attemptNumber, 1, 2),
});

/**
 * The coordinator tries a secure round again, before anyone revealed anything, with a smaller
 * roster: agents of the last attempt's roster left, or did not answer in time, and the masks of
 * those that did cannot cancel without theirs. Every agent of the new roster masks afresh.
 */
const ATTEMPT_1 = declareBody("attempt", {
  attempt: field("integer", attemptNumber, 2),
  roster: field("array:string", (x, at) => v.stringList(x, at), ["a", "b", "c"]),
});

function attemptNumber(x: unknown, at: string): number {
  const n = v.integer(x, at, 1);
  if (n > 1000) throw new v.ValidationError(at, `${n} attempts of one round is more than 1000`);
  return n;
}

/**
 * The coordinator asks for the seeds of taken agents that did not reveal theirs: it relays, for
 * each, its commitment and the share of its seed it sealed for each peer (from its masked
 * contribution), so each peer can open its own and send it (share/1). A majority of a seed's
 * shares rebuild it, checked against its commitment, and the round closes with the set it took.
 */
const RECOVER_1 = declareBody("attempt", {
  attempt: field("integer", attemptNumber, 1),
  missing: field("array:string", (x, at) => v.stringList(x, at), ["c"]),
  commitments: field("map:bytes", (x, at) => bytesMap(x, at, 32), { c: new Uint8Array(32) }),
  sealed: field(
    "map:object",
    (x, at) => {
      const byMissing = v.record(x, at);
      return Object.fromEntries(Object.keys(byMissing).map((agent) => [agent, bytesMap(byMissing[agent], `${at}.${agent}`, undefined)])) as Readonly<
        Record<string, Readonly<Record<string, Uint8Array>>>
      >;
    },
    { c: { a: new Uint8Array(82) } },
  ),
});

/** An agent's shares of the seeds the coordinator asked for (recover/1), opened from what each missing peer sealed for it. */
const SHARE_1 = declareBody("delta", {
  attempt: field("integer", attemptNumber, 1),
  shares: field("map:bytes", (x, at) => bytesMap(x, at, 66), { c: new Uint8Array(66) }),
});

/** A map of names (subject tokens' length at most) to bytes, each of `length` bytes (or at most 1,024 when absent). */
function bytesMap(x: unknown, at: string, length: number | undefined): Readonly<Record<string, Uint8Array>> {
  const byName = v.record(x, at);
  return Object.fromEntries(Object.keys(byName).map((name) => [v.string(name, at, 64), sizedBytes(length, 1024)(byName[name], `${at}.${name}`)]));
}

export type RecoverBody = BodyOfDeclared<typeof RECOVER_1>;
export type ShareBody = BodyOfDeclared<typeof SHARE_1>;
export type AttemptBody = BodyOfDeclared<typeof ATTEMPT_1>;
export type MaskedBody = BodyOfDeclared<typeof MASKED_1>;
export type RevealBody = BodyOfDeclared<typeof REVEAL_1>;
export type LeaveBody = BodyOfDeclared<typeof LEAVE_1>;
export type AdmitBody = BodyOfDeclared<typeof ADMIT_1>;
export type RevokeBody = BodyOfDeclared<typeof REVOKE_1>;
export type QuarantineBody = BodyOfDeclared<typeof QUARANTINE_1>;
export type SchemaBody = BodyOfDeclared<typeof SCHEMA_1>;
export type ApproveBody = BodyOfDeclared<typeof APPROVE_1>;
export type PolicyBody = BodyOfDeclared<typeof POLICY_1>;
export type PrivacyBudgetBody = BodyOfDeclared<typeof PRIVACY_BUDGET_1>;
export type PrivacyGrantBody = BodyOfDeclared<typeof PRIVACY_GRANT_1>;

/** Each schema's body type, by schema id. An interface, so that a family's schemas.ts can add its own. */
export interface BodyOf {
  "round/1": BodyOfDeclared<typeof ROUND_1>;
  "round/2": RoundBody;
  "leave/1": LeaveBody;
  "masked/1": MaskedBody;
  "reveal/1": RevealBody;
  "attempt/1": AttemptBody;
  "recover/1": RecoverBody;
  "share/1": ShareBody;
  "admit/1": AdmitBody;
  "revoke/1": RevokeBody;
  "quarantine/1": QuarantineBody;
  "schema/1": SchemaBody;
  "approve/1": ApproveBody;
  "policy/1": PolicyBody;
  "privacy-budget/1": PrivacyBudgetBody;
  "privacy-grant/1": PrivacyGrantBody;
}

export type SchemaId = keyof BodyOf;

/** Parses a body from the wire, naming the path of the first bad field (a ValidationError). */
export type Parser<B> = (body: unknown, path: string) => B;

/** How an old version reads as a newer one: the body it becomes, built from the old one's parsed fields. */
export type Upcast<S extends SchemaId> = { [T in SchemaId]: { readonly to: T; readonly body: (old: BodyOf[S]) => BodyOf[T] } }[SchemaId];

/** A schema's declaration (its kind, fields, parser and sample) and, for an old version, its upcast. */
export type SchemaEntry<S extends SchemaId> = Declared<BodyOf[S]> & { readonly upcast?: Upcast<S> };

/** Schemas by id: the engine's (below), a family's, or all of them (the registry's). */
export type SchemaTable = { readonly [S in SchemaId]?: SchemaEntry<S> };

/**
 * Each numeric ADMM setting's parser, declared once: an open event's settings (parseAdmmSettings)
 * and a scenario's (core/scenario-fields.ts parseAdmm) are read through this same table, so
 * the two cannot drift.
 */
export const ADMM_SETTING_PARSERS = {
  rho: v.positive,
  epsAbs: v.positive,
  epsRel: v.positive,
  mu: v.positive,
  tau: v.positive,
  balanceRounds: (x: unknown, at: string) => v.integer(x, at),
  maxRounds: (x: unknown, at: string) => v.integer(x, at, 1),
  maxStaleness: (x: unknown, at: string) => v.integer(x, at),
  censor: v.nonNegative,
  rhoEvery: (x: unknown, at: string) => v.integer(x, at, 1),
  gap: (x: unknown, at: string) => {
    const gap = v.positive(x, at);
    if (gap > 1) throw new v.ValidationError(at, `a relative gap is at most 1, not ${gap}`);
    return gap;
  },
} as const satisfies Record<Exclude<keyof AdmmSettings, "stop">, (x: unknown, at: string) => number>;

/** The ADMM settings of an open event, as every family's open carries them. */
export function parseAdmmSettings(value: unknown, path: string): AdmmSettings {
  const admm = v.record(value, path);
  const read = (key: Exclude<keyof AdmmSettings, "stop">) => ADMM_SETTING_PARSERS[key](admm[key], `${path}.${key}`);
  return checkAdmmSettings(
    {
      rho: read("rho"),
      epsAbs: read("epsAbs"),
      epsRel: read("epsRel"),
      mu: read("mu"),
      tau: read("tau"),
      balanceRounds: read("balanceRounds"),
      maxRounds: read("maxRounds"),
      // Absent in streams written before asynchronous rounds: those rounds were synchronous.
      maxStaleness: admm.maxStaleness === undefined ? 0 : read("maxStaleness"),
      // Absent in QP problems and in streams written before censored deltas; kept absent, so that
      // those streams' folds (and state hashes) stay what they were.
      ...(admm.censor === undefined ? {} : { censor: read("censor") }),
      // Absent in synchronous problems and in streams written before it (problem-spec.ts).
      ...(admm.stop === undefined ? {} : { stop: v.oneOf(admm.stop, ["steady"] as const, `${path}.stop`) }),
      // Absent in QP problems and in streams written before certified stopping: the residual rule alone.
      ...(admm.gap === undefined ? {} : { gap: read("gap") }),
      // Absent in QP problems and in streams written before it: rho fixed after balancing.
      ...(admm.rhoEvery === undefined ? {} : { rhoEvery: read("rhoEvery") }),
    },
    path,
  );
}

/** An X25519 public key (secure rounds: src/secure/masks.ts): 32 bytes. */
export function parseAgreementKey(x: unknown, at: string): Uint8Array {
  const key = v.bytes(x, at);
  if (key.length !== 32) throw new v.ValidationError(at, `an X25519 key has 32 bytes, not ${key.length}`);
  return key;
}

/** The most bytes a secure problem's signed join may have: every plan relays each one. */
export const MAX_SIGNED_JOIN_BYTES = 4096;

/** What every family's plan carries in a secure problem: the next round's roster and its agents' signed joins. */
export const SECURE_PLAN_FIELDS = {
  /**
   * A secure problem's next round: its agents and their agreement keys (public, from their
   * signed joins), so that each agent masks for exactly these peers. Absent in plain problems.
   */
  roster: optional(
    "map:bytes",
    (x, at) => {
      const byAgent = v.record(x, at);
      return Object.fromEntries(Object.keys(byAgent).map((agent) => [agent, parseAgreementKey(byAgent[agent], `${at}.${agent}`)])) as Readonly<
        Record<string, Uint8Array>
      >;
    },
    { a: new Uint8Array(32) },
  ),
  /** With the roster: each agent's signed join, as it sent it, so every agent checks each key against its peer's own signature. */
  joins: optional(
    "map:bytes",
    (x, at) => {
      const byAgent = v.record(x, at);
      return Object.fromEntries(
        Object.keys(byAgent).map((agent) => {
          const bytes = v.bytes(byAgent[agent], `${at}.${agent}`);
          if (bytes.length > MAX_SIGNED_JOIN_BYTES)
            throw new v.ValidationError(`${at}.${agent}`, `a signed join of ${bytes.length} bytes, more than ${MAX_SIGNED_JOIN_BYTES}`);
          return [agent, bytes];
        }),
      ) as Readonly<Record<string, Uint8Array>>;
    },
    { a: new Uint8Array(100) },
  ),
};

/** The secure-aggregation settings of an open event (problem-spec.ts), bounded. */
export function parseSecureSettings(value: unknown, path: string): SecureSettings {
  const secure = v.record(value, path);
  const fractionBits = v.integer(secure.fractionBits, `${path}.fractionBits`, 8);
  if (fractionBits > 40) throw new v.ValidationError(`${path}.fractionBits`, `${fractionBits} is more than 40`);
  const maxAbs = v.positive(secure.maxAbs, `${path}.maxAbs`);
  const threshold = v.integer(secure.threshold, `${path}.threshold`, 2);
  if (threshold > 1000) throw new v.ValidationError(`${path}.threshold`, `${threshold} is more than 1000`);
  if (secure.noise === undefined) return { fractionBits, maxAbs, threshold };
  const noise = v.record(secure.noise, `${path}.noise`);
  const clip = v.positive(noise.clip, `${path}.noise.clip`);
  const sigma2 = v.positive(noise.sigma2, `${path}.noise.sigma2`);
  // The sum's noise in grid units must be a sampler's rational (below 2^64): bounded here, before any agent draws it.
  if (!(sigma2 * 4 ** fractionBits < 2 ** 63))
    throw new v.ValidationError(`${path}.noise.sigma2`, `${sigma2} on a grid of 2^-${fractionBits} is past 2^63 units: fewer fraction bits`);
  return { fractionBits, maxAbs, threshold, noise: { clip, sigma2 } };
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

/** The engine's own schemas. */
export const ENGINE_SCHEMAS: SchemaTable = {
  "leave/1": LEAVE_1,
  "masked/1": MASKED_1,
  "reveal/1": REVEAL_1,
  "attempt/1": ATTEMPT_1,
  "recover/1": RECOVER_1,
  "share/1": SHARE_1,
  "round/1": { ...ROUND_1, upcast: { to: "round/2", body: (old) => ({ took: old.took, closedBy: "all" }) } },
  "round/2": ROUND_2,
  "admit/1": ADMIT_1,
  "revoke/1": REVOKE_1,
  "quarantine/1": QUARANTINE_1,
  "schema/1": SCHEMA_1,
  "approve/1": APPROVE_1,
  "policy/1": POLICY_1,
  "privacy-budget/1": PRIVACY_BUDGET_1,
  "privacy-grant/1": PRIVACY_GRANT_1,
};
