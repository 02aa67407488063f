import type { AdmmSettings, GlobalConstraint } from "./problem-spec.ts";
import * as v from "./validate.ts";

/**
 * The registry of message schemas: the Morphisms of DESIGN.md. Every event names its schema
 * as "<name>/<version>"; a body is parsed by its schema before anything reads it, so a reducer
 * only ever sees well-typed values.
 */
export type OpenBody = {
  readonly resources: readonly string[];
  readonly constraints: readonly GlobalConstraint[];
  readonly agents: readonly string[];
  readonly admm: AdmmSettings;
};

/** An agent announces itself and the resources it uses. */
export type JoinBody = { readonly resources: readonly string[] };

/** An agent's new values, only those that changed since `base`, and its local objective. */
export type DeltaBody = { readonly entries: Readonly<Record<string, number>>; readonly objective: number };

/** The coordinator's decision to close a round: exactly which events it took. */
export type RoundBody = { readonly took: readonly string[] };

export type PlanStatus = "running" | "converged" | "max-rounds";

export type PlanBody = {
  readonly status: PlanStatus;
  readonly rho: number;
  /** xbar - zbar + u per resource: the one signal every agent's next local step needs. */
  readonly signal: Readonly<Record<string, number>>;
  readonly allocations: Readonly<Record<string, Readonly<Record<string, number>>>>;
  readonly objective: number;
  readonly primal: number;
  readonly dual: number;
  readonly epsPrimal: number;
  readonly epsDual: number;
};

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

export type BodyOf = {
  "open/1": OpenBody;
  "join/1": JoinBody;
  "delta/1": DeltaBody;
  "round/1": RoundBody;
  "plan/1": PlanBody;
  "admit/1": AdmitBody;
  "revoke/1": RevokeBody;
  "quarantine/1": QuarantineBody;
  "schema/1": SchemaBody;
  "approve/1": ApproveBody;
  "policy/1": PolicyBody;
};

export type SchemaId = keyof BodyOf;

type Parser<B> = (body: unknown, path: string) => B;

const parsers: { readonly [S in SchemaId]: Parser<BodyOf[S]> } = {
  "open/1": (body, path) => {
    const b = v.record(body, path);
    const admm = v.record(b.admm, `${path}.admm`);
    return {
      resources: v.stringList(b.resources, `${path}.resources`),
      agents: v.stringList(b.agents, `${path}.agents`),
      constraints: v.array(b.constraints, `${path}.constraints`).map((c, i) => {
        const at = `${path}.constraints[${i}]`;
        const row = v.record(c, at);
        return {
          name: v.string(row.name, `${at}.name`),
          coefficients: v.numberMap(row.coefficients, `${at}.coefficients`),
          limit: v.finite(row.limit, `${at}.limit`),
        };
      }),
      admm: {
        rho: v.positive(admm.rho, `${path}.admm.rho`),
        epsAbs: v.positive(admm.epsAbs, `${path}.admm.epsAbs`),
        epsRel: v.positive(admm.epsRel, `${path}.admm.epsRel`),
        mu: v.positive(admm.mu, `${path}.admm.mu`),
        tau: v.positive(admm.tau, `${path}.admm.tau`),
        balanceRounds: v.integer(admm.balanceRounds, `${path}.admm.balanceRounds`),
        maxRounds: v.integer(admm.maxRounds, `${path}.admm.maxRounds`, 1),
      },
    };
  },
  "join/1": (body, path) => ({ resources: v.stringList(v.record(body, path).resources, `${path}.resources`) }),
  "delta/1": (body, path) => {
    const b = v.record(body, path);
    return { entries: v.numberMap(b.entries, `${path}.entries`), objective: v.finite(b.objective, `${path}.objective`) };
  },
  "round/1": (body, path) => ({ took: v.stringList(v.record(body, path).took, `${path}.took`) }),
  "admit/1": (body, path) => {
    const b = v.record(body, path);
    return { did: v.string(b.did, `${path}.did`), role: v.oneOf(b.role, ["agent", "coordinator"] as const, `${path}.role`), name: v.string(b.name, `${path}.name`) };
  },
  "schema/1": (body, path) => {
    const b = v.record(body, path);
    return {
      name: v.string(b.name, `${path}.name`),
      version: v.integer(b.version, `${path}.version`, 1),
      fields: v.array(b.fields, `${path}.fields`).map((f, i) => v.record(f, `${path}.fields[${i}]`)),
      mode: v.string(b.mode, `${path}.mode`),
    };
  },
  "approve/1": (body, path) => {
    const b = v.record(body, path);
    if (typeof b.approved !== "boolean") throw new v.ValidationError(`${path}.approved`, "expected true or false");
    return { adapter: v.string(b.adapter, `${path}.adapter`), approved: b.approved };
  },
  "policy/1": (body, path) => {
    const b = v.record(body, path);
    return { name: v.string(b.name, `${path}.name`), value: v.string(b.value, `${path}.value`) };
  },
  "quarantine/1": (body, path) => {
    const b = v.record(body, path);
    return { seq: v.integer(b.seq, `${path}.seq`, 1), subject: v.string(b.subject, `${path}.subject`), reason: v.string(b.reason, `${path}.reason`), data: v.bytes(b.data, `${path}.data`) };
  },
  "revoke/1": (body, path) => {
    const b = v.record(body, path);
    return { did: v.string(b.did, `${path}.did`), reason: v.string(b.reason, `${path}.reason`) };
  },
  "plan/1": (body, path) => {
    const b = v.record(body, path);
    const allocations = v.record(b.allocations, `${path}.allocations`);
    return {
      status: v.oneOf(b.status, ["running", "converged", "max-rounds"] as const, `${path}.status`),
      rho: v.positive(b.rho, `${path}.rho`),
      signal: v.numberMap(b.signal, `${path}.signal`),
      allocations: Object.fromEntries(
        Object.keys(allocations).map((agent) => [agent, v.numberMap(allocations[agent], `${path}.allocations.${agent}`)]),
      ),
      objective: v.finite(b.objective, `${path}.objective`),
      primal: v.finite(b.primal, `${path}.primal`),
      dual: v.finite(b.dual, `${path}.dual`),
      epsPrimal: v.finite(b.epsPrimal, `${path}.epsPrimal`),
      epsDual: v.finite(b.epsDual, `${path}.epsDual`),
    };
  },
};

export function isSchemaId(value: string): value is SchemaId {
  return Object.hasOwn(parsers, value);
}

export function parseBody<S extends SchemaId>(schema: S, body: unknown, path = "body"): BodyOf[S] {
  return parsers[schema](body, path);
}
