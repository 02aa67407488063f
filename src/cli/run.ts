import { PROJECT_ROOT } from "../bus/embedded-server.ts";
import { catoptError } from "../core/errors.ts";
import { CLUSTER_FORMAT, parseClusterScenario } from "../families/accelerator-allocation/cluster-scenario.ts";
import { formatOf } from "../core/scenario-fields.ts";
import { parseScenario } from "../families/energy-qp/scenario.ts";
import { readScenarioJson } from "../run/scenario-files.ts";
import { runScenario, type RunReport } from "../run/run-scenario.ts";
import { recoveryLines } from "../run/recovery.ts";
import { JSON_OPTION, NATS_OPTION, type Command, type Io, type ParsedArgs } from "./command.ts";
import { runOptionsOf } from "./run-options.ts";
import { executeClusterRun } from "./run-cluster.ts";
import { convergenceChart, outcomeLines, planTable, progressLine, worthPrinting } from "./render.ts";

const RUN_OPTIONS = {
  nats: NATS_OPTION,
  json: JSON_OPTION,
  record: { type: "string", value: "<file>", description: "write the run's stream to a recorded scenario stream file" },
  "problem-id": { type: "string", value: "<id>", description: "run under this problem id (default: the scenario's), e.g. on a stream that already holds a run" },
  replicas: { type: "string", value: "<n>", description: "stream replicas when creating streams on a cluster (default: as in streams/)" },
  keys: { type: "string", value: "<dir>", description: 'sign with the keys "governance", "coordinator" and each agent\'s from this directory (default: keys made for the run)' },
} as const;

export const runCommand: Command = {
  name: "run",
  synopsis: "<scenario> [options]",
  summary: "run a scenario end to end and check the plan against HiGHS and by replay",
  description: "Run a scenario end to end: one agent per asset (each on its own connection), the coordinator, ADMM rounds to convergence; then check the plan against a centralized HiGHS solve and the live state hash against a replay of the stream.",
  options: RUN_OPTIONS,
  details: [
    "<scenario> is a name under scenarios/ (cosmos-3asset, gavel-small), a folder with scenario.json, or a file.",
    "A cluster scenario (format catopt-cluster/1) runs one node agent per node and publishes each tenant's plan on catopt.<tenant>.plan.<problem>.",
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
  description: "The embedded default: start nats-server from nats-server.conf on a free loopback port with a temporary store, run scenarios/cosmos-3asset end to end, print the plan, stop the server.",
  options: RUN_OPTIONS,
  run: (args, io) => executeRun("cosmos-3asset", args, io),
};

async function executeRun(reference: string, args: ParsedArgs, io: Io): Promise<number> {
  const { file, json: parsed } = await readScenarioJson(reference, PROJECT_ROOT);
  if (formatOf(parsed) === CLUSTER_FORMAT) return executeClusterRun(parseClusterScenario(parsed, file), args, io);
  const json = args.values.json === true;
  const say = (line: string): void => (json ? io.err : io.out)(`${line}\n`);
  const live = io.isTTY && !json;
  const scenario = parseScenario(parsed, file);
  say(`scenario ${scenario.name}: ${scenario.assets.length} agents (${scenario.assets.map((a) => a.agent).join(", ")}), ${scenario.spec.resources.length} resources, ${scenario.spec.constraints.length} global constraints`);
  const report = await runScenario(scenario, {
    ...runOptionsOf(args, say),
    onRound: (problem) => {
      if (live) io.out(`\r${progressLine(problem)}`);
      else if (worthPrinting(problem.round) || problem.phase !== "running") say(progressLine(problem));
    },
  });
  if (live) io.out("\n");
  if (json) {
    io.out(`${JSON.stringify(jsonReport(report))}\n`);
  } else {
    const recovery = scenario.faults.length > 0 || scenario.rounds.quorum !== undefined || scenario.rounds.deadlineMs !== undefined ? recoveryLines(report.recovery) : [];
    io.out(`\n${[...convergenceChart(report.history), "", ...planTable(scenario.spec, report.allocations, scenario.units), "", ...outcomeLines(report), ...recovery].join("\n")}\n`);
  }
  if (report.ledger !== null && !report.ledger.verified) {
    io.err(`catopt: the run's ledger does not verify: ${report.ledger.problem}\n`);
    return 1;
  }
  if (report.replay_state_hash !== report.state_hash) {
    io.err(`catopt: replaying the stream gave state hash ${report.replay_state_hash}, the live run ${report.state_hash}\n`);
    return 1;
  }
  if (report.inaccuracy !== null) io.err(`catopt: ${report.tenant}/${report.problem} is not solved: ${report.inaccuracy}\n`);
  else if (!report.converged) io.err(`catopt: ${report.tenant}/${report.problem} did not converge within ${scenario.spec.admm.maxRounds} rounds\n`);
  return report.converged ? 0 : 1;
}

/** The --json object: the outcome and the run's facts; the residual history stays out (it is long). */
function jsonReport(report: RunReport): object {
  const { history: _history, agents, ...rest } = report;
  return { ...rest, agents: agents.map((a) => ({ agent: a.agent, status: a.status, rounds: a.rounds })) };
}
