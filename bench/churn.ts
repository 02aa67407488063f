/**
 * Re-planning as jobs come and go, in one process: a cluster scenario's plan, then a run of churn
 * events (each: a share of the jobs finish and as many arrive, copies of running jobs with
 * throughputs measured 10% apart), each solved three ways to a certified gap of 1e-3 (the
 * scenario's admm.gap): HiGHS centrally, the node agents' ADMM from zeros (cold), and from where
 * the last plan ended (warm: churn.ts warmStart). Prints, per event, HiGHS ms, cold rounds and ms,
 * warm rounds and ms; then the median and 95th percentile of warm/cold and warm/HiGHS.
 *
 *   npm run bench:churn -- [--scenario gavel-2000] [--events 20] [--share 0.01] [--seed 1]
 */
import { parseArgs } from "node:util";
import { PROJECT_ROOT } from "../src/bus/embedded-server.ts";
import { applyChange, warmStart, type ClusterChange } from "../src/families/accelerator-allocation/churn.ts";
import type { ClusterJob, ClusterProblem } from "../src/families/accelerator-allocation/cluster.ts";
import { policyForm } from "../src/families/accelerator-allocation/policy.ts";
import { solveAllocationReference } from "../src/families/accelerator-allocation/reference-lp.ts";
import { clusterScenarios } from "../src/families/accelerator-allocation/scenario-format.ts";
import { solveAllocationInProcess, type AllocationRun } from "../src/families/accelerator-allocation/solve-in-process.ts";
import { loadScenarioOf } from "../src/run/scenario-files.ts";
import { seededRandom } from "../src/secure/discrete-gaussian.ts";

const { values } = parseArgs({ options: { scenario: { type: "string" }, events: { type: "string" }, share: { type: "string" }, seed: { type: "string" } } });
const name = values.scenario ?? "gavel-2000";
const events = Number(values.events ?? 20);
const share = Number(values.share ?? 0.01);
// A share past half would depart more jobs than a cluster holds (and arrive as many copies of them).
if (!(Number.isInteger(events) && events >= 1 && events <= 1000)) refuse(`--events: a whole number of events from 1 to 1000, not ${values.events}`);
if (!(share > 0 && share <= 0.5)) refuse(`--share: a share of the jobs in (0, 0.5], not ${values.share}`);
const scenario = await loadScenarioOf(clusterScenarios, name, PROJECT_ROOT);
const random = seededRandom(`churn ${values.seed ?? 1}`);
const uniform = (): number => Number(random.uniformBelow(1_000_000n)) / 1e6;

/** One churn event: `share` of the jobs, half finishing, as many arriving (copies of running jobs, throughputs 10% apart). */
function churnOf(problem: ClusterProblem, event: number): ClusterChange {
  const count = Math.max(2, Math.round(problem.jobs.length * share));
  const pool = [...problem.jobs];
  const pick = (): ClusterJob => pool.splice(Math.floor(uniform() * pool.length), 1)[0];
  const depart = Array.from({ length: Math.floor(count / 2) }, () => pick().name);
  const arrive = Array.from({ length: count - depart.length }, (_, i): ClusterJob => {
    const model = pick();
    const throughput = Object.fromEntries(Object.entries(model.throughput).map(([type, t]) => [type, t * (0.9 + 0.2 * uniform())]));
    return { ...model, name: `arrived-${event}-${i}`, throughput };
  });
  return { arrive, depart, throughput: {} };
}

const timed = <T>(f: () => T): [T, number] => {
  const started = performance.now();
  const result = f();
  return [result, performance.now() - started];
};
const solve = (problem: ClusterProblem, from?: AllocationRun["end"]): AllocationRun => solveAllocationInProcess(problem, scenario.admm, undefined, from);

