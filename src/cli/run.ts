import { sci } from "../core/text-charts.ts";
import { PROJECT_ROOT } from "../bus/embedded-server.ts";
import { JSON_OPTION, NATS_OPTION, type Command, type Io, type ParsedArgs } from "../core/command.ts";
import { catoptError } from "../core/errors.ts";
import { convergenceChart } from "../core/text-charts.ts";
import { FAMILIES } from "../families/registry.ts";
import { loadScenario } from "../run/scenario-files.ts";
import { runScenario, type RunReport } from "../run/run-scenario.ts";
import { recoveryLines } from "../run/recovery.ts";
import { runOptionsOf } from "./run-options.ts";
import { TLS_OPTIONS } from "./connect-options.ts";
import { outcomeLines, progressLine, worthPrinting } from "./render.ts";

const RUN_OPTIONS = {
  nats: NATS_OPTION,
  json: JSON_OPTION,
  record: { type: "string", value: "<file>", description: "write the run's stream to a recorded scenario stream file" },
  "problem-id": {
    type: "string",
    value: "<id>",
    description: "run under this problem id (default: the scenario's), e.g. on a stream that already holds a run",
  },
  replicas: { type: "string", value: "<n>", description: "stream replicas when creating streams on a cluster (default: as in streams/)" },
  keys: {
    type: "string",
    value: "<dir>",
    description: 'sign with the keys "governance", "coordinator" and each agent\'s from this directory (default: keys made for the run)',
  },
  ...TLS_OPTIONS,
} as const;

export const runCommand: Command = {
  name: "run",
  synopsis: "<scenario> [options]",
  summary: "run a scenario end to end and check the plan against HiGHS and by replay",
  description:
    "Run a scenario end to end: one agent per asset (each on its own connection), the coordinator, ADMM rounds to convergence; then check the plan against a centralized HiGHS solve and the live state hash against a replay of the stream.",
  options: RUN_OPTIONS,
  details: [
    "<scenario> is a name under scenarios/ (cosmos-3asset, gavel-small), a folder with scenario.json, or a file.",
    `Its "format" says its problem family: ${FAMILIES.flatMap((f) => (f.scenarios === undefined ? [] : [`${f.scenarios.format} (${f.name})`])).join(", ")}.`,
    "Exit status: 0 when the plan converged, 1 otherwise or on error, 2 on a usage error.",
  ],
  run: async (args, io) => {
    const reference = args.positionals[0];
    if (reference === undefined) throw catoptError("USAGE", "run needs a scenario, e.g. catopt run cosmos-3asset");
    return executeRun(reference, args, io);
  },
};

export const demoCommand: Command = {
  name: "demo",
  synopsis: "[options]",
  summary: "the embedded default: run scenarios/cosmos-3asset on a private nats-server",
  description:
    "The embedded default: start nats-server from nats-server.conf on a free loopback port with a temporary store, run scenarios/cosmos-3asset end to end, print the plan, stop the server.",
  options: RUN_OPTIONS,
  run: (args, io) => executeRun("cosmos-3asset", args, io),
};

