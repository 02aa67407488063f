import type { ClusterProblem, TypeAllocation } from "../families/accelerator-allocation/cluster.ts";
import { parseCluster } from "../families/accelerator-allocation/cluster-parse.ts";
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
/**
 * join/2 adds the box the agent declares for its values, for every resource it joins with: the
 * fold refuses a delta outside it. Any box that holds the agent's true bounds will do, so an
 * agent need not reveal them (catopt's agents declare them rounded outward to powers of two).
 * The box holds 0, where an agent's values start. It guards against an agent's own faults; it
 * is no limit on a hostile admitted agent, which declares what it likes (or joins with join/1,
 * still read for old streams): that one is bounded by the rule on every number, and answers
 * to governance, which admitted it.
 */
export type JoinBodyV2 = JoinBody & { readonly lower: Readonly<Record<string, number>>; readonly upper: Readonly<Record<string, number>> };
/** An agent leaves a running problem for good (it may join again later, as a newcomer): its values stop counting. */
export type LeaveBody = { readonly reason: string };

/** An agent's new values, only those that changed since `base`, and its local objective. */
export type DeltaBody = { readonly entries: Readonly<Record<string, number>>; readonly objective: number };

/** The coordinator's decision to close a round: exactly which events it took. */
export type RoundBody = { readonly took: readonly string[] };

/**
 * Why a round closed: every agent's answer to the last plan was in ("all"), enough of them
 * ("quorum"), or its deadline passed ("deadline"). Timing decides it, so it is recorded.
 */
export type ClosedBy = "all" | "quorum" | "deadline";
export type RoundBodyV2 = RoundBody & { readonly closedBy: ClosedBy };

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

/**
 * Accelerator allocation (src/allocation): the coordinator opens the cluster's LP as the
 * scenario states it; each node agent joins with what its adapter found on the node, then
 * sends only the entries of its accelerator-time vector y that changed.
 */
export type ClusterOpenBody = {
  readonly cluster: ClusterProblem;
  readonly admm: AdmmSettings;
  /** Tenant plans go out every this many rounds, and with the final plan. */
  readonly tenantPlanEvery: number;
};

export type NodeJoinBody = { readonly type: string; readonly count: number };

/** Entries of a vector that changed since the event's `base`: positions and new values. */
export type SparseUpdate = { readonly index: readonly number[]; readonly value: readonly number[] };

export type NodeDeltaBody = SparseUpdate;

export type ClusterPlanBody = {
  readonly status: PlanStatus;
  readonly rho: number;
  /** The entries of the agents' signal (xbar - zbar + u) that changed since the previous plan. */
  readonly signal: SparseUpdate;
  readonly primal: number;
  readonly dual: number;
  readonly epsPrimal: number;
  readonly epsDual: number;
};

/** One tenant's jobs in a cluster plan, on catopt.<tenant>.plan.<problem>: repaired, feasible. */
export type TenantPlanBody = {
  /** The tenant whose coordinator runs the cluster problem. */
  readonly platform: string;
  readonly status: PlanStatus;
  /** X[job][type]: the fraction of time each job runs on each type. */
  readonly allocations: TypeAllocation;
  /** Each job's effective throughput under the plan, steps/s. */
  readonly throughput: Readonly<Record<string, number>>;
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
  "join/2": JoinBodyV2;
  "leave/1": LeaveBody;
  "delta/1": DeltaBody;
  "round/1": RoundBody;
  "round/2": RoundBodyV2;
  "plan/1": PlanBody;
  "cluster-open/1": ClusterOpenBody;
  "node-join/1": NodeJoinBody;
  "node-delta/1": NodeDeltaBody;
  "cluster-plan/1": ClusterPlanBody;
  "tenant-plan/1": TenantPlanBody;
  "admit/1": AdmitBody;
  "revoke/1": RevokeBody;
  "quarantine/1": QuarantineBody;
  "schema/1": SchemaBody;
  "approve/1": ApproveBody;
  "policy/1": PolicyBody;
};

export type SchemaId = keyof BodyOf;

type Parser<B> = (body: unknown, path: string) => B;

function admmSettings(value: unknown, path: string): AdmmSettings {
  const admm = v.record(value, path);
  return {
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
  };
}

function sparseUpdate(value: unknown, path: string): SparseUpdate {
  const b = v.record(value, path);
  const index = v.array(b.index, `${path}.index`).map((x, i) => v.integer(x, `${path}.index[${i}]`));
  const values = v.array(b.value, `${path}.value`).map((x, i) => v.finite(x, `${path}.value[${i}]`));
  if (index.length !== values.length) throw new v.ValidationError(path, `${index.length} indices but ${values.length} values`);
  return { index, value: values };
}

