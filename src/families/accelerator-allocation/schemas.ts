import { parseAdmmSettings, parseAgreementKey, parseSecureSettings, PLAN_STATUSES, SECURE_PLAN_FIELDS, type SchemaTable } from "../../core/schemas.ts";
import { declareBody, defaulted, field, optional, type BodyOfDeclared } from "../../core/wire-schema.ts";
import { checkChangesSomething, parseArrivals, parseDepartures, parseRemeasured } from "./churn.ts";
import * as v from "../../core/validate.ts";
import type { ClusterProblem, TypeAllocation } from "./cluster.ts";
import { parseCluster } from "./cluster-parse.ts";

/**
 * Accelerator allocation (this family): the coordinator opens the cluster's LP as the
 * scenario states it; each node agent joins with what its adapter found on the node, then
 * sends only the entries of its accelerator-time vector y that changed. Each schema is declared
 * once (core/wire-schema.ts).
 */

/** Entries of a vector that changed since the event's `base`: positions and new values. */
export type SparseUpdate = { readonly index: readonly number[]; readonly value: readonly number[] };

function allocationMap(value: unknown, path: string): TypeAllocation {
  const jobs = v.record(value, path);
  return Object.fromEntries(Object.keys(jobs).map((job) => [job, v.numberMap(jobs[job], `${path}.${job}`)]));
}

const status = field("string", (x, at) => v.oneOf(x, PLAN_STATUSES, at), "running");

const CLUSTER_OPEN_1 = declareBody("open", {
  cluster: field("object", (x, at): ClusterProblem => parseCluster(v.record(x, at), at), {
    nodes: [{ name: "n", type: "A100", count: 1 }],
    jobs: [{ name: "j", tenant: "t", throughput: { A100: 1 } }],
    policy: "max-throughput",
  }),
  admm: field("object", parseAdmmSettings, { rho: 1, epsAbs: 1e-6, epsRel: 1e-6, mu: 10, tau: 2, balanceRounds: 10, maxRounds: 10 }),
  /** Tenant plans go out every this many rounds, and with the final plan. */
  tenantPlanEvery: field("integer", (x, at) => v.integer(x, at, 1), 1),
  /** Secure aggregation (core/problem-spec.ts SecureSettings; the nodes' sums per job and type): absent, plain rounds, as in older streams. */
  secure: optional("object", parseSecureSettings, { fractionBits: 30, maxAbs: 1024, threshold: 2 }),
});

/**
 * A change of a running cluster problem's jobs (churn.ts ClusterChange): jobs that arrive, jobs
 * that depart, new measured throughputs. Only a coordinator of the platform's tenant publishes it
 * (it travels on the round subject); the fold applies it when the next round closes, and the plan
 * of that round carries it to the nodes.
 */
const CLUSTER_CHANGE_1 = declareBody(
  "change",
  {
    arrive: defaulted("array:object", parseArrivals, [], [{ name: "j2", tenant: "t", throughput: { A100: 1 } }]),
    depart: defaulted("array:string", parseDepartures, [], ["j"]),
    throughput: defaulted("map:object", parseRemeasured, {}, { j: { A100: 2 } }),
  },
  checkChangesSomething,
);

const NODE_JOIN_1 = declareBody("join", {
  type: field("string", (x, at) => v.string(x, at), "A100"),
  count: field("integer", (x, at) => v.integer(x, at, 1), 8),
  /** The node's X25519 key for a secure problem's rounds (src/secure/masks.ts); a secure problem's fold requires it. */
  agreementKey: optional("bytes", parseAgreementKey, new Uint8Array(32)),
});

/** A node's changed entries of its accelerator-time vector y since the event's `base`. */
const NODE_DELTA_1 = declareBody(
  "delta",
  {
    index: field("array:integer", (x, at): readonly number[] => v.array(x, at).map((i, k) => v.integer(i, `${at}[${k}]`)), [0]),
    value: field("array:number", (x, at): readonly number[] => v.array(x, at).map((n, k) => v.finite(n, `${at}[${k}]`)), [0.5]),
  },
  (b, path) => {
    if (b.index.length !== b.value.length) throw new v.ValidationError(path, `${b.index.length} indices but ${b.value.length} values`);
  },
);

