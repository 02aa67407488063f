import type { AdmmState } from "../../solver/admm.ts";
import * as v from "../../core/validate.ts";
import { solvingThroughputs, type ClusterJob, type ClusterProblem } from "./cluster.ts";
import { parseCluster, parseJob } from "./cluster-parse.ts";
import { tokenField } from "../../core/scenario-fields.ts";
import { decompose, type Decomposition, type NodeColumn } from "./decompose.ts";
import { addContribution } from "./node-step.ts";
import { policyForm } from "./policy.ts";
import type { AllocationStart } from "./solve-in-process.ts";

/**
 * Re-planning as jobs come and go: a cluster scheduler's real workload (Gavel re-plans every few
 * minutes) is not one cold solve but a run of small changes. A change is jobs that arrive, jobs
 * that finish, and jobs whose measured throughputs move; the next solve starts from where the last
 * one ended (warmStart): every node keeps its accelerator-time on the jobs that stay, new jobs
 * start at none, and the coordinator keeps its prices (u), penalty and fleet totals for the jobs
 * that stay. Pure.
 */
export type ClusterChange = {
  readonly arrive: readonly ClusterJob[];
  /** Jobs that finish or are cancelled, by name. */
  readonly depart: readonly string[];
  /** New measured throughputs (steps/s by type) of jobs that stay, by name. */
  readonly throughput: Readonly<Record<string, Readonly<Record<string, number>>>>;
};

/** At most this many jobs arrive, depart or are re-measured in one change: a bound checked before anything else is read. */
export const MAX_CHANGED_JOBS = 10_000;

/** A change from untyped fields (a scenario's churn entry); whether it fits the cluster is applyChange's check. */
export function parseChange(fields: Readonly<Record<string, unknown>>, at: string): ClusterChange {
  const change = {
    arrive: fields.arrive === undefined ? [] : parseArrivals(fields.arrive, `${at}.arrive`),
    depart: fields.depart === undefined ? [] : parseDepartures(fields.depart, `${at}.depart`),
    throughput: fields.throughput === undefined ? {} : parseRemeasured(fields.throughput, `${at}.throughput`),
  };
  checkChangesSomething(change, at);
  return change;
}

export function checkChangesSomething(change: ClusterChange, at: string): void {
  if (change.arrive.length + change.depart.length + Object.keys(change.throughput).length === 0)
    throw new v.ValidationError(at, "a change must arrive, depart or re-measure a job");
}

/** A change's parts, each bounded before its items are read. */
export const parseArrivals = (value: unknown, at: string): readonly ClusterJob[] =>
  bounded(v.array(value, at), at).map((job, i) => parseJob(job, `${at}[${i}]`));

export const parseDepartures = (value: unknown, at: string): readonly string[] =>
  bounded(v.array(value, at), at).map((name, i) => tokenField(name, `${at}[${i}]`));

export function parseRemeasured(value: unknown, at: string): ClusterChange["throughput"] {
  const jobs = v.record(value, at);
  bounded(Object.keys(jobs), at);
  return Object.fromEntries(Object.keys(jobs).map((job) => [tokenField(job, at), v.numberMap(jobs[job], `${at}.${job}`)]));
}

function bounded<T>(items: readonly T[], at: string): readonly T[] {
  if (items.length > MAX_CHANGED_JOBS) throw new v.ValidationError(at, `at most ${MAX_CHANGED_JOBS} jobs a change, got ${items.length}`);
  return items;
}

/**
 * The cluster after a change, read as a scenario's cluster is (cluster-parse.ts: names once each,
 * throughputs finite, on types the cluster has, ...); refuses one that departs or re-measures a
 * job the cluster does not have, or adds one it has, naming the job.
 */
export function applyChange(problem: ClusterProblem, change: ClusterChange, at = "change"): ClusterProblem {
  const names = new Set(problem.jobs.map((j) => j.name));
  const departing = new Set<string>();
  for (const name of change.depart) {
    if (!names.has(name)) throw new v.ValidationError(`${at}.depart`, `job ${name} departs, but the cluster has no such job`);
    if (departing.has(name)) throw new v.ValidationError(`${at}.depart`, `job ${name} departs twice`);
    departing.add(name);
  }
  for (const name of Object.keys(change.throughput))
    if (!names.has(name) || departing.has(name))
      throw new v.ValidationError(`${at}.throughput.${name}`, `job ${name}'s throughput changes, but it is not a job that stays`);
  for (const job of change.arrive)
    if (names.has(job.name)) throw new v.ValidationError(`${at}.arrive`, `job ${job.name} arrives, but the cluster has it already`);
  const remeasured = (job: ClusterJob): ClusterJob => (Object.hasOwn(change.throughput, job.name) ? { ...job, throughput: change.throughput[job.name] } : job);
  const jobs = [...problem.jobs.filter((j) => !departing.has(j.name)).map(remeasured), ...change.arrive];
  return parseCluster({ ...problem, jobs }, at);
}

