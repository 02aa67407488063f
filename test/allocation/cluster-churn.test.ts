import { readFile } from "node:fs/promises";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { eventId, type AnyEvent, type CatoptEvent } from "../../src/core/event.ts";
import type { FamilyAgent } from "../../src/core/family.ts";
import { PROJECT_ROOT } from "../../src/bus/embedded-server.ts";
import { encode } from "../../src/core/codec.ts";
import { Refusal } from "../../src/core/refusal.ts";
import { clusterOpenEvent } from "../../src/families/accelerator-allocation/cluster-scenario.ts";
import { clusterScenarios } from "../../src/families/accelerator-allocation/scenario-format.ts";
import { decodeEvent } from "../../src/families/registry.ts";
import { loadScenarioOf } from "../../src/run/scenario-files.ts";
import { applyChange, type ClusterChange } from "../../src/families/accelerator-allocation/churn.ts";
import { acceleratorAllocation, expectedClusterPlanEvent, openCluster, type ClusterState } from "../../src/families/accelerator-allocation/cluster-fold.ts";
import type { ClusterProblem } from "../../src/families/accelerator-allocation/cluster.ts";
import { nodeAgent } from "../../src/families/accelerator-allocation/node-agent.ts";
import type { NodePlan } from "../../src/families/accelerator-allocation/node-solver.ts";
import { policyForm } from "../../src/families/accelerator-allocation/policy.ts";
import { solveAllocationReference } from "../../src/families/accelerator-allocation/reference-lp.ts";
import { ALLOCATION_ADMM } from "../../src/families/accelerator-allocation/solve-in-process.ts";
import { syntheticCluster } from "../../src/families/accelerator-allocation/synthetic.ts";
import { admitEvent } from "../../src/governance/governance-events.ts";
import { generateIdentity } from "../../src/governance/identity.ts";
import { apply, emptyReplayState } from "../../src/replay/reducer.ts";
import { messageOf } from "../helpers/messages.ts";

// Jobs that arrive, depart and are re-measured while a cluster problem runs: the fold applies a
// change when the next round closes, its plan carries it, and every node agent, stepped purely
// beside the fold, applies it alike; the run then ends at HiGHS's optimum of the changed cluster.
const [tenant, problem] = ["platform", "churn"];
const cluster = syntheticCluster({ seed: 5, jobs: 16, tenants: 3, nodes: { V100: 1, P100: 1, K80: 1 }, perNode: 4, policy: "max-min-fairness" });
const change = (c: ClusterProblem): ClusterChange => {
  const [gone, measured, copied] = c.jobs;
  return {
    arrive: [{ ...copied, name: "arrived", tenant: "newcomer" }],
    depart: [gone.name],
    throughput: { [measured.name]: Object.fromEntries(Object.entries(measured.throughput).map(([t, v]) => [t, v * 0.8])) },
  };
};
const openEvent = (admm = ALLOCATION_ADMM): CatoptEvent<"cluster-open/1"> => ({
  schema: "cluster-open/1",
  id: eventId(tenant, problem, "open", 0),
  tenant,
  problem,
  round: 0,
  base: -1,
  body: { cluster, admm, tenantPlanEvery: 1 },
});
const changeEvent = (round: number, body: ClusterChange, label = "c"): CatoptEvent<"cluster-change/1"> => ({
  schema: "cluster-change/1",
  id: eventId(tenant, problem, "change", round, label),
  tenant,
  problem,
  round,
  base: round,
  body,
});
const roundEvent = (round: number, took: string[]): CatoptEvent<"round/2"> => ({
  schema: "round/2",
  id: eventId(tenant, problem, "round", round),
  tenant,
  problem,
  round,
  base: round - 1,
  body: { took, closedBy: "all" },
});

/** The fold and one node agent per node, in one loop: what the stream carries, in its order. */
type Loop = { p: ClusterState; agents: FamilyAgent[]; plans: NodePlan[]; coordinator: AnyEvent[]; own: AnyEvent[][] };

