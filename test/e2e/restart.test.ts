import { energyQpScenarios } from "../../src/families/energy-qp/scenario-format.ts";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runAgent } from "../../src/agent/agent-runner.ts";
import { qpAgent } from "../../src/families/energy-qp/agent.ts";
import type { QpPlan } from "../../src/families/energy-qp/qp-solver.ts";
import { PROJECT_ROOT } from "../../src/bus/embedded-server.ts";
import { startSecureServer, type SecureServer } from "../helpers/secure-server.ts";
import { publishEvent } from "../../src/governance/signed-publish.ts";
import type { BusSession } from "../../src/bus/session.ts";
import { EVENTS_STREAM } from "../../src/bus/streams.ts";
import { openEvent } from "../../src/families/energy-qp/fold.ts";
import { runCoordinator } from "../../src/coordinator/coordinator-runner.ts";
import { loadScenarioOf } from "../../src/run/scenario-files.ts";
import type { Scenario } from "../../src/families/energy-qp/scenario.ts";
import { governanceSubject, planSubject, roundSubject, tenantSubjects } from "../../src/core/subjects.ts";
import { eventId, type CatoptEvent } from "../../src/core/event.ts";
import { admitEvent, revokeEvent } from "../../src/governance/governance-events.ts";
import { tenantTrust } from "../../src/governance/tenant-trust.ts";
import { parseSubject, type ParsedSubject } from "../../src/core/subjects.ts";
import { generateIdentity, type Identity } from "../../src/governance/identity.ts";
import { problemKey } from "../../src/replay/reducer.ts";
import type { ProblemState } from "../../src/families/energy-qp/fold.ts";
import { readToEnd, replayMessages } from "../../src/replay/replay.ts";
import { stateHash } from "../../src/replay/state-hash.ts";

// A coordinator killed mid-run (its connection dropped at round 20) and started again: the new
// one rebuilds the problem by replaying the stream, resumes where it stopped, and ends with the
// plan of an uninterrupted run; the agents never notice more than a pause.
const restart = suite("a coordinator restarted mid-run over a real nats-server");
let secure: SecureServer;
let bus: BusSession;
let scenario: Scenario;
const ids: Record<string, Identity> = {};

restart.before(async () => {
  scenario = await loadScenarioOf(energyQpScenarios, "cosmos-3asset", PROJECT_ROOT);
  for (const name of ["governance", "coordinator", ...scenario.spec.agents]) ids[name] = generateIdentity(name);
  // Secured as every deployment is: each party connects with credentials for its own role only.
  secure = await startSecureServer({ governance: ids.governance });
  bus = secure.bus;
  const admissions = [
    admitEvent("cosmos", ids.coordinator.did, "coordinator", "coordinator"),
    ...scenario.spec.agents.map((a) => admitEvent("cosmos", ids[a].did, "agent", a)),
  ];
  for (const e of admissions) await publishEvent(bus.js, governanceSubject("cosmos", "admit"), e, ids.governance);
});
restart.after(async () => {
  await secure?.stop();
});

const agentAccess = (name: string) => secure.security.accessFor(ids[name], [{ role: "agent", tenant: "cosmos", name }]);
const coordinatorAccess = () => secure.security.accessFor(ids.coordinator, [{ role: "coordinator", tenant: "cosmos", name: "coordinator" }]);

/** One run of the problem: its agents, and coordinators one after another (each stops at its round, if given). */
async function run(problem: string, stopAt: readonly number[], pinCoordinator = true) {
  const agents = Promise.all(
    scenario.assets.map(async (asset) =>
      runAgent({
        nc: await bus.connect(`agent-${asset.agent}`, undefined, agentAccess(asset.agent)),
        tenant: "cosmos",
        problem,
        agent: qpAgent("cosmos", problem, asset.problem),
        planTimeoutMs: 30_000,
        signer: ids[asset.agent],
        trustRoot: ids.governance.did,
        ...(pinCoordinator ? { coordinator: ids.coordinator.did } : {}),
      }),
    ),
  );
  const coordinators = [];
  const resumedAt: number[] = [];
  for (let i = 0; i <= stopAt.length; i++) {
    const nc = await bus.connect(`coordinator-${i}`, undefined, coordinatorAccess());
    const crash = new AbortController();
    const outcome = await runCoordinator({
      nc,
      tenant: "cosmos",
      problem,
      open: openEvent("cosmos", problem, scenario.spec),
      roundTimeoutMs: 10_000,
      signer: ids.coordinator,
      trustRoot: ids.governance.did,
      signal: crash.signal,
      onResume: (state) => resumedAt.push(state.round),
      onRound: (state) => {
        if (state.round === stopAt[i]) {
          crash.abort("killed");
          void nc.close(); // as a crash would: whatever it was publishing may or may not land
        }
      },
    });
    coordinators.push(outcome);
  }
  return { coordinators, resumedAt, agents: await agents };
}