/**
 * Where a solve of `after` starts from the end of a solve of `before`: each node's time on each
 * job that stays (carryColumns), none on new jobs; the coordinator's penalty and, per shared
 * resource that stays, its price and fleet total (carryState). The running problem's fold and its
 * node agents take the same two steps when a change arrives (cluster-fold.ts, node-agent.ts).
 */
export function warmStart(before: ClusterProblem, end: AllocationStart, after: ClusterProblem): AllocationStart {
  const [old, next] = [decompositionOf(before), decompositionOf(after)];
  if (end.y.length !== old.nodes.length || end.y.some((y, n) => y.length !== old.nodes[n].columns.length) || end.state.u.length !== old.coupling.resources)
    throw new RangeError("a warm start's values are not those of the cluster before the change");
  const y = next.nodes.map((node) => {
    const previous = old.nodes.findIndex((n) => n.node === node.node);
    return previous < 0 ? new Float64Array(node.columns.length) : carryColumns(before, old.nodes[previous].columns, end.y[previous], after, node.columns);
  });
  const total = new Float64Array(next.coupling.resources);
  for (const [n, node] of next.nodes.entries()) addContribution(node, y[n], total);
  return { y, state: carryState(before, old, end.state, after, next, total) };
}

/**
 * Values per column of `after` (a node's, or a type's block of sums) from those per column of
 * `before`, by job name: a job that stays keeps its value, a new one (or one that can now run on
 * the type) starts at 0. A column's bound (the job's gang, the node's accelerators) does not
 * change, nor does a node's capacity, so what stays is within them: the node keeps a part of
 * what it booked.
 */
export function carryColumns(
  before: ClusterProblem,
  columns: readonly NodeColumn[],
  values: ArrayLike<number>,
  after: ClusterProblem,
  afterColumns: readonly NodeColumn[],
): Float64Array {
  const byJob = new Map<string, { readonly value: number; readonly scale: number }>();
  for (const [k, c] of columns.entries()) byJob.set(before.jobs[c.job].name, { value: values[k], scale: before.jobs[c.job].scale });
  // A job that left and came back under its name with another gang (two changes applied at one round) is a new job.
  return Float64Array.from(afterColumns, (c) => {
    const kept = byJob.get(after.jobs[c.job].name);
    return kept !== undefined && kept.scale === after.jobs[c.job].scale ? kept.value : 0;
  });
}

/**
 * The coordinator's state after a change: its penalty, and per shared resource that stays (a
 * job's time, its throughput) its price and fleet total; the mean contribution from `total` (the
 * carried values' contributions, summed), so that it and the nodes agree.
 */
export function carryState(
  before: ClusterProblem,
  old: Decomposition,
  state: AdmmState,
  after: ClusterProblem,
  next: Decomposition,
  total: Float64Array,
): AdmmState {
  const oldIndex = new Map(resourceNames(before, old).map((name, r) => [name, r]));
  const carried = (values: readonly number[]): number[] => resourceNames(after, next).map((name) => values[oldIndex.get(name) ?? -1] ?? 0);
  return { rho: state.rho, xbar: Array.from(total, (v) => v / next.nodes.length), zbar: carried(state.zbar), u: carried(state.u) };
}

const decompositionOf = (problem: ClusterProblem): Decomposition => {
  const solving = solvingThroughputs(problem);
  return decompose(solving, policyForm(solving));
};

/** Each shared resource by what it is: a job's time or a job's throughput, by the job's name. */
function resourceNames(problem: ClusterProblem, { coupling }: Decomposition): string[] {
  const names = new Array<string>(coupling.resources);
  problem.jobs.forEach((job, j) => {
    names[j] = `time\0${job.name}`;
    if (coupling.thrResource[j] >= 0) names[coupling.thrResource[j]] = `throughput\0${job.name}`;
  });
  return names;
}