function start(): Loop {
  const open = openEvent();
  let p = openCluster(open);
  const agents = cluster.nodes.map((n) => nodeAgent(tenant, problem, n));
  const joins: string[] = [];
  for (const [n, agent] of agents.entries()) {
    agent.opened(open);
    const join = agent.joinEvent(0) as CatoptEvent<"node-join/1">;
    p = acceleratorAllocation.apply(p, join, cluster.nodes[n].name);
    joins.push(join.id);
  }
  const first = roundEvent(0, joins);
  p = acceleratorAllocation.closeRound(p, first);
  for (const agent of agents) agent.plan(first);
  const plan = expectedClusterPlanEvent(p);
  return { p, agents, plans: agents.map((a) => a.plan(plan) as NodePlan), coordinator: [open, first, plan], own: agents.map(() => []) };
}

function round(state: Loop): void {
  const r = state.p.round + 1;
  const took: string[] = [];
  for (const [n, agent] of state.agents.entries()) {
    const plan = state.plans[n];
    const committed = plan.committed as Float64Array;
    const delta = agent.deltaEvent({ planRound: r - 1, committed, proposed: agent.solver.step(plan, committed) }) as CatoptEvent<"node-delta/1">;
    state.p = acceleratorAllocation.apply(state.p, delta, cluster.nodes[n].name);
    state.own[n].push(delta);
    took.push(delta.id);
  }
  const closing = roundEvent(r, took);
  state.p = acceleratorAllocation.closeRound(state.p, closing);
  const plan = expectedClusterPlanEvent(state.p);
  state.p = acceleratorAllocation.apply(state.p, plan, undefined);
  for (const agent of state.agents) agent.plan(closing);
  state.plans = state.agents.map((a) => a.plan(plan) as NodePlan);
  state.coordinator.push(closing, plan);
  // Every node's committed values are the fold's, column for column, before a change and after it.
  for (const [n, next] of state.plans.entries()) assert.equal([...(next.committed as Float64Array)], state.p.y[n], `node ${n} after round ${r}`);
}

test("a change taken mid-run applies when the next round closes; nodes follow it exactly, and the run ends at HiGHS's optimum of the changed cluster", async () => {
  const state = start();
  for (let r = 1; r <= 30; r++) round(state);
  const body = change(cluster);
  state.p = acceleratorAllocation.apply(state.p, changeEvent(30, body), undefined);
  assert.equal(state.p.open.cluster.jobs.length, cluster.jobs.length, "a change waits for the round to close");
  round(state);
  const changed = applyChange(cluster, body);
  assert.equal(state.p.open.cluster, changed);
  assert.equal(state.p.plan?.changes, [body], "the round's plan carries the change");
  assert.is(state.p.changes, undefined);
  for (let r = 0; r < 20; r++) round(state);
  // A node agent started afresh mid-run, after the change, rebuilds its values from its own deltas and what the coordinator published (as agent-runner.ts reads them back).
  for (const [n, node] of cluster.nodes.entries()) {
    const restarted = nodeAgent(tenant, problem, node);
    restarted.resume?.(state.own[n]);
    let last: NodePlan | undefined;
    for (const event of state.coordinator) {
      restarted.opened(event);
      last = (restarted.plan(event) as NodePlan | undefined) ?? last;
    }
    assert.equal([...((last as NodePlan).committed as Float64Array)], state.p.y[n], `${node.name} restarted after round ${state.p.round}`);
  }
  while (state.p.phase === "running" && state.p.round < 5000) round(state);
  assert.is(state.p.phase, "converged");
  const exact = await solveAllocationReference(changed, policyForm(changed));
  if (exact.status !== "optimal") throw new Error(`HiGHS: ${exact.detail}`);
  const facts = acceleratorAllocation.facts(state.p, 0);
  assert.ok(
    facts.objective !== null && (exact.objective - facts.objective) / Math.abs(exact.objective) <= 1e-3,
    `${facts.objective} against HiGHS ${exact.objective}`,
  );
  assert.ok(facts.violation !== null && facts.violation <= 1e-9, `violation ${facts.violation}`);
  assert.ok("arrived" in facts.allocations, "the job that arrived has its allocation");
});

