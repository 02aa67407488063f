import { describeObjective } from "../families/accelerator-allocation/policy.ts";
import { allocationPicture } from "../families/accelerator-allocation/render.ts";
import type { ClusterScenario } from "../families/accelerator-allocation/cluster-scenario.ts";
import { runCluster, type ClusterRunReport } from "../run/run-cluster.ts";
import type { Io, ParsedArgs } from "./command.ts";
import { convergenceChart, outcomeLines, progressLine } from "./render.ts";
import { runOptionsOf } from "./run-options.ts";

/** `catopt run <cluster scenario>`: node agents and the coordinator over NATS, then the plan per tenant. */
export async function executeClusterRun(scenario: ClusterScenario, args: ParsedArgs, io: Io): Promise<number> {
  const json = args.values.json === true;
  const say = (line: string): void => (json ? io.err : io.out)(`${line}\n`);
  const live = io.isTTY && !json;
  const { cluster } = scenario;
  const tenants = new Set(cluster.jobs.map((j) => j.tenant));
  say(`cluster ${scenario.name}: ${cluster.nodes.length} node agents, ${cluster.jobs.length} jobs of ${tenants.size} tenants (${[...tenants].join(", ")}), policy ${cluster.policy}`);
  const report = await runCluster(scenario, {
    ...runOptionsOf(args, say),
    onRound: (state) => {
      if (live) io.out(`\r${progressLine(state)}`);
      else if (state.round % 100 === 0 || state.phase !== "running") say(progressLine(state)); // a pipe gets every 100th round
    },
  });
  if (live) io.out("\n");
  if (json) {
    const { history: _history, agents, ...rest } = report;
    io.out(`${JSON.stringify({ ...rest, agents: agents.map((a) => ({ agent: a.agent, status: a.status, rounds: a.rounds })) })}\n`);
  } else {
    io.out(`\n${[...convergenceChart(report.history), "", ...allocationPicture(cluster, report.allocations), "", ...outcomeLines(report), ...clusterLines(scenario, report)].join("\n")}\n`);
  }
  return verdict(report, io);
}

function clusterLines(scenario: ClusterScenario, r: ClusterRunReport): string[] {
  const events = r.events / Math.max(r.wall_ms / 1000, 1e-9);
  return [
    `  policy               ${r.objective === null ? "n/a" : describeObjective(scenario.cluster, r.objective)}`,
    ...(r.left.length === 0 ? [] : [`  left mid-run         ${r.left.join(", ")} (the HiGHS reference is the cluster without them)`]),
    `  HiGHS central solve  ${(r.reference_seconds * 1000).toFixed(0)} ms; this run ${(r.wall_ms / 1000).toFixed(2)} s = ${(r.wall_ms / 1000 / Math.max(r.reference_seconds, 1e-9)).toFixed(0)}x`,
    `  events/s             ${events.toFixed(0)}`,
    `  tenant plans         ${r.tenants.length} tenants, final plan of ${r.tenant_plans.final} seen by replay, ${r.tenant_plans.rejected} refused (catopt watch catopt.<tenant>.plan.${r.problem})`,
    `  peak memory          ${r.peak_rss_mib.toFixed(0)} MiB (all agents, coordinator, consumers)${r.server_peak_rss_mib === null ? "" : ` + nats-server ${r.server_peak_rss_mib.toFixed(0)} MiB`}`,
  ];
}

function verdict(r: ClusterRunReport, io: Io): number {
  const problems = [
    r.ledger !== null && !r.ledger.verified ? `the run's ledger does not verify: ${r.ledger.problem}` : null,
    r.replay_state_hash !== r.state_hash ? `replaying the stream gave state hash ${r.replay_state_hash}, the live run ${r.state_hash}` : null,
    r.tenant_plans.rejected > 0 ? `replay refused ${r.tenant_plans.rejected} tenant plan(s): ${r.tenant_plans.first_rejection}` : null,
    r.inaccuracy !== null ? `${r.tenant}/${r.problem} is not solved: ${r.inaccuracy}` : !r.converged ? `${r.tenant}/${r.problem} did not converge within ${r.rounds} rounds` : null,
  ].filter((p) => p !== null);
  for (const p of problems) io.err(`catopt: ${p}\n`);
  return problems.length === 0 ? 0 : 1;
}
