import { PROJECT_ROOT } from "../bus/embedded-server.ts";
import { openBus } from "../bus/session.ts";
import { catoptError } from "../core/errors.ts";
import { allocationPicture } from "../families/accelerator-allocation/render.ts";
import { CLUSTER_FORMAT, parseClusterScenario } from "../families/accelerator-allocation/cluster-scenario.ts";
import { formatOf } from "../core/scenario-fields.ts";
import { parseScenario } from "../families/energy-qp/scenario.ts";
import { readScenarioJson } from "../run/scenario-files.ts";
import { clusterOpenEvent } from "../run/run-cluster.ts";
import { type OpenEvent } from "../coordinator/coordinator-events.ts";
import { openEvent } from "../families/energy-qp/fold.ts";
import { runCoordinator } from "../coordinator/coordinator-runner.ts";
import { summarize, type Outcome } from "../replay/summary.ts";
import { JSON_OPTION, NATS_OPTION, positiveIntegerOption, stringOption, type Command } from "./command.ts";
import { outcomeLines, planTable, progressLine, worthPrinting } from "./render.ts";
import { requireNatsUrl } from "./require-nats.ts";
import { GOVERNANCE_OPTION, KEYS_OPTION, keyDirOf, trustRootOf } from "./identity-options.ts";
import { loadIdentity } from "../governance/keystore.ts";

export const coordinatorCommand: Command = {
  name: "coordinator",
  synopsis: "--scenario <scenario> [options]",
  summary: "run the coordinator of a scenario's problem against a running NATS deployment",
  description:
    "Run the coordinator of a scenario's problem against a running NATS deployment: open the problem, close rounds, publish plans until converged. Started again on a problem the stream already holds (after a crash), it replays the stream and resumes where it stopped.",
  options: {
    scenario: { type: "string", value: "<scenario>", description: "the scenario whose global constraints and ADMM settings to use" },
    nats: NATS_OPTION,
    json: JSON_OPTION,
    "problem-id": { type: "string", value: "<id>", description: "run under this problem id (default: the scenario's)" },
    replicas: { type: "string", value: "<n>", description: "stream replicas when creating the streams" },
    keys: KEYS_OPTION,
    key: { type: "string", value: "<name>", description: 'the coordinator\'s key in the key directory (default "coordinator")' },
    governance: GOVERNANCE_OPTION,
  },
  details: [
    "The coordinator reads only the public part of the scenario (resources, constraints, agents); agents keep their objectives.",
    "With a cluster scenario it opens the allocation LP, and publishes each tenant's plan on catopt.<tenant>.plan.<problem>: the governance identity must admit it as coordinator in the platform tenant and in every job tenant.",
  ],
  run: async (args, io) => {
    const url = requireNatsUrl(args, "coordinator");
    const reference = stringOption(args, "scenario");
    if (reference === undefined) throw catoptError("USAGE", "coordinator needs --scenario");
    const target = await targetOf(reference);
    const tenant = target.tenant;
    const problem = stringOption(args, "problem-id") ?? target.problem;
    const json = args.values.json === true;
    const signer = await loadIdentity(keyDirOf(args), stringOption(args, "key") ?? "coordinator");
    const trustRoot = await trustRootOf(args);
    const say = (line: string): void => (json ? io.err : io.out)(`${line}\n`);
    const bus = await openBus({ url, replicas: positiveIntegerOption(args, "replicas"), name: "catopt-coordinator" });
    try {
      say(`coordinator of ${tenant}/${problem} at ${url}: waiting for ${target.agents.join(", ")}`);
      const outcome = await runCoordinator({
        nc: bus.nc,
        tenant,
        problem,
        open: target.open(problem),
        roundTimeoutMs: target.roundTimeoutMs,
        onResume: (p) => say(`the stream already holds ${tenant}/${problem}: resuming after round ${p.round} (${p.phase})`),
        onRound: (p) => target.worthPrinting(p.round, p.phase) && say(`${progressLine(p)}`),
        signer,
        trustRoot,
      });
      if (outcome.status === "failed") throw catoptError("RUN_FAILED", `coordinator of ${tenant}/${problem} failed: ${outcome.error}`);
      if (outcome.alreadyFinished) throw catoptError("PROBLEM_FINISHED", `${tenant}/${problem} already ended (${outcome.status} after round ${outcome.problem?.round ?? 0}): start another with --problem-id <new id>`);
      const summary = summarize(outcome.replay, outcome.problem, { scenario: target.name, tenant, problem, referenceObjective: null });
      if (json) io.out(`${JSON.stringify(summary)}\n`);
      else io.out(`${["", ...target.picture(summary.allocations), "", ...outcomeLines(summary)].join("\n")}\n`);
      return summary.converged ? 0 : 1;
    } finally {
      await bus.close();
    }
  },
};

/** What the coordinator needs of either kind of scenario. */
type Target = {
  readonly name: string;
  readonly tenant: string;
  readonly problem: string;
  readonly agents: readonly string[];
  readonly roundTimeoutMs: number;
  open(problem: string): OpenEvent;
  worthPrinting(round: number, phase: string): boolean;
  picture(allocations: Outcome["allocations"]): string[];
};

async function targetOf(reference: string): Promise<Target> {
  const { file, json } = await readScenarioJson(reference, PROJECT_ROOT);
  if (formatOf(json) === CLUSTER_FORMAT) {
    const cluster = parseClusterScenario(json, file);
    return {
      ...cluster,
      agents: cluster.cluster.nodes.map((n) => n.name),
      open: (problem) => clusterOpenEvent(cluster.tenant, problem, cluster),
      worthPrinting: (round, phase) => round % 100 === 0 || phase !== "running",
      picture: (allocations) => allocationPicture(cluster.cluster, allocations),
    };
  }
  const scenario = parseScenario(json, file);
  return {
    ...scenario,
    agents: scenario.spec.agents,
    open: (problem) => openEvent(scenario.tenant, problem, scenario.spec),
    worthPrinting: (round) => worthPrinting(round),
    picture: (allocations) => planTable(scenario.spec, allocations, scenario.units),
  };
}