restart("the restarted coordinator resumes from the stream and ends with the uninterrupted run's plan", async () => {
  const straight = await run("sol-straight", []);
  const restarted = await run("sol-restarted", [20, 45]);
  assert.equal(
    restarted.coordinators.map((c) => c.status),
    ["failed", "failed", "converged"],
  );
  assert.ok(restarted.resumedAt.length === 2 && restarted.resumedAt[0] >= 20 && restarted.resumedAt[1] >= 45, `resumed at ${restarted.resumedAt}`);
  assert.ok(
    restarted.agents.every((a) => a.status === "converged"),
    JSON.stringify(restarted.agents.map((a) => a.error)),
  );

  const [a, b] = [straight.coordinators[0].problem as ProblemState, restarted.coordinators[2].problem as ProblemState];
  assert.is(b.round, a.round, "same rounds");
  assert.equal(b.x, a.x, "the same allocations, bit for bit");
  assert.is(b.plan?.objective, a.plan?.objective);

  const live = await readToEnd(bus.js, EVENTS_STREAM, { filter: tenantSubjects("cosmos") });
  const replayed = replayMessages(live, ids.governance.did, { tenant: "cosmos", problem: "sol-restarted" });
  assert.is(stateHash(replayed), stateHash(restarted.coordinators[2].replay), "replay of the stream reaches the resumed coordinator's state");
  assert.equal((replayed.problems[problemKey("cosmos", "sol-restarted")] as ProblemState).x, b.x);
});

restart("a forger's open (under the real open's id) and final plan steer no agent that pins only the trust root; the real run converges", async () => {
  const problem = "sol-forged";
  const forger = generateIdentity("forger");
  const open = openEvent("cosmos", problem, scenario.spec);
  await publishEvent(bus.js, roundSubject("cosmos", problem), open, forger);
  const zero = Object.fromEntries(scenario.spec.resources.map((r) => [r, 0]));
  const forgedPlan: CatoptEvent<"plan/1"> = {
    schema: "plan/1",
    id: eventId("cosmos", problem, "plan", 1),
    tenant: "cosmos",
    problem,
    round: 1,
    base: 0,
    body: {
      status: "converged",
      rho: 1,
      signal: zero,
      allocations: { rover: { ...zero, t08: 999 } },
      objective: 0,
      primal: 0,
      dual: 0,
      epsPrimal: 1,
      epsDual: 1,
    },
  };
  await publishEvent(bus.js, planSubject("cosmos", problem), forgedPlan, forger);
  const forged = await run(problem, [], false);
  assert.equal(
    forged.coordinators.map((c) => c.status),
    ["converged"],
  );
  assert.ok(
    forged.agents.every((a) => a.status === "converged"),
    JSON.stringify(forged.agents.map((a) => a.error)),
  );
  const final = forged.coordinators[0].problem as ProblemState;
  // Each agent's values as it knows them (from the round events: plans carry no agent's values) add up to the fold's
  // sums (a secure fold holds nothing else), within the fixed point's 2^-(f+1) a value.
  assert.ok(final.secure !== undefined, "the run is secure by default");
  const secure = final.secure as NonNullable<ProblemState["secure"]>;
  const f = final.spec.secure?.fractionBits ?? 0;
  final.spec.resources.forEach((r, j) => {
    const sum = forged.agents.reduce((total, agent) => total + ((agent.plan as QpPlan | null)?.committed[r] ?? 0), 0);
    assert.ok(
      Math.abs(sum - secure.x[j]) <= forged.agents.length * 2 ** -(f + 1),
      `the agents acted on the real plan: ${r} sums to ${sum}, the fold's ${secure.x[j]}`,
    );
  });
  assert.ok(agentsPlanRounds(forged.agents) > 10, "the agents took part in the real rounds");
});

restart("a coordinator reads only its problem's messages and the tenant's governance events before its first round, not the tenant's history", async () => {
  const before = (await bus.jsm.streams.info(EVENTS_STREAM)).state.last_seq;
  assert.ok(before > 500, `the tenant already holds ${before} messages of other problems`);
  const fresh = await run("sol-fresh", []);
  assert.is(fresh.coordinators[0].status, "converged");
  assert.is(fresh.coordinators[0].heldRead, 4, "the four admissions, and nothing of sol-straight, sol-restarted or sol-forged");
});

restart("a revocation published while a reader follows the tenant counts at once: the revoked coordinator steers nobody from then on", async () => {
  const tenant = "revoking";
  const governance = generateIdentity("governance");
  const coordinator = generateIdentity("coordinator");
  await publishEvent(bus.js, governanceSubject(tenant, "admit"), admitEvent(tenant, coordinator.did, "coordinator", "coordinator"), governance);
  const trust = await tenantTrust(bus.js, tenant, governance.did);
  try {
    assert.ok(trust.isCoordinator(coordinator.did), "admitted before the reader started");
    await publishEvent(bus.js, governanceSubject(tenant, "revoke"), revokeEvent(tenant, coordinator.did, "key lost"), governance);
    const until = Date.now() + 5_000;
    while (trust.isCoordinator(coordinator.did) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.not.ok(trust.isCoordinator(coordinator.did), "the live read folded the revocation without a catch-up");
    const plan = { subject: planSubject(tenant, "p"), seq: 1, data: new Uint8Array() };
    assert.match(trust.problem(parseSubject(plan.subject) as ParsedSubject, coordinator.did) ?? "", "revoked");
  } finally {
    trust.close();
  }
});

const agentsPlanRounds = (agents: readonly { rounds: number }[]): number => Math.min(...agents.map((a) => a.rounds));

restart.run();
