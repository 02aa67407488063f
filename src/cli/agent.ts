import path from "node:path";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { runAgent } from "../agent/agent-runner.ts";
import { PROJECT_ROOT } from "../bus/embedded-server.ts";
import { partySession, TLS_OPTIONS } from "./connect-options.ts";
import { fileJournal } from "../agent/agent-journal.ts";
import { NATS_OPTION, positiveIntegerOption, stringOption, tokenOption, type Command, type ParsedArgs } from "../core/command.ts";
import { catoptError } from "../core/errors.ts";
import type { FamilyAgent } from "../core/family.ts";
import { DEFAULT_ROUND_TIMEOUT_MS } from "../core/scenario-fields.ts";
import type { NodeAdapter } from "../core/scenario-format.ts";
import { didYouMean } from "../core/suggest.ts";
import { FAMILIES } from "../families/registry.ts";
import { loadScenario, type LoadedScenario } from "../run/scenario-files.ts";
import { loadIdentity } from "../governance/keystore.ts";
import { GOVERNANCE_OPTION, KEYS_OPTION, keyDirOf, pinnedTrustRoot } from "./identity-options.ts";
import { requireNatsUrl } from "./require-nats.ts";

/** Every node adapter of every family, by name (`--adapter`). */
const nodeAdapters = (): ReadonlyMap<string, NodeAdapter> => new Map(FAMILIES.flatMap((f) => [...(f.scenarios?.nodeAdapters ?? [])]));

