import { runAgent } from "../agent/agent-runner.ts";
import { PROJECT_ROOT } from "../bus/embedded-server.ts";
import { openBus } from "../bus/session.ts";
import { catoptError } from "../core/errors.ts";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { ACCELERATOR_ADAPTERS } from "../families/accelerator-allocation/adapters/registry.ts";
import { nodeAgent } from "../families/accelerator-allocation/node-agent.ts";
import { qpAgent } from "../families/energy-qp/agent.ts";
import type { ClusterNode } from "../families/accelerator-allocation/cluster.ts";
import { CLUSTER_FORMAT, parseClusterScenario, type ClusterScenario } from "../families/accelerator-allocation/cluster-scenario.ts";
import { formatOf } from "../core/scenario-fields.ts";
import { parseScenario } from "../families/energy-qp/scenario.ts";
import { readScenarioJson } from "../run/scenario-files.ts";
import { loadIdentity } from "../governance/keystore.ts";
import { NATS_OPTION, stringOption, type Command, type Io, type ParsedArgs } from "./command.ts";
import { GOVERNANCE_OPTION, KEYS_OPTION, keyDirOf, pinnedTrustRoot } from "./identity-options.ts";
import { requireNatsUrl } from "./require-nats.ts";

export const agentCommand: Command = {
  name: "agent",
  synopsis: "--node <name> (--scenario <scenario> | --adapter <kind> ...) [options]",
  summary: "start the agents of one node against a running NATS deployment",
  description:
    "Start the agents of one node against a running NATS deployment; each solves its own part until the plan is final. For a scenario's assets: every asset the scenario places on the node. For a cluster problem: the node agent that owns the node's accelerators, as its adapter reads them (--adapter), or as a cluster scenario lists them.",
  options: {
    scenario: { type: "string", value: "<scenario>", description: "the scenario that describes this node (a cluster scenario also names the tenant and problem)" },
    node: { type: "string", value: "<name>", description: "the node whose agents to start" },
    adapter: { type: "string", value: "<kind>", description: `read this node's accelerators with an adapter: ${[...ACCELERATOR_ADAPTERS.keys()].join(", ")}` },
    input: { type: "string", value: "<file>", description: "the adapter's input (default: run its command on this node, e.g. nvidia-smi)" },
    type: { type: "string", value: "<type>", description: "the accelerator type, for a model the adapter does not know" },
    tenant: { type: "string", value: "<tenant>", description: "the platform tenant of the cluster problem (default: the scenario's)" },
    nats: NATS_OPTION,
    "problem-id": { type: "string", value: "<id>", description: "the problem id the coordinator runs under (default: the scenario's)" },
    keys: KEYS_OPTION,
    governance: GOVERNANCE_OPTION,
    coordinator: { type: "string", value: "<did>", description: "pin one coordinator's DID too (default: any coordinator the governance identity admitted in the tenant)" },
  },
  details: [
    "Examples:",
    "  catopt agent --scenario cosmos-3asset --node rover-1 --nats nats://10.0.0.5:4222",
    "  catopt agent --node a100-0 --adapter nvidia-smi --tenant platform --problem-id gavel-small --nats nats://10.0.0.5:4222",
    "  catopt agent --node tpu-a --adapter tpu-node --input tpu.json --scenario my-cluster --nats nats://10.0.0.5:4222",
    "Each agent signs with the key named after it (a node agent: the node's name) in the key directory; the governance identity must have admitted it (catopt governance admit).",
    "Start `catopt coordinator` with the same scenario and NATS URL; agents and coordinator may start in any order.",
    "Ctrl-C or SIGTERM makes a scenario's agents leave the problem (a leave event): rounds go on without them. Started again, an agent joins the running problem anew.",
  ],
  run: async (args, io) => {
    const url = requireNatsUrl(args, "agent");
    const node = stringOption(args, "node") ?? missing("--node");
    const reference = stringOption(args, "scenario");
    const read = reference === undefined ? undefined : await readScenarioJson(reference, PROJECT_ROOT);
    const cluster = read !== undefined && formatOf(read.json) === CLUSTER_FORMAT ? parseClusterScenario(read.json, read.file) : undefined;
    if (stringOption(args, "adapter") !== undefined || cluster !== undefined) return runNodeAgentCommand(url, node, cluster, args, io);
    if (read === undefined) missing("--scenario (or --adapter, for a node of a cluster problem)");
    const scenario = parseScenario(read.json, read.file);
    const assets = scenario.assets.filter((a) => a.node === node);
    if (assets.length === 0) {
      const nodes = [...new Set(scenario.assets.map((a) => a.node))].join(", ");
      throw catoptError("USAGE", `scenario ${scenario.name} places no agent on node "${node}" (its nodes: ${nodes})`);
    }
    const problem = stringOption(args, "problem-id") ?? scenario.problem;
    const signers = await Promise.all(assets.map((a) => loadIdentity(keyDirOf(args), a.agent)));
    const trustRoot = (await pinnedTrustRoot(args)).did;
    const bus = await openBus({ url, name: `catopt-node-${node}` });
    // Ctrl-C (or a service manager's stop) takes the node's agents out of the problem with a
    // leave event, so the coordinator stops waiting for them; a crash does not, and rounds wait.
    const leave = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => leave.abort(`stopped by its operator (${signal})`);
    process.once("SIGINT", onSignal).once("SIGTERM", onSignal);
    try {
      io.out(`node ${node}: starting ${assets.map((a) => a.agent).join(", ")} on ${scenario.tenant}/${problem} at ${url} (Ctrl-C: leave the problem)\n`);
      const outcomes = await Promise.all(
        assets.map(async (asset, i) =>
          runAgent({
            nc: await bus.connect(`agent-${asset.agent}`),
            tenant: scenario.tenant,
            problem,
            agent: qpAgent(scenario.tenant, problem, asset.problem),
            planTimeoutMs: scenario.roundTimeoutMs * 3,
            signer: signers[i],
            trustRoot,
            coordinator: stringOption(args, "coordinator"),
            leave: leave.signal,
          }),
        ),
      );
      const finished = outcomes.find((o) => o.status === "finished");
      if (finished !== undefined) throw catoptError("PROBLEM_FINISHED", finished.error ?? "the problem already ended");
      for (const o of outcomes) io.out(`  ${o.agent}: ${o.status} after ${o.rounds} rounds${o.error ? ` (${o.error})` : ""}\n`);
      return outcomes.every((o) => o.status !== "failed") ? 0 : 1;
    } finally {
      process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
      await bus.close();
    }
  },
};

