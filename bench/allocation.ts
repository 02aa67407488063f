// bench/allocation: the node agents' ADMM (all agents in this process, no bus yet) beside HiGHS
// solving the same LP centrally, for 256, 1,024 and 2,048 jobs on Gavel-like clusters.
// Prints, per size and policy: rounds, wall time, the relative objective gap, the worst job's
// share of its exact effective throughput, and HiGHS's time; the ratio is ours / HiGHS's time.
// Usage: npm run bench:allocation [-- sizes=256,1024 policies=max-throughput]
import { effectiveThroughput, type PolicyName } from "../src/allocation/cluster.ts";
import { policyForm } from "../src/allocation/policy.ts";
import { solveAllocationReference } from "../src/allocation/reference-lp.ts";
import { planViolation } from "../src/allocation/repair.ts";
import { solveAllocationInProcess } from "../src/allocation/solve-in-process.ts";
import { syntheticCluster } from "../src/allocation/synthetic.ts";

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.split("=") as [string, string]));
const sizes = (args.sizes ?? "256,1024,2048").split(",").map(Number);
const policies = (args.policies ?? "max-throughput,max-min-fairness") .split(",") as PolicyName[];

console.log("allocation: node agents' ADMM in one process vs HiGHS (central LP), Gavel-like clusters, 4 types");
console.log("jobs  nodes policy              rounds   ours ms  HiGHS ms  time ratio  rel. gap   worst job share  violation");
const rows = [];
for (const jobs of sizes) {
  const perType = Math.max(1, Math.round(jobs / 128)); // 2,048 jobs: 16 nodes per type, 64 nodes of 8
  for (const policy of policies) {
    const problem = syntheticCluster({ seed: 42, jobs, tenants: 8, nodes: { V100: perType, P100: perType, K80: perType, A100: perType }, perNode: 8, policy });
    const exact = await solveAllocationReference(problem, policyForm(problem));
    const started = performance.now();
    const run = solveAllocationInProcess(problem, undefined, (round) => {
      if (round % 500 === 0) process.stderr.write(`\r  ${jobs} jobs ${policy}: round ${round}`);
    });
    const ms = performance.now() - started;
    process.stderr.write("\r\x1b[K");
    if (exact.status !== "optimal") throw new Error(`HiGHS: ${exact.detail}`);
    const gap = (exact.objective - run.objective) / Math.abs(exact.objective);
    const worst = Math.min(...problem.jobs.map((job) => {
      const want = effectiveThroughput(job, exact.x[job.name]);
      return want > 1e-9 ? effectiveThroughput(job, run.x[job.name]) / want : 1;
    }));
    const row = { jobs, nodes: problem.nodes.length, policy, rounds: run.rounds, converged: run.converged, ours_ms: Math.round(ms), highs_ms: Math.round(exact.seconds * 1000), ratio: ms / (exact.seconds * 1000), gap, worst_job_share: worst, violation: planViolation(problem, run.x) };
    rows.push(row);
    console.log(`${String(jobs).padStart(4)}  ${String(row.nodes).padStart(5)} ${policy.padEnd(18)} ${String(run.rounds).padStart(7)} ${String(row.ours_ms).padStart(9)} ${String(row.highs_ms).padStart(9)} ${row.ratio.toFixed(1).padStart(10)}x  ${gap.toExponential(2).padStart(9)}  ${worst.toFixed(4).padStart(15)}  ${row.violation.toExponential(1)}`);
  }
}
console.log(JSON.stringify({ bench: "allocation", rows }));
