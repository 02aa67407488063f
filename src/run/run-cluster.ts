import { setMaxListeners } from "node:events";
import { readFile } from "node:fs/promises";
import { runAgent } from "../agent/agent-runner.ts";
import { nodeAgent } from "../families/accelerator-allocation/node-agent.ts";
import type { AgentOutcome } from "../agent/agent-runner.ts";
import type { TypeAllocation } from "../families/accelerator-allocation/cluster.ts";
import type { ClusterScenario } from "../families/accelerator-allocation/cluster-scenario.ts";
import { clusterAllocation, type ClusterState, isClusterState } from "../families/accelerator-allocation/cluster-fold.ts";
import { policyForm } from "../families/accelerator-allocation/policy.ts";
import { solveAllocationReference } from "../families/accelerator-allocation/reference-lp.ts";
import { checkSlos } from "../families/accelerator-allocation/slo-check.ts";
import { openBus } from "../bus/session.ts";
import { publishEvent } from "../governance/signed-publish.ts";
import { EVENTS_STREAM } from "../bus/streams.ts";
import { systemClock, type Clock } from "../core/clock.ts";
import { catoptError } from "../core/errors.ts";
import { eventId, type CatoptEvent } from "../core/event.ts";
import { governanceSubject, parseSubject, roundSubject } from "../core/subjects.ts";
import { describeFault } from "../core/faults.ts";
import { runCoordinator } from "../coordinator/coordinator-runner.ts";
import { startGovernance } from "../governance/governance-consumer.ts";
import { admitEvent } from "../governance/governance-events.ts";
import type { Identity } from "../governance/identity.ts";
import { runIdentities } from "../governance/run-identities.ts";
import { problemKey } from "../replay/reducer.ts";
import type { StreamMessage } from "../core/stream-message.ts";
import { RECORDING_FORMAT, writeRecording } from "../replay/recording.ts";
import { replayStream } from "../replay/replay.ts";
import { stateHash } from "../replay/state-hash.ts";
import { summarize, type Outcome } from "../replay/summary.ts";
import { closeLedger, requireNoFailure, LEDGER_ORIGIN, type LedgerOutcome, type RunOptions } from "./run-scenario.ts";

/**
 * One whole run of a cluster scenario over NATS: HiGHS's central solve of the same LP, a bus,
 * one node agent per node (each on its own connection), the coordinator (prox steps, cluster
 * plans for the agents, tenant plans on each tenant's subject), the governance consumer's
 * ledger, then a replay of the stream that must reproduce the live state hash.
 */
export type ClusterRunReport = Outcome & {
  readonly wall_ms: number;
  readonly nats_url: string;
  readonly embedded_server: boolean;
  readonly replay_state_hash: string;
  /** The tenant plans as a replay checked them: refused ones, and tenants whose final plan was seen. */
  readonly tenant_plans: { readonly rejected: number; readonly final: number; readonly first_rejection: string | null };
  readonly reference_seconds: number;
  /** Nodes that left mid-run: the reference is the cluster without them. */
  readonly left: readonly string[];
  readonly history: ClusterState["history"];
  readonly agents: readonly AgentOutcome[];
  readonly tenants: readonly string[];
  readonly recording: string | null;
  readonly governance: string;
  readonly ledger: LedgerOutcome | null;
  /** Peak resident memory of this process (every agent, the coordinator and the consumers), and of the embedded server. */
  readonly peak_rss_mib: number;
  readonly server_peak_rss_mib: number | null;
};

export type ClusterRunOptions = Omit<RunOptions, "onRound"> & { readonly onRound?: (state: ClusterState) => void; readonly clock?: Clock };

export function clusterOpenEvent(tenant: string, problem: string, scenario: ClusterScenario): CatoptEvent<"cluster-open/1"> {
  return { schema: "cluster-open/1", id: eventId(tenant, problem, "open", 0), tenant, problem, round: 0, base: -1, body: { cluster: scenario.cluster, admm: scenario.admm, tenantPlanEvery: scenario.tenantPlanEvery } };
}