/** The node agent of a cluster problem: its accelerators from an adapter, or from the cluster scenario. */
async function runNodeAgentCommand(url: string, name: string, cluster: ClusterScenario | undefined, args: ParsedArgs, io: Io): Promise<number> {
  const tenant = stringOption(args, "tenant") ?? cluster?.tenant ?? missing("--tenant (or --scenario with a cluster scenario)");
  const problem = stringOption(args, "problem-id") ?? cluster?.problem ?? missing("--problem-id (or --scenario with a cluster scenario)");
  const node = await nodeOf(name, cluster, args);
  if (cluster !== undefined && !cluster.cluster.nodes.some((n) => n.name === name)) {
    throw catoptError("USAGE", `cluster scenario ${cluster.name} has no node "${name}" (its nodes: ${cluster.cluster.nodes.map((n) => n.name).join(", ")})`);
  }
  const signer = await loadIdentity(keyDirOf(args), name);
  const bus = await openBus({ url, name: `catopt-node-${name}` });
  try {
    io.out(`node ${name}: ${node.count} x ${node.type}; node agent of ${tenant}/${problem} at ${url}\n`);
    const outcome = await runAgent({ nc: bus.nc, tenant, problem, agent: nodeAgent(tenant, problem, node), planTimeoutMs: (cluster?.roundTimeoutMs ?? 10_000) * 3, signer, trustRoot: (await pinnedTrustRoot(args)).did, coordinator: stringOption(args, "coordinator") });
    io.out(`  ${outcome.agent}: ${outcome.status} after ${outcome.rounds} rounds${outcome.error ? ` (${outcome.error})` : ""}\n`);
    return outcome.status === "converged" ? 0 : 1;
  } finally {
    await bus.close();
  }
}

/** The node's accelerators: what its adapter reads (a file, or the vendor tool's output here), else the scenario's entry. */
async function nodeOf(name: string, cluster: ClusterScenario | undefined, args: ParsedArgs): Promise<ClusterNode> {
  const adapterName = stringOption(args, "adapter");
  if (adapterName === undefined) {
    const planned = cluster?.cluster.nodes.find((n) => n.name === name);
    if (planned === undefined) throw catoptError("USAGE", `cluster scenario ${cluster?.name} has no node "${name}"`);
    return planned;
  }
  const adapter = ACCELERATOR_ADAPTERS.get(adapterName);
  if (adapter === undefined) throw catoptError("USAGE", `--adapter: unknown adapter "${adapterName}" (known: ${[...ACCELERATOR_ADAPTERS.keys()].join(", ")})`);
  const input = stringOption(args, "input");
  const { text, source } = input === undefined ? await runAdapterCommand(adapter.command, adapter.name) : { text: await readInput(input), source: input };
  const { devices: _devices, ...node } = adapter.toNode(name, text, source);
  const type = stringOption(args, "type");
  return type === undefined ? node : { ...node, type };
}

async function readInput(file: string): Promise<string> {
  return readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw catoptError("INPUT_INVALID", `--input ${file}: cannot read it (${err.code ?? err.message})`, err);
  });
}

async function runAdapterCommand(command: readonly string[], adapter: string): Promise<{ text: string; source: string }> {
  const [program, ...rest] = command;
  if (program === undefined) throw catoptError("USAGE", `the ${adapter} adapter reads a file: pass --input <file>`);
  try {
    const { stdout } = await promisify(execFile)(program, rest, { maxBuffer: 16 * 2 ** 20 });
    return { text: stdout, source: command.join(" ") };
  } catch (err) {
    throw catoptError("ADAPTER_INPUT", `${program} could not be run on this node (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): pass --input <file> with its output`, err);
  }
}

function missing(option: string): never {
  throw catoptError("USAGE", `agent needs ${option}`);
}
