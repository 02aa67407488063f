// bench/allocation: the node agents' ADMM beside HiGHS solving the same LP centrally, for 256,
// 1,024 and 2,048 jobs on Gavel-like clusters (4 types, nodes of 8), in one run. Rows per size and
// policy: "residuals" (in one process, as before certified stopping: the residual rule, rho fixed
// after balancing), "in-process" (today's: stopped at a certified gap of 1e-3, OSQP's rho rule;
// every node step and coordinator step in one loop, no bus) and "nats" (catopt run, secure
// aggregation on: one node agent per node on its own connection and key, the coordinator, the
// governance consumer and ledger, a real nats-server, replay check; all on this machine).
// Prints rounds, wall time, events/s, the relative objective gap, the worst job's share of its
// exact effective throughput, the violation, HiGHS's time and ours / HiGHS's as a ratio, and the
// rounds of each row over the "residuals" row's.
// Usage: npm run bench:allocation [-- sizes=256,1024 policies=max-throughput modes=residuals,in-process,nats]
import { effectiveThroughput, type ClusterProblem, type PolicyName, type TypeAllocation } from "../src/families/accelerator-allocation/cluster.ts";
import type { ClusterScenario } from "../src/families/accelerator-allocation/cluster-scenario.ts";
import { policyForm } from "../src/families/accelerator-allocation/policy.ts";
import { solveAllocationReference } from "../src/families/accelerator-allocation/reference-lp.ts";
import { planViolation } from "../src/families/accelerator-allocation/repair.ts";
import { ALLOCATION_ADMM, solveAllocationInProcess } from "../src/families/accelerator-allocation/solve-in-process.ts";
import { syntheticCluster } from "../src/families/accelerator-allocation/synthetic.ts";
import { runScenario } from "../src/run/run-scenario.ts";
import { withFamily } from "../src/run/scenario-files.ts";
import { clusterScenarios } from "../src/families/accelerator-allocation/scenario-format.ts";

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.split("=") as [string, string]));
const sizes = (args.sizes ?? "256,1024,2048").split(",").map(Number);
const policies = (args.policies ?? "max-throughput,max-min-fairness").split(",") as PolicyName[];
const modes = (args.modes ?? "residuals,in-process,nats").split(",");

