import { setMaxListeners } from "node:events";
import { readFile } from "node:fs/promises";
import { runAgent, type AgentOutcome } from "../agent/agent-runner.ts";
import { openBus, type BusSession } from "../bus/session.ts";
import { startGovernance, type GovernanceConsumer } from "../governance/governance-consumer.ts";
import { verifyLedgerStream } from "../governance/ledger-source.ts";
import { retrying, RETRY_PATIENCE_MS } from "../bus/retry.ts";
import { EVENTS_STREAM } from "../bus/streams.ts";
import { systemClock, type Clock } from "../core/clock.ts";
import { catoptError } from "../core/errors.ts";
import type { FamilyProblem, PlanFacts, ProblemFamily } from "../core/family.ts";
import type { ReferenceSolution, ScenarioBase } from "../core/scenario-format.ts";
import { scriptedPublisher, type ScriptedTimeline } from "./scripted-events.ts";
import type { StreamMessage } from "../core/stream-message.ts";
import type { AnyEvent } from "../core/event.ts";
import { eventKindOf } from "../families/registry.ts";
import { governanceSubject, isToken, parseSubject, roundSubject } from "../core/subjects.ts";
import { publishEvent } from "../governance/signed-publish.ts";
import { admitEvent, privacyBudgetEvent, privacyGrantEvent } from "../governance/governance-events.ts";
import { epsilonFor } from "../secure/zcdp.ts";
import type { Identity } from "../governance/identity.ts";
import { runIdentities } from "../governance/run-identities.ts";
import { applyGovernance, emptyAdmission, verifyMessage } from "../governance/admission.ts";
import { localSecurity, type LocalSecurity, type RunSecurity } from "../governance/local-security.ts";
import { grantsOf } from "../governance/nats-permissions.ts";
import { runCoordinator, type CoordinatorOutcome } from "../coordinator/coordinator-runner.ts";
import { problemKey, roundRules, type AnyProblemState, type ReplayState } from "../replay/reducer.ts";
import { writeRecording, RECORDING_FORMAT } from "../replay/recording.ts";
import { replayStream } from "../replay/replay.ts";
import { stateHash } from "../replay/state-hash.ts";
import { summarize, type Outcome } from "../replay/summary.ts";
import { QUIET_MS } from "../bus/read.ts";
import { startLocalCluster, type LocalCluster } from "../bus/local-cluster.ts";
import { startFaultScript, type FaultActions } from "./fault-script.ts";
import { recoveryReader, type Recovery } from "./recovery.ts";
import type { LoadedScenario } from "./scenario-files.ts";

/**
 * One whole run of a scenario of any family: the centralized HiGHS reference, a bus (the
 * embedded server, --nats, or a local 3-server cluster when a fault kills a server), one agent
 * per party of the scenario (each on its own connection, as on its own node), the coordinator,
 * the scripted faults, the governance consumer's ledger, then a replay of the stream that must
 * reproduce the live state hash. The family (core/scenario-format.ts) says what the agents,
 * the open event and the reference are; this file knows no family.
 */
export type RunOptions = {
  /** A NATS server to use; the embedded default server when absent. */
  readonly url?: string;
  /** Overrides the scenario's problem id, for a fresh run on a stream that already holds one. */
  readonly problemId?: string;
  /** Writes the run's messages as a recorded scenario stream to this file. */
  readonly record?: string;
  readonly replicas?: number;
  /** A key directory holding "governance", "coordinator" and each agent's key; fresh keys for this run when absent. */
  readonly keys?: string;
  /** Lifetime of the credentials of a run on its own server (default: an hour; each party renews its own before then). */
  readonly credentialTtlSeconds?: number;
  /**
   * The security of the deployment at `url`, when its governance identity is the run's (the key
   * directory's): each party then connects with credentials for its roles, over TLS.
   */
  readonly security?: RunSecurity;
  readonly clock?: Clock;
  readonly onRound?: (problem: AnyProblemState) => void;
  readonly onNote?: (line: string) => void;
};

