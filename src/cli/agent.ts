import { runAgent } from "../agent/agent-runner.ts";
import { PROJECT_ROOT } from "../bus/embedded-server.ts";
import { openBus } from "../bus/session.ts";
import { catoptError } from "../core/errors.ts";
import { loadScenario } from "../core/scenario.ts";
import { loadIdentity } from "../governance/keystore.ts";
import { NATS_OPTION, stringOption, type Command } from "./command.ts";
import { KEYS_OPTION, keyDirOf } from "./identity-options.ts";
import { requireNatsUrl } from "./require-nats.ts";

export const agentCommand: Command = {
  name: "agent",
  synopsis: "--scenario <scenario> --node <name> [options]",
  summary: "start the agents of one node against a running NATS deployment",
  description: "Start the agents of one node (every asset the scenario places there) against a running NATS deployment; each solves its own part until the plan is final.",
  options: {
    scenario: { type: "string", value: "<scenario>", description: "the scenario that describes this node's assets" },
    node: { type: "string", value: "<name>", description: "the node whose agents to start" },
    nats: NATS_OPTION,
    "problem-id": { type: "string", value: "<id>", description: "the problem id the coordinator runs under (default: the scenario's)" },
    keys: KEYS_OPTION,
    coordinator: { type: "string", value: "<did>", description: "the coordinator's DID (default: trust the signer of the problem's open event)" },
  },
  details: [
    "Each agent signs with the key named after it in the key directory; the governance identity must have admitted it (catopt governance admit).",
    "Start `catopt coordinator` with the same scenario and NATS URL; agents and coordinator may start in any order.",
  ],
  run: async (args, io) => {
    const url = requireNatsUrl(args, "agent");
    const reference = stringOption(args, "scenario") ?? missing("--scenario");
    const node = stringOption(args, "node") ?? missing("--node");
    const scenario = await loadScenario(reference, PROJECT_ROOT);
    const assets = scenario.assets.filter((a) => a.node === node);
    if (assets.length === 0) {
      const nodes = [...new Set(scenario.assets.map((a) => a.node))].join(", ");
      throw catoptError("USAGE", `scenario ${scenario.name} places no agent on node "${node}" (its nodes: ${nodes})`);
    }
    const problem = stringOption(args, "problem-id") ?? scenario.problem;
    const signers = await Promise.all(assets.map((a) => loadIdentity(keyDirOf(args), a.agent)));
    const bus = await openBus({ url, name: `catopt-node-${node}` });
    try {
      io.out(`node ${node}: starting ${assets.map((a) => a.agent).join(", ")} on ${scenario.tenant}/${problem} at ${url}\n`);
      const outcomes = await Promise.all(
        assets.map(async (asset, i) =>
          runAgent({
            nc: await bus.connect(`agent-${asset.agent}`),
            tenant: scenario.tenant,
            problem,
            local: asset.problem,
            planTimeoutMs: scenario.roundTimeoutMs * 3,
            signer: signers[i],
            coordinator: stringOption(args, "coordinator"),
          }),
        ),
      );
      for (const o of outcomes) io.out(`  ${o.agent}: ${o.status} after ${o.rounds} rounds${o.error ? ` (${o.error})` : ""}\n`);
      return outcomes.every((o) => o.status === "converged") ? 0 : 1;
    } finally {
      await bus.close();
    }
  },
};

function missing(option: string): never {
  throw catoptError("USAGE", `agent needs ${option}`);
}