console.log("allocation: node agents' ADMM vs HiGHS (central LP), Gavel-like clusters, 4 types, nodes of 8");
console.log(
  "jobs  nodes policy             mode        rounds   ours ms  HiGHS ms  time ratio  events/s  rel. gap  worst job share  violation  peak RSS  rounds/residuals",
);
const rows: Record<string, unknown>[] = [];
for (const jobs of sizes) {
  const perType = Math.max(1, Math.round(jobs / 128)); // 2,048 jobs: 16 nodes per type, 64 nodes of 8
  // Past about 1,000 jobs the default epsAbs stops max-min plans short of 1e-3 (see AGENTS.md).
  const admm = jobs > 1000 ? { ...ALLOCATION_ADMM, epsAbs: 5e-7, censor: 5e-7 } : ALLOCATION_ADMM;
  for (const policy of policies) {
    const problem = syntheticCluster({ seed: 42, jobs, tenants: 8, nodes: { V100: perType, P100: perType, K80: perType, A100: perType }, perNode: 8, policy });
    const exact = await solveAllocationReference(problem, policyForm(problem));
    if (exact.status !== "optimal") throw new Error(`HiGHS: ${exact.detail}`);
    const highsMs = exact.seconds * 1000;
    let baseRounds: number | undefined;
    const measure = (mode: string, rounds: number, ms: number, objective: number, x: TypeAllocation, events: number | null, rssMiB: number | null) => {
      const gap = (exact.objective - objective) / Math.abs(exact.objective);
      const worst = worstShare(problem, exact.x, x);
      const row = {
        jobs,
        nodes: problem.nodes.length,
        policy,
        mode,
        rounds,
        ours_ms: Math.round(ms),
        highs_ms: Math.round(highsMs),
        ratio: ms / highsMs,
        events_per_s: events === null ? null : Math.round(events / (ms / 1000)),
        gap,
        worst_job_share: worst,
        violation: planViolation(problem, x),
        peak_rss_mib: rssMiB,
      };
      rows.push(row);
      console.log(
        `${String(jobs).padStart(4)}  ${String(row.nodes).padStart(5)} ${policy.padEnd(18)} ${mode.padEnd(10)} ${String(rounds).padStart(7)} ${String(row.ours_ms).padStart(9)} ${String(row.highs_ms).padStart(9)} ${row.ratio.toFixed(1).padStart(10)}x ${String(row.events_per_s ?? "-").padStart(9)}  ${gap.toExponential(2).padStart(9)}  ${worst.toFixed(4).padStart(15)}  ${row.violation.toExponential(1).padStart(9)}  ${(rssMiB === null ? "-" : `${Math.round(rssMiB)} MiB`).padStart(8)}  ${baseRounds === undefined ? "-" : `${(rounds / baseRounds).toFixed(2)}x`}`,
      );
    };
    if (modes.includes("residuals")) {
      const started = performance.now();
      const run = solveAllocationInProcess(
        problem,
        { ...admm, gap: undefined, rhoEvery: undefined, balanceRounds: 100 },
        (round) => round % 500 === 0 && process.stderr.write(`\r  ${jobs} jobs ${policy} by residuals: round ${round}`),
      );
      process.stderr.write("\r\x1b[K");
      baseRounds = run.rounds;
      measure("residuals", run.rounds, performance.now() - started, run.objective, run.x, null, null);
    }
    if (modes.includes("in-process")) {
      const started = performance.now();
      const run = solveAllocationInProcess(
        problem,
        admm,
        (round) => round % 500 === 0 && process.stderr.write(`\r  ${jobs} jobs ${policy} in-process: round ${round}`),
      );
      process.stderr.write("\r\x1b[K");
      measure("in-process", run.rounds, performance.now() - started, run.objective, run.x, null, null);
    }
    if (modes.includes("nats")) {
      const scenario = benchScenario(problem, `bench-${jobs}-${policy}`, admm);
      if (scenario.secure === undefined) throw new Error(`${scenario.name} runs plain: ${scenario.plainBecause}`);
      const report = await runScenario(withFamily(clusterScenarios, scenario), {
        onRound: (state) => state.round % 100 === 0 && process.stderr.write(`\r  ${jobs} jobs ${policy} over NATS: round ${state.round}`),
      });
      process.stderr.write("\r\x1b[K");
      if (!report.converged) throw new Error(`${jobs} jobs ${policy} over NATS: ${report.status}`);
      measure("nats", report.rounds, report.wall_ms, report.objective ?? NaN, report.allocations as TypeAllocation, report.events, report.peak_rss_mib);
    }
  }
}
console.log(JSON.stringify({ bench: "allocation", rows }));

/** The cluster as a scenario file states it, read as `catopt run` reads one: secure aggregation on, as by default. */
function benchScenario(cluster: ClusterProblem, name: string, admm: typeof ALLOCATION_ADMM): ClusterScenario {
  const { rhoEvery, gap, censor, ...rest } = admm;
  return clusterScenarios.parse(
    {
      format: "catopt-cluster/1",
      name,
      description: "bench/allocation",
      tenant: "platform",
      problem: name,
      policy: cluster.policy,
      nodes: cluster.nodes,
      jobs: cluster.jobs,
      ...(cluster.prices === undefined ? {} : { prices: cluster.prices }),
      ...(cluster.quotas === undefined ? {} : { quotas: cluster.quotas }),
      admm: { ...rest, ...(rhoEvery === undefined ? {} : { rhoEvery }), ...(gap === undefined ? {} : { gap }), ...(censor === undefined ? {} : { censor }) },
      tenantPlanEvery: 50,
      roundTimeoutMs: 60_000,
    },
    "bench/allocation",
  );
}

/** The smallest ratio, over jobs, of the job's effective throughput to what HiGHS's plan gives it. */
function worstShare(problem: ClusterProblem, exact: TypeAllocation, x: TypeAllocation): number {
  return Math.min(
    ...problem.jobs.map((job) => {
      const want = effectiveThroughput(job, exact[job.name]);
      return want > 1e-9 ? effectiveThroughput(job, x[job.name]) / want : 1;
    }),
  );
}