/** A cluster plan's signal is a sparse update too, read as a node's delta is. */
const sparseUpdate = (value: unknown, path: string): SparseUpdate => NODE_DELTA_1.parse(value, path);

const CLUSTER_PLAN_1 = declareBody("plan", {
  status,
  rho: field("number", v.positive, 1),
  /** The entries of the agents' signal (xbar - zbar + u) that changed since the previous plan. */
  signal: field("object", sparseUpdate, { index: [0], value: [0.5] }),
  primal: field("number", v.finite, 0),
  dual: field("number", v.finite, 0),
  epsPrimal: field("number", v.finite, 0),
  epsDual: field("number", v.finite, 0),
  /**
   * The relative gap the round's repaired plan is proven within (a Lagrangian bound at the round's
   * prices: dual-bound.ts). Absent where the problem does not stop on one (admm.gap), and in a
   * round whose plan misses an SLO floor (it proves nothing).
   */
  gap: optional("number", v.nonNegative, 1e-3),
  /**
   * The changes of the cluster (cluster-change/1 bodies, in the order the stream took them) this
   * round applied after its step: the nodes apply them too, and the signal is then sent whole (its
   * entries are the changed cluster's). Absent in every other round.
   */
  changes: optional("array:object", (x, at): readonly ClusterChangeBody[] => v.array(x, at).map((c, i) => CLUSTER_CHANGE_1.parse(c, `${at}[${i}]`)), [
    { arrive: [], depart: ["j"], throughput: {} },
  ]),
  ...SECURE_PLAN_FIELDS,
});

/** One tenant's jobs in a cluster plan, on catopt.<tenant>.plan.<problem>: repaired, feasible. */
const TENANT_PLAN_1 = declareBody("plan", {
  /** The tenant whose coordinator runs the cluster problem. */
  platform: field("string", (x, at) => v.string(x, at), "platform"),
  status,
  /** X[job][type]: the fraction of time each job runs on each type. */
  allocations: field("map:object", allocationMap, { j: { A100: 1 } }),
  /** Each job's effective throughput under the plan, steps/s. */
  throughput: field("map:number", v.numberMap, { j: 1 }),
});

export type ClusterOpenBody = BodyOfDeclared<typeof CLUSTER_OPEN_1>;
export type ClusterChangeBody = BodyOfDeclared<typeof CLUSTER_CHANGE_1>;
export type NodeJoinBody = BodyOfDeclared<typeof NODE_JOIN_1>;
export type NodeDeltaBody = BodyOfDeclared<typeof NODE_DELTA_1>;
export type ClusterPlanBody = BodyOfDeclared<typeof CLUSTER_PLAN_1>;
export type TenantPlanBody = BodyOfDeclared<typeof TENANT_PLAN_1>;

declare module "../../core/schemas.ts" {
  interface BodyOf {
    "cluster-open/1": ClusterOpenBody;
    "cluster-change/1": ClusterChangeBody;
    "node-join/1": NodeJoinBody;
    "node-delta/1": NodeDeltaBody;
    "cluster-plan/1": ClusterPlanBody;
    "tenant-plan/1": TenantPlanBody;
  }
}

export const ACCELERATOR_ALLOCATION_SCHEMAS: SchemaTable = {
  "cluster-open/1": CLUSTER_OPEN_1,
  "cluster-change/1": CLUSTER_CHANGE_1,
  "node-join/1": NODE_JOIN_1,
  "node-delta/1": NODE_DELTA_1,
  "cluster-plan/1": CLUSTER_PLAN_1,
  "tenant-plan/1": TENANT_PLAN_1,
};