/** How the plans a problem published in other tenants (a cluster's tenant plans) fared in a replay. */
export type TenantPlans = { readonly rejected: number; readonly final: number; readonly first_rejection: string | null };

export type RunReport = Outcome & {
  readonly wall_ms: number;
  readonly nats_url: string;
  readonly embedded_server: boolean;
  /** The hash of a fresh replay of the stream after the run; equal to state_hash. */
  readonly replay_state_hash: string;
  /** The optimum the plan is judged against: without the agents that left, if any. */
  readonly reference_allocations: PlanFacts["allocations"];
  /** How long HiGHS took to solve the whole problem centrally. */
  readonly reference_seconds: number;
  /** Agents that left mid-run. */
  readonly left: readonly string[];
  /** The tenants the problem published plans in besides its own, and how those plans fared (null: none). */
  readonly tenants: readonly string[];
  readonly tenant_plans: TenantPlans | null;
  readonly history: FamilyProblem["history"];
  readonly agents: readonly AgentOutcome[];
  readonly recording: string | null;
  /** The trust root: the DID whose admissions decided whose events count. */
  readonly governance: string;
  /** The ledger the run's own governance consumer wrote (embedded server only), verified afterwards. */
  readonly ledger: LedgerOutcome | null;
  /** How rounds closed, and how the run recovered from the scenario's faults. */
  readonly recovery: Recovery;
  /** Peak resident memory of this process (every agent, the coordinator and the consumers), and of the embedded server. */
  readonly peak_rss_mib: number;
  readonly server_peak_rss_mib: number | null;
  /** How many times the parties renewed their credentials during the run (null: a plain server). */
  readonly credential_renewals: number | null;
  /** Whether the rounds were securely aggregated (the agents sent masked contributions), and how many attempts were tried again. */
  readonly secure: { readonly on: boolean; readonly retried: number };
  /** Bytes of the problem's messages on the stream, a closed round (the cost of secure aggregation, beside a plain run's). */
  readonly bytes_per_round: number;
  /** A problem with noise: the privacy its rounds spent (zCDP rho, and epsilon at the budget's delta) of what it held; null otherwise. */
  readonly privacy: { readonly rho: number; readonly epsilon: number; readonly delta: number; readonly rho_held: number } | null;
  /** The scenario's scripted events (a cluster's churn), and when each went out. */
  readonly scripted: readonly ScriptedTimeline[];
  /** The scenario as its scripted events left it (the reference is this one's); null: unchanged. */
  readonly ended: ScenarioBase | null;
};

export type LedgerOutcome = {
  readonly size: number;
  readonly root: string;
  readonly checkpoints: number;
  readonly quarantined: number;
  readonly checkpoint: string | null;
  readonly vkey: string;
  readonly verified: boolean;
  readonly problem: string | null;
  /** Every leaf's hash, in order, up to the last checkpoint: a recording carries them. */
  readonly leafHashes: Uint8Array;
};

/**
 * What a server's loss costs a round on a cluster, said before the run: a read whose server went
 * quiet starts again elsewhere after QUIET_MS, and a publish retries through the election for
 * RETRY_PATIENCE_MS, so the next round may close that much later (10 kill-server runs here: 17 ms
 * to 21 s).
 */
export const serverLossWait = (): string =>
  `after a server loss a round may wait up to ${(QUIET_MS + RETRY_PATIENCE_MS) / 1000} s: a read restarts elsewhere after ${QUIET_MS / 1000} s without a sign of its server, a publish retries through the election for ${RETRY_PATIENCE_MS / 1000} s`;

/** The origin line (and checkpoint key name) of a run's ledger. */
export const LEDGER_ORIGIN = "catopt-flow/ledger";

