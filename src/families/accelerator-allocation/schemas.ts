import { parseAdmmSettings, PLAN_STATUSES, type PlanStatus, type SchemaTable } from "../../core/schemas.ts";
import type { AdmmSettings } from "../../core/problem-spec.ts";
import * as v from "../../core/validate.ts";
import type { ClusterProblem, TypeAllocation } from "./cluster.ts";
import { parseCluster } from "./cluster-parse.ts";


/**
 * Accelerator allocation (this family): the coordinator opens the cluster's LP as the
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


declare module "../../core/schemas.ts" {
  interface BodyOf {
    "cluster-open/1": ClusterOpenBody;
    "node-join/1": NodeJoinBody;
    "node-delta/1": NodeDeltaBody;
    "cluster-plan/1": ClusterPlanBody;
    "tenant-plan/1": TenantPlanBody;
  }
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

export const ACCELERATOR_ALLOCATION_SCHEMAS: SchemaTable = {
  "cluster-open/1": { subject: "round", parse: (body, path) => {
    const b = v.record(body, path);
    return { cluster: parseCluster(v.record(b.cluster, `${path}.cluster`), `${path}.cluster`), admm: parseAdmmSettings(b.admm, `${path}.admm`), tenantPlanEvery: v.integer(b.tenantPlanEvery, `${path}.tenantPlanEvery`, 1) };
  } },
  "node-join/1": { subject: "delta", parse: (body, path) => {
    const b = v.record(body, path);
    return { type: v.string(b.type, `${path}.type`), count: v.integer(b.count, `${path}.count`, 1) };
  } },
  "node-delta/1": { subject: "delta", parse: (body, path) => sparseUpdate(body, path) },
  "cluster-plan/1": { subject: "plan", parse: (body, path) => {
    const b = v.record(body, path);
    return {
      status: v.oneOf(b.status, PLAN_STATUSES, `${path}.status`),
      rho: v.positive(b.rho, `${path}.rho`),
      signal: sparseUpdate(b.signal, `${path}.signal`),
      primal: v.finite(b.primal, `${path}.primal`),
      dual: v.finite(b.dual, `${path}.dual`),
      epsPrimal: v.finite(b.epsPrimal, `${path}.epsPrimal`),
      epsDual: v.finite(b.epsDual, `${path}.epsDual`),
    };
  } },
  "tenant-plan/1": { subject: "plan", parse: (body, path) => {
    const b = v.record(body, path);
    return {
      platform: v.string(b.platform, `${path}.platform`),
      status: v.oneOf(b.status, PLAN_STATUSES, `${path}.status`),
      allocations: allocationMap(b.allocations, `${path}.allocations`),
      throughput: v.numberMap(b.throughput, `${path}.throughput`),
    };
  } },
};