test("a change is refused, with why, before the problem starts, after it ends, with asynchronous rounds, or when it does not fit the cluster", () => {
  const refusal = (f: () => unknown): string => {
    try {
      f();
    } catch (err) {
      if (err instanceof Refusal) return err.message;
      throw err;
    }
    return "accepted";
  };
  const body = change(cluster);
  const joining = openCluster(openEvent());
  assert.match(
    refusal(() => acceleratorAllocation.apply(joining, changeEvent(0, body), undefined)),
    /before it started: open it with the cluster as it is/,
  );
  const running = start().p;
  assert.match(
    refusal(() => acceleratorAllocation.apply({ ...running, phase: "converged" }, changeEvent(0, body), undefined)),
    /which ended \(converged\)/,
  );
  const async = openCluster(openEvent({ ...ALLOCATION_ADMM, maxStaleness: 2, stop: "steady" }));
  assert.match(
    refusal(() => acceleratorAllocation.apply({ ...async, phase: "running" }, changeEvent(0, body), undefined)),
    /asynchronous rounds/,
  );
  assert.match(
    refusal(() => acceleratorAllocation.apply(running, changeEvent(0, { ...body, depart: ["nobody"] }), undefined)),
    /job nobody departs, but the cluster has no such job/,
  );
  // Checked against the changes before it: the same job cannot depart twice.
  const departs = { arrive: [], depart: [cluster.jobs[0].name], throughput: {} };
  const once = acceleratorAllocation.apply(running, changeEvent(0, departs), undefined);
  assert.match(
    refusal(() => acceleratorAllocation.apply(once, changeEvent(0, departs, "again"), undefined)),
    /departs, but the cluster has no such job/,
  );
  // The same signed change read again (past the stream's duplicate window) counts once.
  assert.match(
    refusal(() => acceleratorAllocation.apply(once, changeEvent(0, departs), undefined)),
    /was taken already: a change counts once/,
  );
  const [a, b] = cluster.jobs;
  assert.match(
    refusal(() => acceleratorAllocation.apply(running, changeEvent(0, { ...departs, depart: [a.name, a.name] }), undefined)),
    /departs twice/,
  );
  const own = { ...b, name: "own", tenant };
  assert.match(
    refusal(() => acceleratorAllocation.apply(running, changeEvent(0, { ...body, arrive: [own] }), undefined)),
    /the platform's own tenant/,
  );
  // A throughput so small that a max-min demand would round to nothing (it made every job's scale NaN).
  const tiny = { ...b, name: "tiny", throughput: { [Object.keys(b.throughput)[0]]: 5e-324 } };
  assert.match(
    refusal(() => acceleratorAllocation.apply(running, changeEvent(0, { ...body, arrive: [tiny] }), undefined)),
    /is below 1e-6/,
  );
  // A weight so small that the job's throughput would weigh 1e300 in the coupling: ADMM's steps went NaN, which the plan cannot carry.
  const feather = { ...b, name: "feather", weight: 1e-300 };
  assert.match(
    refusal(() => acceleratorAllocation.apply(running, changeEvent(0, { ...body, arrive: [feather] }), undefined)),
    /job feather's throughput weighs .* in the coupling/,
  );
  const lightOpen = openEvent();
  assert.match(
    refusal(() => openCluster({ ...lightOpen, body: { ...lightOpen.body, cluster: { ...cluster, jobs: [...cluster.jobs, feather] } } })),
    /job feather's throughput weighs/,
  );
  // At most 64 wait for one round.
  let waiting = running;
  const remeasure = { arrive: [], depart: [], throughput: { [b.name]: b.throughput } };
  for (let i = 0; i < 64; i++) waiting = acceleratorAllocation.apply(waiting, changeEvent(0, remeasure, `r${i}`), undefined);
  assert.match(
    refusal(() => acceleratorAllocation.apply(waiting, changeEvent(0, remeasure, "r64"), undefined)),
    /64 changes of cluster problem churn wait for round 1 already/,
  );
});

