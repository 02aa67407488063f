import { effectiveThroughput, equalSplit, throughputOn, typeCounts, type ClusterProblem, type TypeAllocation } from "./cluster.ts";

/**
 * Every policy as one LP shape (maximize):
 *
 *   sum_{job,type} gain[job][type] * X[job][type]  +  min_job thr_job / demand_job  (when demands are set)
 *   subject to thr_job >= floor_job
 *
 * with thr_job = sum_type T[job][type] * X[job][type]. Max total throughput and cost are the
 * linear part (cost: each job's throughput normalized by its best type, per dollar, as Gavel's
 * ThroughputNormalizedByCostSum); max-min fairness and makespan are the min part (makespan:
 * demand = steps left, so 1 / the min is the time by which every job is done). Pure.
 */
export type PolicyForm = {
  readonly policy: ClusterProblem["policy"];
  /** gain[job index] by type; empty for the max-min policies. */
  readonly gain: readonly Readonly<Record<string, number>>[];
  /** Per job: the denominator of the max-min term, or undefined for the linear policies. */
  readonly demand: readonly number[] | undefined;
  /** Per job: the least effective throughput allowed (0: none). */
  readonly floor: readonly number[];
};

export function policyForm(problem: ClusterProblem): PolicyForm {
  const types = [...typeCounts(problem.nodes).keys()];
  const { jobs, policy } = problem;
  const none = jobs.map(() => 0);
  switch (policy) {
    case "max-throughput":
      return { policy, gain: jobs.map((job) => Object.fromEntries(types.map((t) => [t, throughputOn(job, t)]))), demand: undefined, floor: none };
    case "cost": {
      const price = (t: string) => problem.prices?.[t] ?? 1;
      return {
        policy,
        gain: jobs.map((job) => {
          const best = Math.max(...types.map((t) => throughputOn(job, t)));
          return Object.fromEntries(types.map((t) => [t, best > 0 ? throughputOn(job, t) / best / price(t) : 0]));
        }),
        demand: undefined,
        floor: jobs.map((job) => job.slo ?? 0),
      };
    }
    case "max-min-fairness": {
      const split = equalSplit(problem);
      return { policy, gain: [], demand: jobs.map((job) => (job.weight ?? 1) * effectiveThroughput(job, split[job.name])), floor: none };
    }
    case "makespan":
      return { policy, gain: [], demand: jobs.map((job) => job.steps ?? 1), floor: none };
  }
}

/** The policy's objective of a plan (in the form's units; makespan: 1 / seconds). */
export function policyObjective(problem: ClusterProblem, form: PolicyForm, x: TypeAllocation): number {
  let value = 0;
  problem.jobs.forEach((job, j) => {
    for (const [type, share] of Object.entries(x[job.name] ?? {})) value += (form.gain[j]?.[type] ?? 0) * share;
  });
  if (form.demand !== undefined) {
    const demand = form.demand;
    value += Math.min(...problem.jobs.map((job, j) => effectiveThroughput(job, x[job.name]) / demand[j]));
  }
  return value;
}

/** What a person reads: the policy's own measure (total steps/s, seconds to finish, ...). */
export function describeObjective(problem: ClusterProblem, objective: number): string {
  switch (problem.policy) {
    case "max-throughput":
      return `total throughput ${objective.toFixed(3)} steps/s`;
    case "cost":
      return `normalized throughput per dollar ${objective.toFixed(4)}`;
    case "max-min-fairness":
      return `every job gets at least ${objective.toFixed(4)} x its equal-split throughput`;
    case "makespan":
      return `every job done within ${(1 / objective).toFixed(1)} s`;
  }
}