async function executeRun(reference: string, args: ParsedArgs, io: Io): Promise<number> {
  const loaded = await loadScenario(reference, PROJECT_ROOT);
  const { family, scenario } = loaded;
  const format = family.scenarios;
  const json = args.values.json === true;
  const say = (line: string): void => (json ? io.err : io.out)(`${line}\n`);
  const live = io.isTTY && !json;
  say(format.describe(scenario));
  const report = await runScenario(loaded, {
    ...(await runOptionsOf(args, say)),
    onRound: (problem) => {
      if (live) io.out(`\r${progressLine(problem)}`);
      else if (worthPrinting(problem.round, format.progressEvery) || problem.phase !== "running") say(progressLine(problem));
    },
  });
  if (live) io.out("\n");
  if (json) {
    io.out(`${JSON.stringify(jsonReport(report))}\n`);
  } else {
    const recovery =
      scenario.faults.length > 0 || scenario.rounds.quorum !== undefined || scenario.rounds.deadlineMs !== undefined ? recoveryLines(report.recovery) : [];
    const picture = format.picture(report.ended ?? scenario, report.allocations);
    io.out(
      `\n${[...convergenceChart(report.history), "", ...picture, "", ...outcomeLines(report), ...runLines(report, format.describeObjective?.bind(format, scenario)), ...recovery].join("\n")}\n`,
    );
  }
  const problems = [
    report.ledger !== null && !report.ledger.verified ? `the run's ledger does not verify: ${report.ledger.problem}` : null,
    report.replay_state_hash !== report.state_hash
      ? `replaying the stream gave state hash ${report.replay_state_hash}, the live run ${report.state_hash}`
      : null,
    report.tenant_plans !== null && report.tenant_plans.rejected > 0
      ? `replay refused ${report.tenant_plans.rejected} tenant plan(s): ${report.tenant_plans.first_rejection}`
      : null,
  ].filter((p) => p !== null);
  for (const p of problems) io.err(`catopt: ${p}\n`);
  if (problems.length > 0) return 1;
  if (report.inaccuracy !== null) io.err(`catopt: ${report.tenant}/${report.problem} is not solved: ${report.inaccuracy}\n`);
  // A problem with noise never converges on its residuals: it ends when its rounds or its budget do, and its gap says how good its plan is.
  else if (report.privacy !== null && (report.status === "max-rounds" || report.status === "budget-exhausted")) return 0;
  else if (!report.converged) io.err(`catopt: ${report.tenant}/${report.problem} did not converge within ${scenario.maxRounds} rounds\n`);
  return report.converged ? 0 : 1;
}

/** What a run adds to the outcome: the policy's reading of the objective, who left, HiGHS's time, throughput, other tenants' plans, memory. */
function runLines(r: RunReport, describeObjective: ((objective: number) => string) | undefined): string[] {
  const events = r.events / Math.max(r.wall_ms / 1000, 1e-9);
  return [
    ...(describeObjective === undefined || r.objective === null ? [] : [`  policy               ${describeObjective(r.objective)}`]),
    ...(r.left.length === 0 ? [] : [`  left mid-run         ${r.left.join(", ")} (the HiGHS reference is the problem without them)`]),
    `  HiGHS central solve  ${(r.reference_seconds * 1000).toFixed(0)} ms; this run ${(r.wall_ms / 1000).toFixed(2)} s = ${(r.wall_ms / 1000 / Math.max(r.reference_seconds, 1e-9)).toFixed(0)}x`,
    `  events/s             ${events.toFixed(0)}; ${(r.bytes_per_round / 1024).toFixed(1)} KiB a round`,
    r.secure.on
      ? `  secure aggregation   on: agents sent masked contributions, the coordinator learned only sums${r.secure.retried === 0 ? "" : `; ${r.secure.retried} round(s) tried again with a smaller roster`}`
      : "  secure aggregation   off: the coordinator read each agent's values (see README: secure aggregation)",
    ...(r.privacy === null
      ? []
      : [
          `  differential privacy epsilon ${r.privacy.epsilon.toFixed(3)} spent at delta ${r.privacy.delta} (zCDP rho ${sci(r.privacy.rho)} of the ${sci(r.privacy.rho_held)} the problem held): every sum carried discrete Gaussian noise`,
        ]),
    ...(r.tenant_plans === null
      ? []
      : [
          `  tenant plans         ${r.tenants.length} tenants, final plan of ${r.tenant_plans.final} seen by replay, ${r.tenant_plans.rejected} refused (catopt watch catopt.<tenant>.plan.${r.problem})`,
        ]),
    `  peak memory          ${r.peak_rss_mib.toFixed(0)} MiB (all agents, coordinator, consumers)${r.server_peak_rss_mib === null ? "" : ` + nats-server ${r.server_peak_rss_mib.toFixed(0)} MiB`}`,
  ];
}

/** The --json object: the outcome and the run's facts; the residual history stays out (it is long). */
function jsonReport(report: RunReport): object {
  const { history: _history, agents, ...rest } = report;
  return { ...rest, agents: agents.map((a) => ({ agent: a.agent, status: a.status, rounds: a.rounds })) };
}