export const agentCommand: Command = {
  name: "agent",
  synopsis: "--node <name> (--scenario <scenario> | --adapter <kind> ...) [options]",
  summary: "start the agents of one node against a running NATS deployment",
  description:
    "Start the agents of one node against a running NATS deployment; each solves its own part until the plan is final: every agent the scenario places on the node, or the one agent an adapter makes of what it reads on the node (--adapter, e.g. its accelerators as nvidia-smi lists them).",
  options: {
    scenario: {
      type: "string",
      value: "<scenario>",
      description: "the scenario that describes this node (with --adapter: the one that names the tenant and problem)",
    },
    node: { type: "string", value: "<name>", description: "the node whose agents to start" },
    adapter: {
      type: "string",
      value: "<kind>",
      description: `make the node's agent from what an adapter reads on it: ${[...nodeAdapters().keys()].join(", ")}`,
    },
    input: { type: "string", value: "<file>", description: "the adapter's input (default: run its command on this node, e.g. nvidia-smi)" },
    type: { type: "string", value: "<type>", description: "with --adapter: the type to report, for a model the adapter does not know" },
    tenant: { type: "string", value: "<tenant>", description: "the tenant of the problem (default: the scenario's)" },
    nats: NATS_OPTION,
    "problem-id": { type: "string", value: "<id>", description: "the problem id the coordinator runs under (default: the scenario's)" },
    keys: KEYS_OPTION,
    ...TLS_OPTIONS,
    governance: GOVERNANCE_OPTION,
    coordinator: {
      type: "string",
      value: "<did>",
      description: "pin one coordinator's DID too (default: any coordinator the governance identity admitted in the tenant)",
    },
    journal: {
      type: "string",
      value: "<dir>",
      description: "where it journals its secure contributions, so that it resumes a secure problem after a restart (default: journal/ in the key directory)",
    },
    "min-roster": {
      type: "string",
      value: "<n>",
      description:
        "secure rounds: mask among no fewer than n agents, whatever the problem's threshold (default: the threshold, and a majority of the first roster)",
    },
  },
  details: [
    "Examples:",
    "  catopt agent --scenario cosmos-3asset --node rover-1 --nats nats://10.0.0.5:4222",
    "  catopt agent --node a100-0 --adapter nvidia-smi --tenant platform --problem-id gavel-small --nats nats://10.0.0.5:4222",
    "  catopt agent --node tpu-a --adapter tpu-node --input tpu.json --scenario my-cluster --nats nats://10.0.0.5:4222",
    "Each agent signs with the key named after it (an adapter's agent: the node's name) in the key directory; the governance identity must have admitted it (catopt governance admit).",
    "Start `catopt coordinator` with the same scenario and NATS URL; agents and coordinator may start in any order.",
    "Ctrl-C or SIGTERM makes a scenario's agents leave the problem (a leave event): rounds go on without them. Started again, an agent joins the running problem anew.",
  ],
  run: async (args, io) => {
    const url = requireNatsUrl(args, "agent");
    const node = stringOption(args, "node") ?? missing("--node");
    const minRoster = positiveIntegerOption(args, "min-roster");
    // No problem masks among more agents than a scenario may hold (MAX_ASSETS): a floor above it could never be met.
    if (minRoster !== undefined && minRoster > MAX_ROSTER) throw catoptError("USAGE", `--min-roster expects at most ${MAX_ROSTER}, not ${minRoster}`);
    const reference = stringOption(args, "scenario");
    const loaded = reference === undefined ? undefined : await loadScenario(reference, PROJECT_ROOT);
    const adapterName = stringOption(args, "adapter");
    const parties =
      adapterName !== undefined
        ? await adapterParty(node, adapterName, loaded, args)
        : loaded !== undefined
          ? scenarioParties(node, loaded, args)
          : missing("--scenario (or --adapter, for a node that reads itself)");
    const signers = await Promise.all(parties.agents.map((a) => loadIdentity(keyDirOf(args), a.name)));
    const trustRoot = (await pinnedTrustRoot(args)).did;
    const { bus, accessOf } = await partySession(args, io, url, `catopt-node-${node}`, signers, trustRoot);
    // Ctrl-C (or a service manager's stop) takes the node's agents out of the problem with a
    // leave event, so the coordinator stops waiting for them; a crash does not, and rounds wait.
    const leave = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => leave.abort(`stopped by its operator (${signal})`);
    process.once("SIGINT", onSignal).once("SIGTERM", onSignal);
    try {
      io.out(
        `node ${node}: ${parties.describe}; starting ${parties.agents.map((a) => a.name).join(", ")} on ${parties.tenant}/${parties.problem} at ${url} (Ctrl-C: leave the problem)\n`,
      );
      const outcomes = await Promise.all(
        parties.agents.map(async (agent, i) =>
          runAgent({
            nc: await bus.connect(`agent-${agent.name}`, undefined, accessOf(signers[i])),
            tenant: parties.tenant,
            problem: parties.problem,
            agent,
            planTimeoutMs: parties.roundTimeoutMs * 3,
            signer: signers[i],
            trustRoot,
            coordinator: stringOption(args, "coordinator"),
            minRoster,
            journal: fileJournal(stringOption(args, "journal") ?? path.join(keyDirOf(args), "journal"), parties.tenant, parties.problem, agent.name),
            leave: leave.signal,
          }),
        ),
      );
      const finished = outcomes.find((o) => o.status === "finished");
      if (finished !== undefined) throw catoptError("PROBLEM_FINISHED", finished.error ?? "the problem already ended");
      for (const o of outcomes) {
        io.out(`  ${o.agent}: ${o.status} after ${o.rounds} rounds${o.error ? ` (${o.error})` : ""}\n`);
        // Its own values, as the last round took them: here, on its own node, and nowhere else in a secure problem.
        const values = Object.entries(o.values ?? {});
        if (o.status === "converged" && values.length > 0) io.out(`    its plan: ${values.map(([r, x]) => `${r}=${x.toFixed(2)}`).join("  ")}\n`);
      }
      return outcomes.every((o) => o.status !== "failed") ? 0 : 1;
    } finally {
      process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
      await bus.close();
    }
  },
};

/** The agents one node runs in one problem, and what to say of them. */
type NodeParties = {
  readonly tenant: string;
  readonly problem: string;
  readonly roundTimeoutMs: number;
  readonly describe: string;
  readonly agents: readonly FamilyAgent[];
};

