import { DEFAULT_ADMM } from "../../core/problem-spec.ts";
import type { ClusterProblem } from "./cluster.ts";
import { solveAllocationInProcess } from "./solve-in-process.ts";

/**
 * Can every SLO floor be met at once? The cost policy's LP has no solution otherwise, and ADMM
 * on an infeasible problem never settles, so the floors are checked first: max-min over the
 * jobs with a floor, of throughput / floor (the makespan shape with steps = floor), solved by
 * the same distributed steps. Below 1, the report names the jobs that stay short.
 */
export type SloReport = { readonly feasible: boolean; readonly reach: number; readonly short: readonly { readonly job: string; readonly reach: number }[] };

export function checkSlos(problem: ClusterProblem): SloReport | undefined {
  const floored = problem.jobs.filter((job) => (job.slo ?? 0) > 0);
  if (floored.length === 0) return undefined;
  const probe: ClusterProblem = { ...problem, policy: "makespan", jobs: floored.map((job) => ({ ...job, steps: job.slo })) };
  const run = solveAllocationInProcess(probe, { ...DEFAULT_ADMM, epsAbs: 1e-7, epsRel: 1e-6, maxRounds: 20_000 });
  const reach = run.objective;
  const short = floored
    .map((job) => ({
      job: job.name,
      reach: Object.entries(run.x[job.name] ?? {}).reduce((sum, [type, share]) => sum + (job.throughput[type] ?? 0) * share, 0) / (job.slo ?? 1),
    }))
    .filter((s) => s.reach < 1 - 1e-6)
    .sort((a, b) => a.reach - b.reach);
  return { feasible: reach >= 1 - 1e-6, reach, short };
}