export async function runScenario(loaded: LoadedScenario, options: RunOptions = {}): Promise<RunReport> {
  const { family, scenario } = loaded;
  const format = family.scenarios;
  const clock = options.clock ?? systemClock;
  const note = options.onNote ?? (() => {});
  const tenant = scenario.tenant;
  const problem = options.problemId ?? scenario.problem;
  // A subject token: one with a dot would publish where no read of the problem looks, and the run would wait forever.
  if (!isToken(problem)) throw catoptError("USAGE", `problem id "${problem}" must be 1-64 letters, digits, '-' or '_'`);
  const agents = format.agents(scenario);
  const planTenants = format.planTenants(scenario);

  const reference = await solveReference(loaded, [], note);
  const ids = await runIdentities(agents, options.keys);
  // Killing a server needs servers of our own: a local 3-server cluster instead of the embedded one.
  const killsServer = scenario.faults.some((f) => f.kind === "kill-server");
  if (killsServer && options.url !== undefined) {
    throw catoptError("SCENARIO_INVALID", `${scenario.source}: a kill-server fault runs on a cluster catopt starts itself: run it without --nats`);
  }
  // On a server of its own the run is the deployment: secured by the run's governance identity,
  // with TLS, and each party connects with credentials for its roles only.
  if (options.security !== undefined && options.security.governance !== ids.governance.did) {
    throw catoptError("USAGE", `the deployment's trust root is ${options.security.governance}, not the run's governance key ${ids.governance.did}`);
  }
  const own: LocalSecurity | undefined =
    options.url === undefined ? await localSecurity(ids.governance, { ttlSeconds: options.credentialTtlSeconds }) : undefined;
  const security: RunSecurity | undefined = options.security ?? own;
  const closeSecurity = async (): Promise<void> => {
    await own?.close();
  };
  const ownSecurity = security === undefined ? undefined : { access: security.service, tls: security.clientTls };
  const cluster: LocalCluster | undefined = killsServer
    ? await startLocalCluster(3, { serverConfig: own?.serverConfig, routeTls: own?.tls, probe: ownSecurity }).catch(async (err: unknown) => {
        await closeSecurity();
        throw err;
      })
    : undefined;
  if (cluster !== undefined) note(`local 3-server JetStream cluster at ${cluster.url} (temporary stores, streams with 3 replicas)`);
  if (cluster !== undefined || (options.url ?? "").includes(",")) note(serverLossWait());
  const bus = await openBus({
    url: cluster?.url ?? options.url,
    replicas: cluster === undefined ? options.replicas : 3,
    name: "catopt-run",
    ...(own === undefined ? {} : { serverConfig: own.serverConfig }),
    ...(ownSecurity === undefined ? {} : { security: ownSecurity }),
  }).catch(async (err: unknown) => {
    await cluster?.stop();
    await closeSecurity();
    throw err;
  });
  try {
    note(
      bus.embedded
        ? `embedded nats-server at ${bus.url} (temporary store${security === undefined ? "" : "; TLS, and credentials for each party's roles only"})`
        : `NATS at ${bus.url}`,
    );
    for (const s of bus.streams) note(`stream ${s.name}: ${s.action}`);
    if ((await bus.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: roundSubject(tenant, problem) })) !== null) {
      throw catoptError(
        "STREAM_CONFLICT",
        `stream ${EVENTS_STREAM} already holds a run of problem ${tenant}/${problem}: pass --problem-id <new id> for a fresh one`,
      );
    }

    // On our own server we are the deployment, so we run its governance consumer (the ledger's
    // single writer); on a real deployment that is the governance service's job.
    const ownDeployment = bus.embedded || cluster !== undefined;
    const governance = ownDeployment
      ? await startGovernance({ nc: await bus.connect("governance"), signer: ids.governance, origin: LEDGER_ORIGIN })
      : undefined;

    // The governance identity admits the coordinator (in every tenant it publishes plans in) and every agent before anyone speaks.
    note(`governance ${ids.governance.did}${ids.ephemeral ? " (keys made for this run)" : ""}`);
    const admissions = [
      ...[tenant, ...planTenants].map((t) => [t, admitEvent(t, ids.coordinator.did, "coordinator", "coordinator")] as const),
      ...agents.map((a) => [tenant, admitEvent(tenant, (ids.agents.get(a) as Identity).did, "agent", a)] as const),
    ];
    await Promise.all(admissions.map(([t, e]) => publishEvent(bus.js, governanceSubject(t, "admit"), e, ids.governance)));
    // A scenario with noise pays from its tenant's privacy budget: the run, as the tenant's governance, sets the scenario's as the
    // tenant's (what earlier problems were granted of it stays spent) and grants it to this problem; the fold grants what is left.
    if (scenario.privacyBudget !== undefined) {
      const { epsilon, delta } = scenario.privacyBudget;
      await publishEvent(bus.js, governanceSubject(tenant, "privacy-budget"), privacyBudgetEvent(tenant, epsilon, delta, clock()), ids.governance);
      await publishEvent(bus.js, governanceSubject(tenant, "privacy-grant"), privacyGrantEvent(tenant, problem, epsilon), ids.governance);
      note(`privacy budget of ${tenant}: epsilon ${epsilon}, delta ${delta}, granted to ${problem}`);
    }
    // Each party's permissions on the server come from the same admissions.
    const admission = admissions.reduce((state, [, e]) => applyGovernance(state, e, ids.governance.did, 0), emptyAdmission(ids.governance.did));
    const accessOf = (identity: Identity) => security?.accessFor(identity, grantsOf(admission, identity.did));

    const started = clock();
    const planTimeoutMs = scenario.roundTimeoutMs * 3;
    const stopAgents = new AbortController();
    setMaxListeners(agents.length + 8, stopAgents.signal); // one listener per agent, by design
    const closedAtMs = new Map<number, number>();
    // Each agent and the coordinator may be stopped by a fault and started afresh; a fresh one resumes from the stream.
    const agentRuns = new Map<string, { stop: AbortController; leave: AbortController; outcome: Promise<AgentOutcome> }>();
    let stopCoordinator = new AbortController();
    const actions: FaultActions = {
      stopAgent: (agent) => agentRuns.get(agent)?.stop.abort("stopped by a drop-agent fault"),
      restartAgent: (agent) => startAgent(agent),
      leaveAgent: (agent) => agentRuns.get(agent)?.leave.abort("a leave fault"),
      stopCoordinator: () => stopCoordinator.abort("stopped by a restart-coordinator fault"),
      killServer: async () => {
        const live = cluster as LocalCluster;
        const leader = (await retrying(() => bus.jsm.streams.info(EVENTS_STREAM))).cluster?.leader ?? "";
        // The leader of the event stream, or the first server when none is known.
        const victim = Math.max(0, live.names.indexOf(leader));
        await live.kill(victim);
        return `${live.names[victim]} (leader of ${EVENTS_STREAM})`;
      },
    };
    const faults = await startFaultScript(scenario.faults, bus.url, actions, clock, note);
    const startAgent = (name: string): void => {
      const [stop, leave] = [new AbortController(), new AbortController()];
      const signal = AbortSignal.any([stop.signal, stopAgents.signal]);
      // A stopped agent's connection goes with it, as when its process dies.
      const outcome = bus
        .connect(`agent-${name}`, faults.urlFor(name), accessOf(ids.agents.get(name) as Identity))
        .then(
          (nc) =>
            runAgent({
              nc,
              tenant,
              problem,
              agent: format.agent(scenario, tenant, problem, name),
              planTimeoutMs,
              clock,
              signal,
              leave: leave.signal,
              signer: ids.agents.get(name) as Identity,
              trustRoot: ids.governance.did,
              coordinator: ids.coordinator.did,
            }).finally(() => (stop.signal.aborted || leave.signal.aborted) && nc.close()),
          // An agent that cannot even connect (its server gone) fails like one that lost its connection.
        )
        .catch((err: unknown): AgentOutcome => ({ agent: name, status: "failed", error: (err as Error).message, rounds: 0, plan: null }));
      agentRuns.set(name, { stop, leave, outcome });
    };
    for (const a of agents) startAgent(a);
    const scripted = scriptedPublisher(
      scenario.scripted ?? [],
      (event) => publishEvent(bus.js, roundSubject(tenant, problem), event, ids.coordinator),
      { tenant, problem, clock },
      note,
    );
    const onRound = (p: AnyProblemState): void => {
      closedAtMs.set(p.round, clock() - started);
      options.onRound?.(p);
      faults.onRound(p.round, (agent) => (roundRules(p).committedAt(agent) ?? 0) > 0);
      scripted.onRound(p.round, p.phase === "running");
    };
    let coordinator: CoordinatorOutcome;
    for (;;) {
      coordinator = await runCoordinator({
        nc: await bus.connect("coordinator", undefined, accessOf(ids.coordinator)),
        tenant,
        problem,
        open: format.open(scenario, tenant, problem),
        roundTimeoutMs: scenario.roundTimeoutMs,
        ...scenario.rounds,
        clock,
        onRound,
        onResume: (p) => note(`coordinator: resuming after round ${p.round}`),
        signal: stopCoordinator.signal,
        signer: ids.coordinator,
        trustRoot: ids.governance.did,
      });
      if (!stopCoordinator.signal.aborted || coordinator.status !== "failed") break;
      stopCoordinator = new AbortController();
    }
    // Nothing scripted goes out once the coordinator is done, whatever its end.
    const scriptedSent = scripted.settled();
    if (coordinator.status === "failed") stopAgents.abort("the coordinator failed");
    // An agent stopped by a fault and started again ends with its last run: wait until no run is replaced any more.
    const currentRuns = () => [...agentRuns.values()];
    let runs = currentRuns();
    let agentOutcomes = await Promise.all(runs.map((r) => r.outcome));
    while (currentRuns().some((r, i) => r !== runs[i])) {
      runs = currentRuns();
      agentOutcomes = await Promise.all(runs.map((r) => r.outcome));
    }
    await faults.close();
    await scriptedSent;
    const wall = clock() - started;
    requireNoFailure(coordinator, agentOutcomes, `${tenant}/${problem}`);

    const ledger = governance === undefined ? null : await closeLedger(bus, governance, ids.governance.did, note);
    // Agents that left are out of the problem: the run's optimum (and the recording's reference) is the one without them.
    const final = coordinator.problem;
    const left = final === undefined ? [] : (family.leftAgents?.(final) ?? []);
    // Scripted events that changed the problem (a cluster's churn): the optimum to meet is the changed problem's.
    const ended = final === undefined ? undefined : format.changed?.(scenario, final);
    const target = left.length === 0 && ended === undefined ? reference : await solveReference({ family, scenario: ended ?? scenario }, left, note);
    if (left.length > 0) note(`reference: solved again without ${left.join(", ")}, which left`);
    if (ended !== undefined) note("reference: solved again for the problem as the scripted changes left it");

    note("replaying the stream to check the live state");
    // Two folds in one read. The first stops at the coordinator's last message: the live state is
    // the fold up to there (what agents cut off or slowed down still sent after the final plan is
    // in the stream and the ledger, not in that state), so the hashes must agree. The second
    // folds everything of the problem, the plans it published in other tenants too, which must
    // all be accepted.
    const kept: StreamMessage[] = [];
    const recovery = recoveryReader();
    let read = 0;
    const traffic = { bytes: 0, secure: false, retried: 0 };
    const [replayed, whole] = await replayStream(
      bus.js,
      EVENTS_STREAM,
      ids.governance.did,
      [
        { tenant, problem, untilSeq: coordinator.replay.lastSeq },
        { tenant, problem, planTenants },
      ],
      (m, folded) => {
        // With a ledger, the recording keeps the whole stream: every message has a leaf, so it reproduces the signed checkpoint.
        if (options.record !== undefined && (folded || ledger !== null)) kept.push(m);
        if (!folded) return;
        recovery.add(m);
        traffic.bytes += m.data.length;
        // The round subject says it all (its open's settings, its attempts): the many deltas need no second decoding.
        if (m.subject.includes(".round.")) {
          const event = coordinatorEvent(m);
          if (event !== undefined && eventKindOf(event.schema) === "open") traffic.secure = (event.body as { secure?: unknown }).secure !== undefined;
          if (event?.schema === "attempt/1") traffic.retried++;
        }
        if (++read % 10_000 === 0) note(`replay: ${read} events`);
      },
    );
    if (options.record !== undefined) {
      await writeRecording(options.record, {
        header: {
          format: RECORDING_FORMAT,
          stream: EVENTS_STREAM,
          tenant,
          problem,
          scenario: scenario.name,
          referenceObjective: target.objective,
          governance: ids.governance.did,
          checkpoint: ledger?.checkpoint ?? null,
          vkey: ledger?.vkey ?? null,
          leafHashes: ledger?.leafHashes ?? null,
          messages: kept.length,
        },
        messages: kept,
      });
      note(`recorded ${kept.length} messages to ${options.record}`);
    }
    // Each agent's own values, as it reported them: the run holds every agent, where a secure fold holds none of theirs.
    const agentValues = Object.fromEntries(
      agentOutcomes.flatMap((o) => (o.values === undefined || left.includes(o.agent) ? [] : [[o.agent, o.values] as const])),
    );
    const outcome = summarize(coordinator.replay, final, {
      scenario: scenario.name,
      tenant,
      problem,
      referenceObjective: target.objective,
      extraViolation: final === undefined ? 0 : (format.privateViolation?.(scenario, final, left, agentValues) ?? 0),
      privateObjective: format.privateObjective?.(scenario, left, agentValues),
    });
    return {
      ...outcome,
      allocations: Object.keys(outcome.allocations).length === 0 ? agentValues : outcome.allocations,
      wall_ms: wall,
      nats_url: bus.url,
      embedded_server: bus.embedded,
      replay_state_hash: stateHash(replayed),
      reference_allocations: target.allocations,
      reference_seconds: reference.seconds,
      left,
      tenants: planTenants,
      tenant_plans: planTenants.length === 0 ? null : tenantPlansOf(family, whole, tenant, problem, planTenants, final?.round),
      history: final?.history ?? [],
      agents: agentOutcomes,
      recording: options.record ?? null,
      governance: ids.governance.did,
      ledger,
      recovery: recovery.finish(replayed.rejected, faults.timeline, closedAtMs),
      scripted: scripted.timeline,
      ended: ended ?? null,
      peak_rss_mib: process.resourceUsage().maxRSS / 1024,
      server_peak_rss_mib: bus.serverPid === undefined ? null : await peakRssMib(bus.serverPid),
      credential_renewals: security?.renewals() ?? null,
      secure: { on: traffic.secure, retried: traffic.retried },
      bytes_per_round: traffic.bytes / Math.max(1, final?.round ?? 1),
      privacy:
        final?.privacy === undefined
          ? null
          : {
              rho: final.privacy.spent,
              epsilon: final.privacy.spent === 0 ? 0 : epsilonFor(final.privacy.spent, final.privacy.delta),
              delta: final.privacy.delta,
              rho_held: final.privacy.granted,
            },
    };
  } finally {
    await bus.close();
    await cluster?.stop();
    await closeSecurity();
  }
}

