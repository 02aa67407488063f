import { clusterScenarios } from "../../src/families/accelerator-allocation/scenario-format.ts";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runAgent, type AgentOutcome } from "../../src/agent/agent-runner.ts";
import { PROJECT_ROOT } from "../../src/bus/embedded-server.ts";
import { startSecureServer, type SecureServer } from "../helpers/secure-server.ts";
import type { BusSession } from "../../src/bus/session.ts";
import { EVENTS_STREAM } from "../../src/bus/streams.ts";
import { governanceSubject, tenantSubjects } from "../../src/core/subjects.ts";
import { runCoordinator } from "../../src/coordinator/coordinator-runner.ts";
import { isClusterState } from "../../src/families/accelerator-allocation/cluster-fold.ts";
import { nodeAgent } from "../../src/families/accelerator-allocation/node-agent.ts";
import { policyForm } from "../../src/families/accelerator-allocation/policy.ts";
import { solveAllocationReference } from "../../src/families/accelerator-allocation/reference-lp.ts";
import { admitEvent } from "../../src/governance/governance-events.ts";
import { generateIdentity } from "../../src/governance/identity.ts";
import { publishEvent } from "../../src/governance/signed-publish.ts";
import { readToEnd, replayMessages } from "../../src/replay/replay.ts";
import { stateHash } from "../../src/replay/state-hash.ts";
import { summarize } from "../../src/replay/summary.ts";
import { clusterOpenEvent, clusterTenantsOf } from "../../src/families/accelerator-allocation/cluster-scenario.ts";
import { loadScenarioOf } from "../../src/run/scenario-files.ts";

// A node agent killed mid-run on gavel-small-async and started again with its key: it rebuilds
// what it sent and what the rounds took of it from the stream, and answers the latest plan
// relative to the values the fold holds for it; the run still reaches HiGHS and replays.
const restart = suite("a node agent restarted mid-run over a real nats-server");
let secure: SecureServer;
let bus: BusSession;
const governance = generateIdentity("governance");
restart.before(async () => {
  // Secured as every deployment is: each party connects with credentials for its own role only.
  secure = await startSecureServer({ governance });
  bus = secure.bus;
});
restart.after(async () => {
  await secure?.stop();
});

restart("the restarted node agent resumes from the stream: its deltas count again and the run converges to HiGHS", async () => {
  const loaded = await loadScenarioOf(clusterScenarios, "gavel-small-async", PROJECT_ROOT);
  // Bounded, so that a node agent that lost track of its values ends the run as max-rounds instead of running on.
  const scenario = { ...loaded, admm: { ...loaded.admm, maxRounds: 2000 } };
  const { tenant, problem, cluster } = scenario;
  const coordinator = generateIdentity("coordinator");
  const nodes = Object.fromEntries(cluster.nodes.map((n) => [n.name, generateIdentity(n.name)]));
  for (const t of [tenant, ...clusterTenantsOf(scenario)])
    await publishEvent(bus.js, governanceSubject(t, "admit"), admitEvent(t, coordinator.did, "coordinator", "coordinator"), governance);
  for (const [name, id] of Object.entries(nodes))
    await publishEvent(bus.js, governanceSubject(tenant, "admit"), admitEvent(tenant, id.did, "agent", name), governance);

  const start = async (name: string, signal?: AbortSignal): Promise<AgentOutcome> => {
    const nc = await bus.connect(`restart-${name}-${Math.random()}`, undefined, secure.security.accessFor(nodes[name], [{ role: "agent", tenant, name }]));
    try {
      const node = cluster.nodes.find((n) => n.name === name) ?? cluster.nodes[0];
      return await runAgent({
        nc,
        tenant,
        problem,
        agent: nodeAgent(tenant, problem, node),
        planTimeoutMs: 30_000,
        signal,
        signer: nodes[name],
        trustRoot: governance.did,
      });
    } finally {
      await nc.close();
    }
  };
  const stop = new AbortController();
  const first = cluster.nodes.map((n) => start(n.name, n.name === "k80-0" ? stop.signal : undefined));
  let restarted: Promise<AgentOutcome> | undefined;
  const coordinatorGrants = [tenant, ...clusterTenantsOf(scenario)].map((t) => ({ role: "coordinator" as const, tenant: t, name: "coordinator" }));
  const outcome = await runCoordinator({
    nc: await bus.connect("coordinator", undefined, secure.security.accessFor(coordinator, coordinatorGrants)),
    tenant,
    problem,
    open: clusterOpenEvent(tenant, problem, scenario),
    roundTimeoutMs: 30_000,
    ...scenario.rounds,
    signer: coordinator,
    trustRoot: governance.did,
    onRound: (state) => {
      if (state.round === 15) stop.abort("killed");
      if (state.round === 25) restarted = start("k80-0");
    },
  });
  const [firsts, again] = await Promise.all([Promise.all(first), restarted]);
  assert.is(outcome.status, "converged", outcome.error ?? "");
  assert.is(firsts.find((a) => a.agent === "k80-0")?.status, "failed", "the first k80-0 was stopped");
  assert.is(again?.status, "converged", again?.error ?? "the restarted agent ran");

  const reference = await solveAllocationReference(cluster, policyForm(cluster));
  assert.ok(reference.status === "optimal");
  const summary = summarize(outcome.replay, outcome.problem, {
    scenario: scenario.name,
    tenant,
    problem,
    referenceObjective: reference.status === "optimal" ? reference.objective : null,
  });
  assert.ok(summary.converged && (summary.gap ?? 1) < 1e-3, `${summary.status}, gap ${summary.gap}`);
  const state = outcome.problem;
  assert.ok(isClusterState(state) && (state.committedAt?.["k80-0"] ?? 0) > 25, "the restarted node's deltas counted again");

  const messages = await readToEnd(bus.js, EVENTS_STREAM, { filter: tenantSubjects(tenant) });
  const replayed = replayMessages(
    messages.filter((m) => m.seq <= outcome.replay.lastSeq),
    governance.did,
    { tenant, problem },
  );
  assert.is(stateHash(replayed), stateHash(outcome.replay));
});

restart.run();