function allocationMap(value: unknown, path: string): TypeAllocation {
  const jobs = v.record(value, path);
  return Object.fromEntries(Object.keys(jobs).map((job) => [job, v.numberMap(jobs[job], `${path}.${job}`)]));
}

const STATUSES = ["running", "converged", "max-rounds"] as const;
const CLOSED_BY = ["all", "quorum", "deadline"] as const;

const parsers: { readonly [S in SchemaId]: Parser<BodyOf[S]> } = {
  "open/1": (body, path) => {
    const b = v.record(body, path);
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
      admm: admmSettings(b.admm, `${path}.admm`),
    };
  },
  "cluster-open/1": (body, path) => {
    const b = v.record(body, path);
    return { cluster: parseCluster(v.record(b.cluster, `${path}.cluster`), `${path}.cluster`), admm: admmSettings(b.admm, `${path}.admm`), tenantPlanEvery: v.integer(b.tenantPlanEvery, `${path}.tenantPlanEvery`, 1) };
  },
  "node-join/1": (body, path) => {
    const b = v.record(body, path);
    return { type: v.string(b.type, `${path}.type`), count: v.integer(b.count, `${path}.count`, 1) };
  },
  "node-delta/1": (body, path) => sparseUpdate(body, path),
  "cluster-plan/1": (body, path) => {
    const b = v.record(body, path);
    return {
      status: v.oneOf(b.status, STATUSES, `${path}.status`),
      rho: v.positive(b.rho, `${path}.rho`),
      signal: sparseUpdate(b.signal, `${path}.signal`),
      primal: v.finite(b.primal, `${path}.primal`),
      dual: v.finite(b.dual, `${path}.dual`),
      epsPrimal: v.finite(b.epsPrimal, `${path}.epsPrimal`),
      epsDual: v.finite(b.epsDual, `${path}.epsDual`),
    };
  },
  "tenant-plan/1": (body, path) => {
    const b = v.record(body, path);
    return {
      platform: v.string(b.platform, `${path}.platform`),
      status: v.oneOf(b.status, STATUSES, `${path}.status`),
      allocations: allocationMap(b.allocations, `${path}.allocations`),
      throughput: v.numberMap(b.throughput, `${path}.throughput`),
    };
  },
  "join/1": (body, path) => ({ resources: v.stringList(v.record(body, path).resources, `${path}.resources`) }),
  "join/2": (body, path) => {
    const b = v.record(body, path);
    const resources = v.stringList(b.resources, `${path}.resources`);
    const side = (name: "lower" | "upper", holdsZero: (bound: number) => boolean): Record<string, number> => {
      const values = v.numberMap(b[name], `${path}.${name}`);
      const foreign = Object.keys(values).find((r) => !resources.includes(r));
      if (foreign !== undefined) throw new v.ValidationError(`${path}.${name}.${foreign}`, "is not among the resources it joins with");
      const missing = resources.find((r) => !Object.hasOwn(values, r));
      if (missing !== undefined) throw new v.ValidationError(`${path}.${name}.${missing}`, "missing: a join/2 bounds every resource it joins with");
      const off = resources.find((r) => !holdsZero(values[r]));
      if (off !== undefined) throw new v.ValidationError(`${path}.${name}.${off}`, `${values[off]} leaves 0, where the agent's values start, outside its box`);
      return values;
    };
    return { resources, lower: side("lower", (bound) => bound <= 0), upper: side("upper", (bound) => bound >= 0) };
  },
  "leave/1": (body, path) => ({ reason: v.string(v.record(body, path).reason, `${path}.reason`) }),
  "delta/1": (body, path) => {
    const b = v.record(body, path);
    return { entries: v.numberMap(b.entries, `${path}.entries`), objective: v.finite(b.objective, `${path}.objective`) };
  },
  "round/1": (body, path) => ({ took: v.stringList(v.record(body, path).took, `${path}.took`) }),
  "round/2": (body, path) => {
    const b = v.record(body, path);
    return { took: v.stringList(b.took, `${path}.took`), closedBy: b.closedBy === undefined ? "all" : v.oneOf(b.closedBy, CLOSED_BY, `${path}.closedBy`) };
  },
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
      status: v.oneOf(b.status, STATUSES, `${path}.status`),
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