test("a run is judged against the scenario's cluster until a change applies, then against the changed one (the wire's key order aside)", async () => {
  const scenario = await loadScenarioOf(clusterScenarios, "gavel-small", PROJECT_ROOT);
  // As the fold holds it: the open event read back from the wire, which sorts a map's keys.
  const open = decodeEvent(encode(clusterOpenEvent(tenant, problem, scenario))) as CatoptEvent<"cluster-open/1">;
  const folded = openCluster(open);
  assert.is(clusterScenarios.changed?.(scenario, folded), undefined, "gavel-small unchanged: its reference stands");
  const changedCluster = applyChange(folded.open.cluster, { arrive: [], depart: [scenario.cluster.jobs[0].name], throughput: {} });
  const changedState: ClusterState = { ...folded, open: { ...folded.open, cluster: changedCluster } };
  const after = clusterScenarios.changed?.(scenario, changedState);
  assert.equal(after?.cluster.jobs.length, scenario.cluster.jobs.length - 1);
});

test("a scenario's churn entries: at a round or a time, in order, each checked against the cluster the ones before it leave", async () => {
  const json = JSON.parse(await readFile(path.join(PROJECT_ROOT, "scenarios", "gavel-small-churn", "scenario.json"), "utf8"));
  const withChurn = (churn: unknown[]) => () => clusterScenarios.parse({ ...json, churn }, "s.json");
  const [first, second] = json.churn;
  const timed = withChurn([first, { ...second, round: undefined, afterMs: 1500 }])();
  assert.equal(
    timed.scripted?.map((e) => [e.round, e.afterMs]),
    [
      [60, undefined],
      [undefined, 1500],
    ],
  );
  const cases: [unknown[], string][] = [
    [[{ ...first, afterMs: 5 }], 'churn[0]: give it a "round" or an "afterMs", one of them'],
    [[{ ...first, afterM: 5 }], 'churn[0].afterM: a churn entry has no such field (did you mean "afterMs"?)'],
    [[second, first], "churn[1].round: expected an integer >= 120, got 60"],
    [[first, first], "churn[1].depart: job a3c departs, but the cluster has no such job"],
    [[{ ...first, round: undefined, afterMs: 1e12 }], "churn[0].afterMs: at most 86400000 (a day)"],
    [[{ ...first, arrive: [{ ...first.arrive[0], weight: 1e-300 }] }], "churn[0]: job transformer-b64-s's throughput weighs"],
  ];
  for (const [churn, message] of cases) assert.throws(withChurn(churn), (err: Error) => err.message.includes(message), message);
});

test("only a coordinator of the platform's tenant changes its cluster: an agent's cluster-change/1 is refused", () => {
  const governance = generateIdentity("governance");
  const coordinator = generateIdentity("coordinator");
  const agent = generateIdentity(cluster.nodes[0].name);
  let state = emptyReplayState(governance.did);
  const events: [CatoptEvent, typeof governance][] = [
    [admitEvent(tenant, coordinator.did, "coordinator", "coordinator"), governance],
    [admitEvent(tenant, agent.did, "agent", cluster.nodes[0].name), governance],
    [openEvent(), coordinator],
    [changeEvent(0, change(cluster)), agent],
  ];
  for (const [i, [event, signer]] of events.entries()) state = apply(state, messageOf(i + 1, event, signer));
  assert.equal(
    state.rejected.map((r) => r.reason),
    [`signer ${agent.did} is not admitted as a coordinator`],
  );
});

test.run();
