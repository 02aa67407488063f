import { PROJECT_ROOT } from "../bus/embedded-server.ts";
import { openBus } from "../bus/session.ts";
import { catoptError } from "../core/errors.ts";
import { allocationPicture } from "../allocation/render.ts";
import { CLUSTER_FORMAT, parseClusterScenario } from "../allocation/cluster-scenario.ts";
import { formatOf, parseScenario, readScenarioJson, type Scenario } from "../core/scenario.ts";
import { clusterOpenEvent } from "../run/run-cluster.ts";
import { openEvent } from "../coordinator/coordinator-events.ts";
import { runCoordinator } from "../coordinator/coordinator-runner.ts";
import { summarize } from "../replay/summary.ts";
import { JSON_OPTION, NATS_OPTION, positiveIntegerOption, stringOption, type Command } from "./command.ts";
import { outcomeLines, planTable, progressLine, worthPrinting } from "./render.ts";
import { requireNatsUrl } from "./require-nats.ts";
import { GOVERNANCE_OPTION, KEYS_OPTION, keyDirOf, trustRootOf } from "./identity-options.ts";
import { loadIdentity } from "../governance/keystore.ts";

export const coordinatorCommand: Command = {
  name: "coordinator",
  synopsis: "--scenario <scenario> [options]",
  summary: "run the coordinator of a scenario's problem against a running NATS deployment",
  description: "Run the coordinator of a scenario's problem against a running NATS deployment: open the problem, close rounds, publish plans until converged.",
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
    const { file, json: parsed } = await readScenarioJson(reference, PROJECT_ROOT);
    const cluster = formatOf(parsed) === CLUSTER_FORMAT ? parseClusterScenario(parsed, file) : undefined;
    const scenario = cluster === undefined ? parseScenario(parsed, file) : undefined;
    const tenant = cluster?.tenant ?? (scenario as Scenario).tenant;
    const problem = stringOption(args, "problem-id") ?? cluster?.problem ?? (scenario as Scenario).problem;
    const json = args.values.json === true;
    const signer = await loadIdentity(keyDirOf(args), stringOption(args, "key") ?? "coordinator");
    const trustRoot = await trustRootOf(args);
    const say = (line: string): void => (json ? io.err : io.out)(`${line}\n`);
    const agents = cluster?.cluster.nodes.map((n) => n.name) ?? (scenario as Scenario).spec.agents;
    const bus = await openBus({ url, replicas: positiveIntegerOption(args, "replicas"), name: "catopt-coordinator" });
    try {
      say(`coordinator of ${tenant}/${problem} at ${url}: waiting for ${agents.join(", ")}`);
      const outcome = await runCoordinator({
        nc: bus.nc,
        tenant,
        problem,
        open: cluster === undefined ? openEvent(tenant, problem, (scenario as Scenario).spec) : clusterOpenEvent(tenant, problem, cluster),
        roundTimeoutMs: cluster?.roundTimeoutMs ?? (scenario as Scenario).roundTimeoutMs,
        onRound: (p) => (cluster === undefined ? worthPrinting(p.round) : p.round % 100 === 0 || p.phase !== "running") && say(`${progressLine(p)}`),
        signer,
        trustRoot,
      });
      if (outcome.status === "failed") throw catoptError("RUN_FAILED", `coordinator of ${tenant}/${problem} failed: ${outcome.error}`);
      const summary = summarize(outcome.replay, outcome.problem, { scenario: cluster?.name ?? (scenario as Scenario).name, tenant, problem, referenceObjective: null });
      if (json) io.out(`${JSON.stringify(summary)}\n`);
      else {
        const plan = cluster === undefined ? planTable((scenario as Scenario).spec, summary.allocations, (scenario as Scenario).units) : allocationPicture(cluster.cluster, summary.allocations);
        io.out(`${["", ...plan, "", ...outcomeLines(summary)].join("\n")}\n`);
      }
      return summary.converged ? 0 : 1;
    } finally {
      await bus.close();
    }
  },
};