/** The event a round-subject message carries, for the report (the fold has judged it already: one that does not decode counts as none). */
function coordinatorEvent(m: StreamMessage): AnyEvent | undefined {
  try {
    return verifyMessage(m.data, true).event;
  } catch {
    return undefined;
  }
}

/** The scenario's centralized optimum without the agents in `without`; a problem no run could solve is refused. Says so when it takes a while. */
async function solveReference({ family, scenario }: LoadedScenario, without: readonly string[], note: (line: string) => void): Promise<OptimalReference> {
  const slow = setTimeout(() => note("solving the HiGHS reference..."), 1000);
  const solved = await family.scenarios.reference(scenario, without).finally(() => clearTimeout(slow));
  if (solved.status === "optimal") return solved;
  const what = without.length === 0 ? "the scenario's problem" : `without ${without.join(", ")}, which left, the problem`;
  throw catoptError("PROBLEM_INFEASIBLE", `${scenario.source}: ${what} is ${solved.status}: ${solved.detail}`);
}

type OptimalReference = Extract<ReferenceSolution, { status: "optimal" }>;

/** The plans a problem published in other tenants, as the fold of everything checked them: refusals, and tenants whose final plan it accepted. */
function tenantPlansOf(
  family: ProblemFamily,
  whole: ReplayState,
  tenant: string,
  problem: string,
  planTenants: readonly string[],
  finalRound: number | undefined,
): TenantPlans {
  const checked = whole.problems[problemKey(tenant, problem)];
  const accepted = checked === undefined ? {} : (family.tenantPlans?.(checked).lastAccepted ?? {});
  // The plans' own refusals: the rest (a late delta with asynchronous rounds) the first fold refused too.
  const refusals = whole.rejected.filter((r) => planTenants.includes(parseSubject(r.subject)?.tenant ?? ""));
  return { rejected: refusals.length, final: planTenants.filter((t) => accepted[t] === finalRound).length, first_rejection: refusals[0]?.reason ?? null };
}

