import { PROJECT_ROOT } from "../bus/embedded-server.ts";
import { partySession, TLS_OPTIONS } from "./connect-options.ts";
import { JSON_OPTION, NATS_OPTION, positiveIntegerOption, stringOption, tokenOption, type Command } from "../core/command.ts";
import { catoptError } from "../core/errors.ts";
import { loadScenario } from "../run/scenario-files.ts";
import { runCoordinator } from "../coordinator/coordinator-runner.ts";
import { summarize } from "../replay/summary.ts";
import { outcomeLines, progressLine, worthPrinting } from "./render.ts";
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
    ...TLS_OPTIONS,
    key: { type: "string", value: "<name>", description: 'the coordinator\'s key in the key directory (default "coordinator")' },
    governance: GOVERNANCE_OPTION,
  },
  details: [
    "The coordinator reads only the public part of the scenario (resources, constraints, agents); agents keep their objectives.",
    "A problem that publishes plans in other tenants too (a cluster's tenant plans on catopt.<tenant>.plan.<problem>) needs the coordinator admitted in each of them.",
  ],
  run: async (args, io) => {
    const url = requireNatsUrl(args, "coordinator");
    const reference = stringOption(args, "scenario");
    if (reference === undefined) throw catoptError("USAGE", "coordinator needs --scenario");
    const { family, scenario } = await loadScenario(reference, PROJECT_ROOT);
    const format = family.scenarios;
    const tenant = scenario.tenant;
    const problem = tokenOption(args, "problem-id") ?? scenario.problem;
    const json = args.values.json === true;
    const signer = await loadIdentity(keyDirOf(args), stringOption(args, "key") ?? "coordinator");
    const trustRoot = await trustRootOf(args);
    const say = (line: string): void => (json ? io.err : io.out)(`${line}\n`);
    const { bus } = await partySession(args, io, url, "catopt-coordinator", [signer], trustRoot, positiveIntegerOption(args, "replicas"));
    try {
      say(`coordinator of ${tenant}/${problem} at ${url}: waiting for ${format.agents(scenario).join(", ")}`);
      const outcome = await runCoordinator({
        nc: bus.nc,
        tenant,
        problem,
        open: format.open(scenario, tenant, problem),
        roundTimeoutMs: scenario.roundTimeoutMs,
        ...scenario.rounds,
        onResume: (p) => say(`the stream already holds ${tenant}/${problem}: resuming after round ${p.round} (${p.phase})`),
        onRound: (p) => (worthPrinting(p.round, format.progressEvery) || p.phase !== "running") && say(progressLine(p)),
        signer,
        trustRoot,
      });
      if (outcome.status === "failed") throw catoptError("RUN_FAILED", `coordinator of ${tenant}/${problem} failed: ${outcome.error}`);
      if (outcome.alreadyFinished)
        throw catoptError(
          "PROBLEM_FINISHED",
          `${tenant}/${problem} already ended (${outcome.status} after round ${outcome.problem?.round ?? 0}): start another with --problem-id <new id>`,
        );
      const summary = summarize(outcome.replay, outcome.problem, { scenario: scenario.name, tenant, problem, referenceObjective: null });
      if (json) io.out(`${JSON.stringify(summary)}\n`);
      else {
        // A coordinator of secure rounds holds the fleet's sums, no agent's values: each agent prints its own.
        const picture =
          Object.keys(summary.allocations).length === 0
            ? ["secure aggregation: this coordinator learned only the fleet's sums; each agent prints its own values"]
            : format.picture(scenario, summary.allocations);
        io.out(`${["", ...picture, "", ...outcomeLines(summary)].join("\n")}\n`);
      }
      return summary.converged ? 0 : 1;
    } finally {
      await bus.close();
    }
  },
};