console.log(
  `churn: ${name} (${scenario.cluster.jobs.length} jobs, ${scenario.cluster.nodes.length} nodes, ${scenario.cluster.policy}), ${events} events of ${share * 100}% of the jobs, certified gap ${scenario.admm.gap}`,
);
let problem = scenario.cluster;
const [first, firstMs] = timed(() => solve(problem));
console.log(`first plan: ${first.rounds} rounds, ${firstMs.toFixed(0)} ms (certified ${first.certifiedGap.toExponential(2)})`);
let warm = first;
console.log("event  jobs  HiGHS ms   cold rounds   cold ms   warm rounds   warm ms   warm/cold rounds   warm/HiGHS ms   warm gap to HiGHS");
const rows: { highs: number; cold: number; coldMs: number; warm: number; warmMs: number; gap: number }[] = [];
for (let e = 1; e <= events; e++) {
  process.stderr.write(`\r  event ${e} of ${events}`);
  const after = applyChange(problem, churnOf(problem, e));
  const exact = await solveAllocationReference(after, policyForm(after));
  if (exact.status !== "optimal") throw new Error(`event ${e}: HiGHS ${exact.detail}`);
  // Cold and warm alternate which goes first, so that neither always runs on a warmer process.
  const runCold = (): [AllocationRun, number] => timed(() => solve(after));
  const runWarm = (): [AllocationRun, number] => timed(() => solve(after, warmStart(problem, warm.end, after)));
  const warmFirst = e % 2 === 1;
  const first = warmFirst ? runWarm() : runCold();
  const second = warmFirst ? runCold() : runWarm();
  const [[cold, coldMs], [next, warmMs]] = warmFirst ? [second, first] : [first, second];
  if (!cold.converged || !next.converged) throw new Error(`event ${e}: cold ${cold.rounds} rounds, warm ${next.rounds}: not converged`);
  const gap = (exact.objective - next.objective) / Math.abs(exact.objective);
  const row = { highs: exact.seconds * 1000, cold: cold.rounds, coldMs, warm: next.rounds, warmMs, gap };
  rows.push(row);
  process.stderr.write("\r\x1b[K");
  console.log(
    `${String(e).padStart(5)} ${String(after.jobs.length).padStart(5)} ${row.highs.toFixed(0).padStart(9)} ${String(row.cold).padStart(13)} ${coldMs.toFixed(0).padStart(9)} ${String(row.warm).padStart(13)} ${warmMs.toFixed(0).padStart(9)} ${(row.warm / row.cold).toFixed(2).padStart(18)} ${(warmMs / row.highs).toFixed(1).padStart(15)}x ${gap.toExponential(2).padStart(19)}`,
  );
  [problem, warm] = [after, next];
}
const quantile = (xs: number[], q: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
};
const warmOverCold = rows.map((r) => r.warm / r.cold);
const warmOverHighs = rows.map((r) => r.warmMs / r.highs);
const summary = {
  bench: "churn",
  scenario: name,
  events,
  warm_rounds_median: quantile(
    rows.map((r) => r.warm),
    0.5,
  ),
  warm_over_cold_rounds_median: quantile(warmOverCold, 0.5),
  warm_over_cold_rounds_p95: quantile(warmOverCold, 0.95),
  warm_over_highs_ms_median: quantile(warmOverHighs, 0.5),
  warm_over_highs_ms_p95: quantile(warmOverHighs, 0.95),
  worst_gap_to_highs: Math.max(...rows.map((r) => r.gap)),
};
console.log(
  `warm rounds: median ${summary.warm_rounds_median}; warm/cold rounds: median ${summary.warm_over_cold_rounds_median.toFixed(2)}x, p95 ${summary.warm_over_cold_rounds_p95.toFixed(2)}x; warm/HiGHS ms: median ${summary.warm_over_highs_ms_median.toFixed(1)}x, p95 ${summary.warm_over_highs_ms_p95.toFixed(1)}x; worst gap to HiGHS ${summary.worst_gap_to_highs.toExponential(2)}`,
);
console.log(JSON.stringify(summary));

function refuse(reason: string): never {
  process.stderr.write(`bench:churn: ${reason}\n`);
  process.exit(1);
}