/** A process's peak resident set (VmHWM), where /proc has it. */
async function peakRssMib(pid: number): Promise<number | null> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  return kb === undefined ? null : Number(kb) / 1024;
}

/** A run whose coordinator or any agent failed ends here, with the first failure's reason. */
export function requireNoFailure(coordinator: CoordinatorOutcome, agents: readonly AgentOutcome[], problem: string): void {
  if (coordinator.status === "failed") throw catoptError("RUN_FAILED", `coordinator of ${problem} failed: ${coordinator.error ?? "unknown reason"}`);
  const failed = agents.find((a) => a.status === "failed");
  if (failed !== undefined) throw catoptError("RUN_FAILED", `agent ${failed.agent} failed: ${failed.error ?? "unknown reason"}`);
}

/** Waits for the governance consumer to judge every event, stops it, and verifies the ledger it wrote. */
export async function closeLedger(
  bus: BusSession,
  governance: GovernanceConsumer,
  trustRoot: string,
  note: (line: string) => void = () => {},
): Promise<LedgerOutcome> {
  const last = (await retrying(() => bus.jsm.streams.info(EVENTS_STREAM))).state.last_seq;
  // The consumer may trail a large run by a while (it verifies every signature): say so, and how far it is.
  const progress = setInterval(() => note(`ledger: ${governance.summary().processedSeq} of ${last} events judged`), 5000);
  await governance.caughtUp(last).finally(() => clearInterval(progress));
  const summary = await governance.stop();
  const report = await verifyLedgerStream(bus.js, trustRoot, summary.vkey);
  const problem =
    report.problem === null
      ? null
      : `${report.problem.seq === undefined ? "" : `stream message ${report.problem.seq}, `}entry ${report.problem.index}: ${report.problem.reason}`;
  return {
    size: report.size,
    root: report.root,
    checkpoints: report.checkpoints,
    quarantined: summary.quarantined,
    checkpoint: summary.lastCheckpoint,
    vkey: summary.vkey,
    verified: problem === null && report.root === summary.root,
    problem,
    leafHashes: governance.leafHashes(),
  };
}
