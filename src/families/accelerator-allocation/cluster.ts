/**
 * The accelerator-allocation problem (Gavel, Narayanan et al., OSDI 2020, section 3.1), as a
 * cluster owner states it: nodes of accelerator types, jobs of tenants with a measured
 * throughput per type, and a policy.
 *
 * A plan gives X[job][type], the fraction of time the job runs on that type with all of its
 * `scale` accelerators: X >= 0, sum over types of X[job] <= 1, and per type
 * sum over jobs of scale * X <= the type's accelerators. Node agents own their node's
 * accelerators; their variable y[job][node] is accelerator-time (X = sum over the type's
 * nodes of y / scale), which splits each type's capacity among its nodes without changing the LP.
 */
export type ClusterNode = {
  readonly name: string;
  /** Accelerator type, e.g. "V100", "A100-40GB", "TPU-v4". */
  readonly type: string;
  /** Accelerators of that type on the node. */
  readonly count: number;
};

export type ClusterJob = {
  readonly name: string;
  readonly tenant: string;
  /** Accelerators the job gangs (Gavel's scale factor). */
  readonly scale: number;
  /** Steps per second on each type with `scale` accelerators; 0 or absent: cannot run there. */
  readonly throughput: Readonly<Record<string, number>>;
  /** Fairness weight (max-min): a job of weight 2 is owed twice the share; default 1. */
  readonly weight?: number;
  /** Steps left to run (makespan). */
  readonly steps?: number;
  /** Minimum effective throughput, steps/s (cost policy's SLO floor). */
  readonly slo?: number;
};

export type PolicyName = "max-throughput" | "max-min-fairness" | "cost" | "makespan";
export const POLICIES: readonly PolicyName[] = ["max-throughput", "max-min-fairness", "cost", "makespan"];

export type ClusterProblem = {
  readonly nodes: readonly ClusterNode[];
  readonly jobs: readonly ClusterJob[];
  readonly policy: PolicyName;
  /** Price per accelerator-hour per type (cost policy). */
  readonly prices?: Readonly<Record<string, number>>;
  /** At most this many accelerators (of any type, in time-average) per tenant: the quota limit. */
  readonly quotas?: Readonly<Record<string, number>>;
  /** Solve as if every job ran equally fast on every type it can run on (Gavel's baseline). */
  readonly heterogeneityAgnostic?: boolean;
};

/** The accelerator types in first-seen order, with their total counts. */
export function typeCounts(nodes: readonly ClusterNode[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const n of nodes) counts.set(n.type, (counts.get(n.type) ?? 0) + n.count);
  return counts;
}

export const throughputOn = (job: ClusterJob, type: string): number => job.throughput[type] ?? 0;

/** X[job][type] of a plan, by job name then type. */
export type TypeAllocation = Readonly<Record<string, Readonly<Record<string, number>>>>;

/** Effective throughput of a job under a plan: sum over types of T * X (steps/s). */
export function effectiveThroughput(job: ClusterJob, x: Readonly<Record<string, number>> | undefined): number {
  let sum = 0;
  for (const [type, share] of Object.entries(x ?? {})) sum += throughputOn(job, type) * share;
  return sum;
}

/**
 * The equal split that max-min fairness measures against: every type's accelerators divided
 * evenly among the jobs, as time on each type (scaled down where a job's row would exceed 1).
 */
export function equalSplit(problem: ClusterProblem): TypeAllocation {
  const counts = typeCounts(problem.nodes);
  const jobs = problem.jobs.length;
  return Object.fromEntries(
    problem.jobs.map((job) => {
      const raw = [...counts].map(([type, count]) => [type, count / jobs / job.scale] as const);
      const row = raw.reduce((sum, [, share]) => sum + share, 0);
      return [job.name, Object.fromEntries(raw.map(([type, share]) => [type, share / Math.max(1, row)]))];
    }),
  );
}

/** The throughputs the policy solves with: the agnostic baseline sees 1 wherever a job can run. */
export function solvingThroughputs(problem: ClusterProblem): ClusterProblem {
  if (problem.heterogeneityAgnostic !== true) return problem;
  return {
    ...problem,
    jobs: problem.jobs.map((job) => {
      const best = Math.max(0, ...Object.values(job.throughput));
      return {
        ...job,
        throughput: Object.fromEntries(Object.entries(job.throughput).map(([type, t]) => [type, t > 0 ? 1 : 0])),
        // An SLO floor keeps its meaning as a share of the job's full speed.
        ...(job.slo === undefined ? {} : { slo: job.slo / best }),
      };
    }),
  };
}
