import type { ClusterJob, ClusterNode, ClusterProblem, PolicyName } from "./cluster.ts";

/**
 * Clusters built from published throughputs, for scenarios, tests and benchmarks. Measured
 * figures: Gavel (Narayanan et al., OSDI 2020), scheduler/simulation_throughputs.json,
 * single-accelerator steps/s on V100, P100, K80, and its per-hour prices (utils.py). The A100
 * column is synthetic: V100 times the A100/V100 ratio of the closest model in Sia's artifacts
 * (SOSP 2023; BERT 3.33, ResNet-18 2.12, ResNet-50 1.54, YOLOv3 1.13, DeepSpeech2 0.96), and so is
 * its price. Gang scaling is synthetic too: throughput with s accelerators = s * 0.85^log2(s) of
 * one. The job mix follows Gavel's (Philly trace): 70% on 1 accelerator, 10% on 2, 15% on 4, 5% on 8.
 * Deterministic for a seed.
 */
export const GAVEL_JOB_TYPES: readonly {
  readonly model: string;
  readonly V100: number;
  readonly P100: number;
  readonly K80: number;
  readonly a100Ratio: number;
}[] = [
  { model: "resnet50-b64", V100: 4.395, P100: 2.619, K80: 0.619, a100Ratio: 1.54 },
  { model: "resnet50-b128", V100: 2.497, P100: 1.584, K80: 0.347, a100Ratio: 1.54 },
  { model: "resnet18-b64", V100: 24.093, P100: 22.305, K80: 7.052, a100Ratio: 2.12 },
  { model: "resnet18-b256", V100: 10.3, P100: 7.723, K80: 0.886, a100Ratio: 2.12 },
  { model: "transformer-b64", V100: 8.618, P100: 5.092, K80: 1.752, a100Ratio: 3.33 },
  { model: "lm-lstm-b20", V100: 64.742, P100: 58.173, K80: 17.142, a100Ratio: 0.96 },
  { model: "recommendation-b2048", V100: 7.47, P100: 16.597, K80: 10.441, a100Ratio: 1.13 },
  { model: "a3c", V100: 7.176, P100: 5.681, K80: 3.439, a100Ratio: 0.96 },
  { model: "cyclegan", V100: 4.426, P100: 2.403, K80: 0.505, a100Ratio: 1.54 },
];

export const GAVEL_PRICES: Readonly<Record<string, number>> = { V100: 0.74, P100: 0.43, K80: 0.135, A100: 1.1 };

export type SyntheticOptions = {
  readonly seed: number;
  readonly jobs: number;
  readonly tenants: number;
  /** Nodes per type, each with `perNode` accelerators. */
  readonly nodes: Readonly<Record<string, number>>;
  readonly perNode: number;
  readonly policy: PolicyName;
  /** Share of jobs with an SLO floor (cost policy), default 0.2. */
  readonly sloShare?: number;
};

export function syntheticCluster(options: SyntheticOptions): ClusterProblem {
  const random = lcg(options.seed);
  const nodes: ClusterNode[] = Object.entries(options.nodes).flatMap(([type, count]) =>
    Array.from({ length: count }, (_, i) => ({ name: `${type.toLowerCase()}-${String(i).padStart(2, "0")}`, type, count: options.perNode })),
  );
  const types = Object.keys(options.nodes);
  const jobs: ClusterJob[] = Array.from({ length: options.jobs }, (_, j) => {
    const kind = GAVEL_JOB_TYPES[Math.floor(random() * GAVEL_JOB_TYPES.length)];
    const draw = random();
    const scale = draw < 0.7 ? 1 : draw < 0.8 ? 2 : draw < 0.95 ? 4 : 8;
    const gang = scale * 0.85 ** Math.log2(scale);
    const single: Record<string, number> = { V100: kind.V100, P100: kind.P100, K80: kind.K80, A100: kind.V100 * kind.a100Ratio };
    const throughput = Object.fromEntries(types.map((t) => [t, round((single[t] ?? 0) * gang * (0.9 + 0.2 * random()))]));
    const steps = 1000 * Math.round(10 + 490 * random());
    const slo = random() < (options.sloShare ?? 0.2) ? round(0.3 * Math.max(...Object.values(throughput))) : undefined;
    return {
      name: `job-${String(j).padStart(4, "0")}-${kind.model}`,
      tenant: `tenant-${j % options.tenants}`,
      scale,
      throughput,
      steps,
      ...(slo === undefined ? {} : { slo }),
    };
  });
  return { nodes, jobs, policy: options.policy, prices: Object.fromEntries(types.map((t) => [t, GAVEL_PRICES[t] ?? 1])) };
}

const round = (n: number): number => Math.round(n * 1000) / 1000;

/** Numerical Recipes' LCG: small, seedable, the same on every platform. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}
