import { PROJECT_ROOT } from "../bus/embedded-server.ts";
import { openBus } from "../bus/session.ts";
import { catoptError } from "../core/errors.ts";
import { loadScenario } from "../core/scenario.ts";
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
  details: ["The coordinator reads only the public part of the scenario (resources, constraints, agents); agents keep their objectives."],
  run: async (args, io) => {
    const url = requireNatsUrl(args, "coordinator");
    const reference = stringOption(args, "scenario");
    if (reference === undefined) throw catoptError("USAGE", "coordinator needs --scenario");
    const scenario = await loadScenario(reference, PROJECT_ROOT);
    const problem = stringOption(args, "problem-id") ?? scenario.problem;
    const json = args.values.json === true;
    const signer = await loadIdentity(keyDirOf(args), stringOption(args, "key") ?? "coordinator");
    const trustRoot = await trustRootOf(args);
    const say = (line: string): void => (json ? io.err : io.out)(`${line}\n`);
    const bus = await openBus({ url, replicas: positiveIntegerOption(args, "replicas"), name: "catopt-coordinator" });
    try {
      say(`coordinator of ${scenario.tenant}/${problem} at ${url}: waiting for ${scenario.spec.agents.join(", ")}`);
      const outcome = await runCoordinator({
        nc: bus.nc,
        tenant: scenario.tenant,
        problem,
        open: openEvent(scenario.tenant, problem, scenario.spec),
        roundTimeoutMs: scenario.roundTimeoutMs,
        onRound: (p) => worthPrinting(p.round) && say(`${progressLine(p)}`),
        signer,
        trustRoot,
      });
      if (outcome.status === "failed") throw catoptError("RUN_FAILED", `coordinator of ${scenario.tenant}/${problem} failed: ${outcome.error}`);
      const summary = summarize(outcome.replay, outcome.problem, { scenario: scenario.name, tenant: scenario.tenant, problem, referenceObjective: null });
      if (json) io.out(`${JSON.stringify(summary)}\n`);
      else io.out(`${["", ...planTable(scenario.spec, summary.allocations, scenario.units), "", ...outcomeLines(summary)].join("\n")}\n`);
      return summary.converged ? 0 : 1;
    } finally {
      await bus.close();
    }
  },
};
