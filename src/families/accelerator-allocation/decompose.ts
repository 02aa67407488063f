import { effectiveThroughput, equalSplit, throughputOn, typeCounts, type ClusterNode, type ClusterProblem } from "./cluster.ts";
import type { PolicyForm } from "./policy.ts";

/**
 * The allocation LP split for sharing ADMM: one local problem per node, and the coupling the
 * coordinator applies. Coupled resources (the vector agents share): per job its time
 * (index = job) and, where the policy couples throughput (max-min, SLO floors), its normalized
 * throughput (index = jobs + k). A node's variable y is accelerator-time; it adds y / scale
 * to the job's time and T * y / (scale * D) to its throughput, D being the job's demand (max-min)
 * or floor (SLO), so that the coupling reads time <= 1, thr >= t or thr >= 1. Pure.
 */
export type NodeColumn = {
  readonly job: number;
  /** y <= upper: the job's whole gang all the time, or the node's accelerators. */
  readonly upper: number;
  /** Coefficient of y in the job's time. */
  readonly time: number;
  /** Index of the job's throughput resource and the coefficient of y in it (-1, 0: none). */
  readonly thrResource: number;
  readonly thr: number;
  /** Objective gain per unit of y, scaled (see Coupling.gainScale). */
  readonly gain: number;
};

export type NodeProblem = {
  readonly node: string;
  readonly type: string;
  readonly capacity: number;
  readonly columns: readonly NodeColumn[];
};

export type Quota = { readonly tenant: string; readonly jobs: readonly number[]; readonly weights: readonly number[]; readonly limit: number };

export type Coupling = {
  readonly jobs: number;
  /** Length of the shared resource vector. */
  readonly resources: number;
  /** Per job: its throughput resource, or -1. */
  readonly thrResource: readonly number[];
  /** Per throughput resource (from index `jobs`): the normalized floor (1) or 0. */
  readonly thrFloor: readonly number[];
  /** Weight of the max-min term t in the coordinator's objective (0: linear policy). */
  readonly maxMin: number;
  readonly quotas: readonly Quota[];
  /** Per job: D, to turn a normalized throughput back into steps/s. */
  readonly thrScale: readonly number[];
  /** Gains are divided by this so that the largest is 1; objective = scaled value * gainScale. */
  readonly gainScale: number;
};

export type Decomposition = { readonly nodes: readonly NodeProblem[]; readonly coupling: Coupling };

export function decompose(problem: ClusterProblem, form: PolicyForm, only?: string): Decomposition {
  const { jobs } = problem;
  const types = [...typeCounts(problem.nodes).keys()];
  const unit = form.demand !== undefined ? demandUnit(problem, form.demand) : 0;
  // Floors are measured against the job's best throughput so that every coefficient is at most
  // 1 / scale, like the time coefficients: badly scaled rows slow ADMM down a lot.
  const thrScale = jobs.map((job, j) =>
    form.demand !== undefined ? form.demand[j] * unit : form.floor[j] > 0 ? Math.max(...types.map((t) => throughputOn(job, t))) : 0,
  );
  const thrResource: number[] = [];
  let next = jobs.length;
  for (const scale of thrScale) thrResource.push(scale > 0 ? next++ : -1);
  const thrFloor = jobs.flatMap((_, j) => (thrResource[j] < 0 ? [] : [form.floor[j] > 0 ? form.floor[j] / thrScale[j] : 0]));

  let gainScale = 0;
  jobs.forEach((job, j) => {
    for (const g of Object.values(form.gain[j] ?? {})) gainScale = Math.max(gainScale, g / job.scale);
  });
  gainScale ||= 1;

  // Nodes of one type and size have the same columns: built once and shared (a 64-node cluster
  // of 4 types holds 4 column lists, not 64). `only` keeps one node: what its agent needs.
  const shared = new Map<string, readonly NodeColumn[]>();
  const columnsOf = (node: ClusterNode): readonly NodeColumn[] => {
    const key = `${node.type}\u0000${node.count}`;
    let columns = shared.get(key);
    if (columns === undefined) {
      columns = jobs.flatMap((job, j): NodeColumn[] => {
        const t = throughputOn(job, node.type);
        if (t <= 0) return [];
        return [
          {
            job: j,
            upper: Math.min(job.scale, node.count),
            time: 1 / job.scale,
            thrResource: thrResource[j],
            thr: thrResource[j] < 0 ? 0 : t / (job.scale * thrScale[j]),
            gain: (form.gain[j]?.[node.type] ?? 0) / job.scale / gainScale,
          },
        ];
      });
      shared.set(key, columns);
    }
    return columns;
  };
  const nodes = problem.nodes
    .filter((node) => only === undefined || node.name === only)
    .map((node): NodeProblem => ({ node: node.name, type: node.type, capacity: node.count, columns: columnsOf(node) }));

  const quotas = Object.entries(problem.quotas ?? {}).map(([tenant, limit]): Quota => {
    const members = jobs.flatMap((job, j) => (job.tenant === tenant ? [j] : []));
    return { tenant, jobs: members, weights: members.map((j) => jobs[j].scale), limit };
  });
  const maxMin = form.demand !== undefined ? 1 : 0;
  return { nodes, coupling: { jobs: jobs.length, resources: next, thrResource, thrFloor, maxMin, quotas, thrScale, gainScale } };
}

/**
 * The largest a column's coefficient may be. Coefficients are what the coupling weighs a node's
 * time by; every scenario here keeps them below 500 (makespan on gavel-256), but a job whose
 * demand is tiny beside the others' (a weight of 1e-300) weighs its throughput by 1e300, and
 * ADMM's steps go to NaN, which no plan can carry.
 */
export const MAX_COEFFICIENT = 1e6;

/** Why a decomposition's coefficients are out of ADMM's range, naming the job; undefined when none is. */
export function coefficientProblem(problem: ClusterProblem, { nodes }: Decomposition): string | undefined {
  for (const node of nodes)
    for (const c of node.columns)
      if (!(c.thr <= MAX_COEFFICIENT && c.gain <= MAX_COEFFICIENT))
        return `job ${problem.jobs[c.job].name}'s throughput weighs ${c.thr} in the coupling on ${node.type}, beyond ${MAX_COEFFICIENT}: its demand (weight, steps) is too small beside the other jobs'`;
  return undefined;
}

/**
 * Demands are rescaled so that the equal split reaches exactly t = 1 on its worst job: the
 * optimum t is then at least 1 and of the order of the time and throughput resources, whatever
 * the units of the demands (steps left can be 10^5), which keeps one ADMM penalty right for all.
 */
function demandUnit(problem: ClusterProblem, demand: readonly number[]): number {
  const split = equalSplit(problem);
  return Math.min(...problem.jobs.map((job, j) => effectiveThroughput(job, split[job.name]) / demand[j]));
}