export const clusterTenantsOf = (scenario: ClusterScenario): string[] => [...new Set(scenario.cluster.jobs.map((j) => j.tenant))];

export async function runCluster(scenario: ClusterScenario, options: ClusterRunOptions = {}): Promise<ClusterRunReport> {
  const clock = options.clock ?? systemClock;
  const note = options.onNote ?? (() => {});
  const { cluster } = scenario;
  const tenant = scenario.tenant;
  const problem = options.problemId ?? scenario.problem;
  const tenants = clusterTenantsOf(scenario);
  if (tenants.includes(tenant)) throw catoptError("SCENARIO_INVALID", `${scenario.source}: scenario.tenant "${tenant}" is the platform's tenant; jobs belong to their own tenants`);

  if (cluster.policy === "cost") {
    const slos = checkSlos(cluster);
    if (slos !== undefined && !slos.feasible) throw catoptError("PROBLEM_INFEASIBLE", `${scenario.source}: the SLOs cannot all be met (${slos.short.length} jobs fall short; see catopt allocate)`);
  }
  const reference = await solveAllocationReference(cluster, policyForm(cluster));
  if (reference.status !== "optimal") throw catoptError("PROBLEM_INFEASIBLE", `${scenario.source}: the cluster's LP is ${reference.status}`);

  const nodes = cluster.nodes.map((n) => n.name);
  const ids = await runIdentities(nodes, options.keys);
  const bus = await openBus({ url: options.url, replicas: options.replicas, name: "catopt-run" });
  try {
    note(bus.embedded ? `embedded nats-server at ${bus.url} (temporary store)` : `NATS at ${bus.url}`);
    if ((await bus.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: roundSubject(tenant, problem) })) !== null) {
      throw catoptError("STREAM_CONFLICT", `stream ${EVENTS_STREAM} already holds a run of problem ${tenant}/${problem}: pass --problem-id <new id> for a fresh one`);
    }
    const governance = bus.embedded ? await startGovernance({ nc: await bus.connect("governance"), signer: ids.governance, origin: LEDGER_ORIGIN }) : undefined;

    // The coordinator speaks in the platform tenant and, with tenant plans, in every job tenant.
    note(`governance ${ids.governance.did}${ids.ephemeral ? " (keys made for this run)" : ""}`);
    const admissions = [
      ...[tenant, ...tenants].map((t) => [t, admitEvent(t, ids.coordinator.did, "coordinator", "coordinator")] as const),
      ...nodes.map((n) => [tenant, admitEvent(tenant, (ids.agents.get(n) as Identity).did, "agent", n)] as const),
    ];
    await Promise.all(admissions.map(([t, e]) => publishEvent(bus.js, governanceSubject(t, "admit"), e, ids.governance)));

    const started = clock();
    const stopAgents = new AbortController();
    setMaxListeners(cluster.nodes.length + 8, stopAgents.signal); // one listener per node agent, by design
    // A scripted leave (a node drained): its agent leaves with a leave event once its round has closed.
    const leaving = new Map(scenario.faults.map((f) => [f.agent, { round: f.round, leave: new AbortController() }]));
    for (const f of scenario.faults) note(describeFault(f));
    const agents = Promise.all(
      cluster.nodes.map(async (node) =>
        runAgent({
          nc: await bus.connect(`node-${node.name}`),
          tenant,
          problem,
          agent: nodeAgent(tenant, problem, node),
          planTimeoutMs: scenario.roundTimeoutMs * 3,
          clock,
          signal: stopAgents.signal,
          leave: leaving.get(node.name)?.leave.signal,
          signer: ids.agents.get(node.name) as Identity,
          trustRoot: ids.governance.did,
          coordinator: ids.coordinator.did,
        }),
      ),
    );
    const coordinator = await runCoordinator({
      nc: await bus.connect("coordinator"),
      tenant,
      problem,
      open: clusterOpenEvent(tenant, problem, scenario),
      roundTimeoutMs: scenario.roundTimeoutMs,
      ...scenario.rounds,
      clock,
      onRound: (state) => {
        for (const l of leaving.values()) if (state.round >= l.round && !l.leave.signal.aborted) l.leave.abort(`drained after round ${l.round}`);
        if (isClusterState(state)) options.onRound?.(state);
      },
      signer: ids.coordinator,
      trustRoot: ids.governance.did,
    });
    if (coordinator.status === "failed") stopAgents.abort("the coordinator failed");
    const agentOutcomes = await agents;
    const wall = clock() - started;
    requireNoFailure(coordinator, agentOutcomes, `${tenant}/${problem}`, "node agent");

    const ledger = governance === undefined ? null : await closeLedger(bus, governance, ids.governance.did, note);
    // Nodes that left took their accelerators with them: the run's optimum is the cluster's without them.
    const state = coordinator.problem;
    const left = Object.keys((isClusterState(state) ? state.left : undefined) ?? {});
    const target = left.length === 0 ? reference : await solveAllocationReference({ ...cluster, nodes: cluster.nodes.filter((n) => !left.includes(n.name)) }, policyForm(cluster));
    if (target.status !== "optimal") throw catoptError("PROBLEM_INFEASIBLE", `${scenario.source}: without the nodes that left, the cluster's LP is ${target.status}`);
    if (left.length > 0) note(`reference: solved again without ${left.join(", ")}, which left`);
    note("replaying the stream to check the live state");
    const kept: StreamMessage[] = [];
    // Two folds in one read: the platform tenant's messages (what the live coordinator folded: the
    // hashes must agree), and those with every tenant's plans, which must all be accepted.
    let read = 0;
    const [replay, withTenantPlans] = await replayStream(bus.js, EVENTS_STREAM, ids.governance.did, [{ tenant, problem }, { tenant, problem, planTenants: tenants }], (m) => {
      if (options.record !== undefined) kept.push(m);
      if (++read % 10_000 === 0) note(`replay: ${read} events`);
    });
    if (options.record !== undefined) {
      await writeRecording(options.record, {
        header: { format: RECORDING_FORMAT, stream: EVENTS_STREAM, tenant, problem, scenario: scenario.name, referenceObjective: target.objective, governance: ids.governance.did, checkpoint: ledger?.checkpoint ?? null, vkey: ledger?.vkey ?? null, leafHashes: null, messages: kept.length },
        messages: kept,
      });
      note(`recorded ${kept.length} messages to ${options.record}`);
    }
    const outcome = summarize(coordinator.replay, state, { scenario: scenario.name, tenant, problem, referenceObjective: target.objective });
    const checked = withTenantPlans.problems[problemKey(tenant, problem)];
    // The tenant plans' own refusals: the rest (a late delta with asynchronous rounds) the platform's fold refused too.
    const planRefusals = withTenantPlans.rejected.filter((r) => tenants.includes(parseSubject(r.subject)?.tenant ?? ""));
    const tenantPlans = isClusterState(checked) ? checked.tenantPlans : {};
    return {
      ...outcome,
      tenant_plans: { rejected: planRefusals.length, final: tenants.filter((t) => tenantPlans[t] === state?.round).length, first_rejection: planRefusals[0]?.reason ?? null },
      wall_ms: wall,
      nats_url: bus.url,
      embedded_server: bus.embedded,
      replay_state_hash: stateHash(replay),
      reference_seconds: reference.seconds,
      left,
      history: state?.history ?? [],
      agents: agentOutcomes,
      tenants,
      recording: options.record ?? null,
      governance: ids.governance.did,
      ledger,
      peak_rss_mib: process.resourceUsage().maxRSS / 1024,
      server_peak_rss_mib: bus.serverPid === undefined ? null : await peakRssMib(bus.serverPid),
    };
  } finally {
    await bus.close();
  }
}

/** A process's peak resident set (VmHWM), where /proc has it. */
async function peakRssMib(pid: number): Promise<number | null> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  return kb === undefined ? null : Number(kb) / 1024;
}

/** The plan a run ends with: X[job][type], repaired. */
export const finalAllocation = (state: ClusterState): TypeAllocation => clusterAllocation(state);
