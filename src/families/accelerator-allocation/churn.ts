import type { AdmmState } from "../../solver/admm.ts";
import * as v from "../../core/validate.ts";
import { solvingThroughputs, type ClusterJob, type ClusterProblem } from "./cluster.ts";
import { parseCluster } from "./cluster-parse.ts";
import { decompose, type Decomposition } from "./decompose.ts";
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

/**
 * The cluster after a change, read as a scenario's cluster is (cluster-parse.ts: names once each,
 * throughputs finite, on types the cluster has, ...); refuses one that departs or re-measures a
 * job the cluster does not have, or adds one it has, naming the job.
 */
export function applyChange(problem: ClusterProblem, change: ClusterChange): ClusterProblem {
  const names = new Set(problem.jobs.map((j) => j.name));
  for (const name of change.depart) if (!names.has(name)) throw new v.ValidationError("change.depart", `job ${name} departs, but the cluster has no such job`);
  for (const name of Object.keys(change.throughput))
    if (!names.has(name) || change.depart.includes(name))
      throw new v.ValidationError(`change.throughput.${name}`, `job ${name}'s throughput changes, but it is not a job that stays`);
  for (const job of change.arrive)
    if (names.has(job.name)) throw new v.ValidationError("change.arrive", `job ${job.name} arrives, but the cluster has it already`);
  const remeasured = (job: ClusterJob): ClusterJob => (Object.hasOwn(change.throughput, job.name) ? { ...job, throughput: change.throughput[job.name] } : job);
  const jobs = [...problem.jobs.filter((j) => !change.depart.includes(j.name)).map(remeasured), ...change.arrive];
  return parseCluster({ ...problem, jobs }, "change");
}

/**
 * Where a solve of `after` starts from the end of a solve of `before`: each node's time on each
 * job that stays (capped at the job's new column bound), none on new jobs; the coordinator's
 * penalty and, per shared resource that stays (a job's time, its throughput), its price and fleet
 * total; the mean contribution recomputed from the carried time, so that it and the nodes agree.
 */
export function warmStart(before: ClusterProblem, end: AllocationStart, after: ClusterProblem): AllocationStart {
  const [old, next] = [decompositionOf(before), decompositionOf(after)];
  if (end.y.length !== old.nodes.length || end.y.some((y, n) => y.length !== old.nodes[n].columns.length) || end.state.u.length !== old.coupling.resources)
    throw new RangeError("a warm start's values are not those of the cluster before the change");
  const oldJobs = before.jobs.map((j) => j.name);
  const y = next.nodes.map((node) => {
    const previous = old.nodes.findIndex((n) => n.node === node.node);
    const byJob = new Map<string, number>();
    if (previous >= 0) for (const [k, c] of old.nodes[previous].columns.entries()) byJob.set(oldJobs[c.job], end.y[previous][k]);
    return Float64Array.from(node.columns, (c) => Math.min(c.upper, byJob.get(after.jobs[c.job].name) ?? 0));
  });
  // Each node's time is a part of what it booked before, within its capacity.
  const oldIndex = new Map(resourceNames(before, old).map((name, r) => [name, r]));
  const carried = (values: readonly number[]): number[] => resourceNames(after, next).map((name) => values[oldIndex.get(name) ?? -1] ?? 0);
  const total = new Float64Array(next.coupling.resources);
  for (const [n, node] of next.nodes.entries()) addContribution(node, y[n], total);
  const state: AdmmState = {
    rho: end.state.rho,
    xbar: Array.from(total, (v) => v / next.nodes.length),
    zbar: carried(end.state.zbar),
    u: carried(end.state.u),
  };
  return { y, state };
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