/** Every agent the scenario places on the node. */
function scenarioParties(node: string, { family, scenario }: LoadedScenario, args: ParsedArgs): NodeParties {
  const format = family.scenarios;
  const nodeOf = (agent: string): string => format.nodeOf?.(scenario, agent) ?? agent;
  const names = format.agents(scenario).filter((a) => nodeOf(a) === node);
  if (names.length === 0) {
    const nodes = [...new Set(format.agents(scenario).map(nodeOf))].join(", ");
    throw catoptError("USAGE", `scenario ${scenario.name} places no agent on node "${node}" (its nodes: ${nodes})`);
  }
  const { tenant, problem } = targetOf(args, { family, scenario });
  return {
    tenant,
    problem,
    roundTimeoutMs: scenario.roundTimeoutMs,
    describe: `scenario ${scenario.name}`,
    agents: names.map((name) => format.agent(scenario, tenant, problem, name)),
  };
}

/**
 * The one agent a node makes of what its adapter reads: a file, or the vendor tool's output
 * here. A scenario, if given, names the problem, and must be of the adapter's family and list
 * the node.
 */
async function adapterParty(node: string, adapterName: string, loaded: LoadedScenario | undefined, args: ParsedArgs): Promise<NodeParties> {
  const adapters = nodeAdapters();
  const adapter = adapters.get(adapterName);
  if (adapter === undefined)
    throw catoptError(
      "USAGE",
      `--adapter: unknown adapter "${adapterName}"${didYouMean(adapterName, adapters.keys())} (known: ${[...adapters.keys()].join(", ")})`,
    );
  if (loaded !== undefined) {
    const { family, scenario } = loaded;
    if (family.scenarios.nodeAdapters?.get(adapterName) !== adapter)
      throw catoptError("USAGE", `--adapter ${adapterName} makes no agent of scenario ${scenario.name}'s problems, which are ${family.name}'s`);
    const agents = family.scenarios.agents(scenario);
    if (!agents.includes(node)) throw catoptError("USAGE", `scenario ${scenario.name} has no node "${node}" (its nodes: ${agents.join(", ")})`);
  }
  const { tenant, problem } = targetOf(args, loaded);
  const input = stringOption(args, "input");
  const { text, source } = input === undefined ? await runAdapterCommand(adapter.command, adapter.name) : { text: await readInput(input), source: input };
  const read = adapter.read(node, text, source, stringOption(args, "type"));
  return {
    tenant,
    problem,
    roundTimeoutMs: loaded?.scenario.roundTimeoutMs ?? DEFAULT_ROUND_TIMEOUT_MS,
    describe: read.describe,
    agents: [read.agent(tenant, problem)],
  };
}

/** The tenant and problem: the options', else the scenario's; each a subject token, and never one of the tenants the problem's plans go to for their own eyes. */
function targetOf(args: ParsedArgs, loaded: LoadedScenario | undefined): { tenant: string; problem: string } {
  const tenant = tokenOption(args, "tenant") ?? loaded?.scenario.tenant ?? missing("--tenant (or --scenario)");
  const problem = tokenOption(args, "problem-id") ?? loaded?.scenario.problem ?? missing("--problem-id (or --scenario)");
  if (loaded?.family.scenarios.planTenants(loaded.scenario).includes(tenant)) {
    throw catoptError(
      "USAGE",
      `--tenant ${tenant} is one of the tenants scenario ${loaded.scenario.name}'s plans go to; the problem runs in its own tenant (${loaded.scenario.tenant})`,
    );
  }
  return { tenant, problem };
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
    throw catoptError(
      "ADAPTER_INPUT",
      `${program} could not be run on this node (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): pass --input <file> with its output`,
      err,
    );
  }
}

function missing(option: string): never {
  throw catoptError("USAGE", `agent needs ${option}`);
}

/** The largest roster an agent may insist on: the most agents a problem may have. */
const MAX_ROSTER = 1000;
