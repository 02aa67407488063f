import { clusterScenarios } from "../../src/families/accelerator-allocation/scenario-format.ts";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { loadScenarioOf, withFamily } from "../../src/run/scenario-files.ts";
import type { ClusterScenario } from "../../src/families/accelerator-allocation/cluster-scenario.ts";
import { derivedOf, isClusterState, type ClusterState } from "../../src/families/accelerator-allocation/cluster-fold.ts";
import { parseClusterScenario } from "../../src/families/accelerator-allocation/cluster-scenario.ts";
import type { NodeProblem } from "../../src/families/accelerator-allocation/decompose.ts";
import { solveAllocationInProcess } from "../../src/families/accelerator-allocation/solve-in-process.ts";
import { planViolation } from "../../src/families/accelerator-allocation/repair.ts";
import { PROJECT_ROOT } from "../../src/bus/embedded-server.ts";
import { envelopeBytes } from "../../src/governance/signed-publish.ts";
import { decodeEnvelope } from "../../src/core/envelope.ts";
import type { AnyEvent, CatoptEvent } from "../../src/core/event.ts";
import { decodeEvent } from "../../src/families/registry.ts";
import { eventId } from "../../src/core/event.ts";
import { generateIdentity, type Identity } from "../../src/governance/identity.ts";
import { saveIdentity } from "../../src/governance/keystore.ts";
import { problemKey, type ReplayState } from "../../src/replay/reducer.ts";
import type { StreamMessage } from "../../src/core/stream-message.ts";
import { readRecording } from "../../src/replay/recording.ts";
import { replayMessages } from "../../src/replay/replay.ts";
import { stateHash } from "../../src/replay/state-hash.ts";
import { runScenario, type RunReport } from "../../src/run/run-scenario.ts";
import { lastJson, runCli } from "../helpers/cli.ts";

// gavel-small under max total throughput (61 rounds) over a real nats-server: node agents, the
// coordinator, governance and ledger as separate connections; then the recorded stream, tampered
// with by parties holding valid keys, must be refused by the replay. Plain rounds ("secure":
// false), whose node deltas the tampering tests forge; secure rounds are test/e2e/secure.test.ts's.
const cluster = suite("a cluster problem over a real nats-server");
let scenario: ClusterScenario;
let report: RunReport;
let messages: readonly StreamMessage[];
let recordingFile: string;
const ids: Record<string, Identity> = {};

const eventOf = (m: StreamMessage): AnyEvent => decodeEvent(decodeEnvelope(m.data).event);
const platformOf = (state: ReplayState): ClusterState => {
  const p = state.problems[problemKey("platform", "gavel-small")];
  if (!isClusterState(p)) throw new Error("no cluster problem in the replay");
  return p;
};
const replayAll = (list: readonly StreamMessage[]) =>
  replayMessages(list, report.governance, { tenant: "platform", problem: "gavel-small", planTenants: report.tenants });
/** The recorded stream with one message replaced by `event`, signed by `signer`. */
function withReplaced(index: number, event: CatoptEvent, signer: Identity): StreamMessage[] {
  return messages.map((m, i) => (i === index ? { ...m, data: envelopeBytes(event, signer) } : m));
}

cluster.before(async () => {
  const json = JSON.parse(await readFile(path.join(PROJECT_ROOT, "scenarios", "gavel-small", "scenario.json"), "utf8"));
  scenario = clusterScenarios.parse({ ...json, policy: "max-throughput", secure: false }, "gavel-small (plain)");
  const dir = await mkdtemp(path.join(tmpdir(), "catopt-cluster-"));
  const keys = path.join(dir, "keys");
  for (const name of ["governance", "coordinator", "v100-0", "p100-0", "k80-0"]) {
    ids[name] = generateIdentity(name);
    await saveIdentity(keys, ids[name]);
  }
  // No URL: runCluster starts its own nats-server (free port, temporary store) with the
  // governance consumer and ledger, and stops it.
  recordingFile = path.join(dir, "run.catrec");
  report = await runScenario(withFamily(clusterScenarios, scenario), { keys, record: recordingFile });
  messages = (await readRecording(recordingFile)).messages;
});

cluster("node agents over NATS reach the in-process plan, within 1e-3 of HiGHS, feasible, replayed to the live hash", () => {
  const local = solveAllocationInProcess(scenario.cluster, scenario.admm);
  assert.ok(report.converged, report.status);
  assert.is(report.rounds, local.rounds, "the same rounds as the in-process solve of the same events");
  assert.ok(Math.abs((report.objective ?? NaN) - local.objective) <= 1e-9 * Math.abs(local.objective), `objective ${report.objective} vs ${local.objective}`);
  assert.ok((report.gap ?? 1) < 1e-3, `gap ${report.gap}`);
  assert.is(report.max_violation, 0);
  assert.is(report.replay_state_hash, report.state_hash);
  assert.ok(report.agents.every((a) => a.status === "converged" && a.rounds === report.rounds));
  assert.is(report.rejected, 0);
  assert.ok(report.ledger?.verified, "the ledger verifies");
  assert.ok(report.embedded_server);
  assert.ok(report.peak_rss_mib > 0 && report.peak_rss_mib < 1024, `peak RSS ${report.peak_rss_mib} MiB`);
});

cluster("every tenant gets its own plan topic with its own jobs only, accepted by the replay up to the final round", () => {
  assert.equal(report.tenant_plans, { rejected: 0, final: 3, first_rejection: null });
  const finals = messages.map(eventOf).filter((e): e is CatoptEvent<"tenant-plan/1"> => e.schema === "tenant-plan/1" && e.body.status === "converged");
  assert.equal(finals.map((e) => e.tenant).sort(), ["ads", "language", "vision"]);
  for (const plan of finals) {
    const jobs = scenario.cluster.jobs.filter((j) => j.tenant === plan.tenant).map((j) => j.name);
    assert.equal(Object.keys(plan.body.allocations).sort(), jobs.sort(), `${plan.tenant} sees its jobs only`);
  }
  const x = Object.assign({}, ...finals.map((e) => e.body.allocations));
  assert.ok(planViolation(scenario.cluster, x) <= 1e-9, "the tenants' plans together are feasible");
  const state = replayAll(messages);
  assert.equal(state.rejected, []);
  assert.equal(platformOf(state).tenantPlans, { vision: report.rounds, language: report.rounds, ads: report.rounds });
});

cluster("a tenant plan altered and re-signed by the coordinator's own key is refused", () => {
  const index = messages.map(eventOf).findLastIndex((e) => e.schema === "tenant-plan/1" && e.tenant === "vision");
  const original = eventOf(messages[index]) as CatoptEvent<"tenant-plan/1">;
  const [job, types] = Object.entries(original.body.allocations)[0];
  const [type, share] = Object.entries(types)[0] ?? ["V100", 0];
  const forged = { ...original, body: { ...original.body, allocations: { ...original.body.allocations, [job]: { ...types, [type]: share + 0.25 } } } };
  const state = replayAll(withReplaced(index, forged, ids.coordinator));
  assert.is(state.rejected.length, 1);
  assert.match(state.rejected[0].reason, `tenant plan of vision for round ${report.rounds} does not match the replayed state`);
  assert.ok((platformOf(state).tenantPlans.vision ?? 0) < report.rounds, "vision's final plan is not taken");
});

cluster("a node that joins with more accelerators than the problem gives it is refused, and the run does not replay", () => {
  const index = messages.findIndex((m) => eventOf(m).schema === "node-join/1" && m.subject.endsWith(".v100-0"));
  const join = eventOf(messages[index]) as CatoptEvent<"node-join/1">;
  const state = replayAll(withReplaced(index, { ...join, body: { ...join.body, count: 8 } }, ids["v100-0"]));
  assert.match(state.rejected[0].reason, "node v100-0 joined with 8 x V100, but the problem has 4 x V100 there");
  assert.match(state.rejected[1].reason, "round 0 closed before node v100-0 joined");
  assert.is.not(stateHash(state), report.state_hash);
});

cluster("a node delta signed by another admitted node is refused on the victim's subject", () => {
  const index = messages.findIndex((m) => eventOf(m).schema === "node-delta/1" && m.subject.endsWith(".v100-0"));
  const state = replayAll(withReplaced(index, eventOf(messages[index]) as CatoptEvent, ids["k80-0"]));
  assert.is(state.rejected[0].reason, `signer ${ids["k80-0"].did} is not admitted as agent v100-0`);
  assert.match(state.rejected[1].reason, "round 1 took platform/gavel-small/delta/1/v100-0, which the stream has not delivered");
  assert.is(platformOf(state).round, 0, "nothing after the forged delta is applied");
});

cluster("a node delta above its column's public upper bound, or below 0, is refused at admission", () => {
  const index = messages.findIndex((m) => eventOf(m).schema === "node-delta/1" && m.subject.endsWith(".v100-0"));
  const delta = eventOf(messages[index]) as CatoptEvent<"node-delta/1">;
  const [k] = delta.body.index;
  for (const [value, reason] of [
    [1e12, `outside [0, `],
    [-0.5, "outside [0, "],
  ] as const) {
    const state = replayAll(withReplaced(index, { ...delta, body: { index: [k], value: [value] } }, ids["v100-0"]));
    assert.match(state.rejected[0].reason, `delta from v100-0 sets column ${k} to ${value}, ${reason}`);
    assert.is(platformOf(state).round, 0, "nothing after the refused delta is applied");
  }
});

cluster("a node delta that books more than the node's accelerators, each column within its bound, is refused", () => {
  const index = messages.findIndex((m) => eventOf(m).schema === "node-delta/1" && m.subject.endsWith(".v100-0"));
  const delta = eventOf(messages[index]) as CatoptEvent<"node-delta/1">;
  const { columns, capacity } = derivedOf(platformOf(replayAll(messages)).open).decomposition.nodes.find((n) => n.node === "v100-0") as NodeProblem;
  const full = { index: columns.map((_, k) => k), value: columns.map((c) => c.upper) };
  assert.ok(full.value.reduce((a, b) => a + b, 0) > capacity, "the columns' bounds add up to more than the node");
  const state = replayAll(withReplaced(index, { ...delta, body: full }, ids["v100-0"]));
  assert.match(state.rejected[0].reason, `delta from v100-0 books ${full.value.reduce((a, b) => a + b, 0)} accelerator-time on a node of ${capacity}`);
  assert.is(platformOf(state).round, 0);
});

cluster("catopt replay rebuilds the cluster problem from the recording, tenant plans included", async () => {
  const result = await runCli(["replay", recordingFile, "--json"]);
  assert.is(result.code, 0, result.stderr);
  const replayed = lastJson<{ state_hash: string; rounds: number; tenant_plans: { tenants: number; final: number; refused: number } }>(result);
  assert.is(replayed.state_hash, report.state_hash);
  assert.is(replayed.rounds, report.rounds);
  assert.equal(replayed.tenant_plans, { tenants: 3, final: 3, refused: 0, first_refusal: null });
});

cluster(
  "a node that leaves mid-run (gavel-small-leave) takes its accelerators along: the run converges to HiGHS on the cluster without it, replays and verifies",
  async () => {
    const leave = await loadScenarioOf(clusterScenarios, "gavel-small-leave", PROJECT_ROOT);
    assert.ok(leave.secure !== undefined, "secure rounds by default");
    const notes: string[] = [];
    const record = path.join(await mkdtemp(path.join(tmpdir(), "catopt-leave-")), "run.catrec");
    const left = await runScenario(withFamily(clusterScenarios, leave), { onNote: (line) => notes.push(line), record });
    assert.ok(left.converged, `${left.status} after ${left.rounds} rounds`);
    assert.equal(left.left, ["k80-0"]);
    assert.ok(notes.includes("reference: solved again without k80-0, which left"), notes.join("\n"));
    assert.ok((left.gap ?? 1) < 1e-3, `gap to HiGHS without the K80 node: ${left.gap}`);
    assert.ok(
      Object.values(left.allocations).every((types) => (types.K80 ?? 0) === 0),
      "no job runs on the node that left",
    );
    assert.is(left.replay_state_hash, left.state_hash);
    assert.equal(
      left.tenant_plans,
      { rejected: 0, final: 3, first_rejection: null },
      "the leave lands between a round's plans; the node's values stand until the next round closes",
    );
    // The round the node leaves in is tried again without it: a contribution masked for the first attempt, sequenced after
    // the second, is refused as superseded (its masks would not cancel with the new roster), and nothing else is.
    const recording = await readRecording(record);
    const refused = replayMessages(recording.messages, left.governance, {
      tenant: "platform",
      problem: "gavel-small-leave",
      planTenants: left.tenants,
    }).rejected;
    assert.is(left.rejected, refused.length);
    for (const r of refused) assert.match(r.reason, /^masked contribution from \S+ for attempt 1 of round \d+, which is at attempt 2$/);
    assert.ok(left.secure.on && left.secure.retried <= 1, "at most one attempt again (none when the leave came between rounds)");
    assert.ok(left.ledger?.verified, "the ledger verifies");
    assert.is(left.agents.find((a) => a.agent === "k80-0")?.status, "left");
    assert.ok(left.agents.filter((a) => a.agent !== "k80-0").every((a) => a.status === "converged"));
  },
);

cluster(
  "asynchronous rounds on a cluster (gavel-small-async): rounds close at a quorum or a deadline, late deltas count, and the run reaches HiGHS, replays and verifies",
  async () => {
    const scenarioAsync = await loadScenarioOf(clusterScenarios, "gavel-small-async", PROJECT_ROOT);
    const record = path.join(await mkdtemp(path.join(tmpdir(), "catopt-async-")), "run.catrec");
    const run = await runScenario(withFamily(clusterScenarios, scenarioAsync), { record });
    assert.ok(run.converged, `${run.status} after ${run.rounds} rounds`);
    assert.ok((run.gap ?? 1) < 1e-3, `gap to HiGHS ${run.gap}`);
    assert.ok((run.max_violation ?? 1) <= 1e-9, `violation ${run.max_violation}: feasible but for rounding`);
    assert.is(run.replay_state_hash, run.state_hash);
    assert.equal(run.tenant_plans, { rejected: 0, final: 3, first_rejection: null });
    assert.ok(run.ledger?.verified, "the ledger verifies");
    const rounds = (await readRecording(record)).messages.map((m) => eventOf(m)).filter((e): e is CatoptEvent<"round/2"> => e.schema === "round/2");
    const closedBy = new Set(rounds.map((e) => e.body.closedBy));
    assert.ok(closedBy.has("quorum") || closedBy.has("deadline"), `rounds closed by ${[...closedBy].join(", ")}`);
    assert.ok(
      rounds.some((e) => e.body.took.length < 3),
      "some rounds went on without a node",
    );
  },
);

/** The smallest cluster scenario: two nodes, one job. */
const TWO_NODES = {
  format: "catopt-cluster/1",
  name: "x",
  tenant: "platform",
  problem: "p",
  policy: "max-throughput",
  nodes: [
    { name: "a", type: "V100", count: 1 },
    { name: "b", type: "K80", count: 1 },
  ],
  jobs: [{ name: "j", tenant: "t", throughput: { V100: 1, K80: 1 } }],
};

cluster("a cluster scenario with rounds needs a staleness bound", () => {
  const json = { ...TWO_NODES, rounds: { quorum: 1 } };
  assert.throws(
    () => parseClusterScenario(json, "x.json"),
    (err: Error) => err.message.includes("scenario.admm.maxStaleness: asynchronous rounds (scenario.rounds) need a staleness bound of at least 1"),
  );
  assert.equal(parseClusterScenario({ ...json, admm: { maxStaleness: 1 } }, "x.json").admm.stop, "steady");
});

cluster("a cluster scenario's faults: each node leaves once, never every node, and a fault that keeps a node out needs asynchronous rounds", () => {
  const json = TWO_NODES;
  const refused = (faults: unknown[], reason: string) =>
    assert.throws(
      () => parseClusterScenario({ ...json, faults }, "x.json"),
      (err: Error) => err.message.includes(reason),
    );
  refused(
    [{ kind: "cut-link", round: 3, agent: "a", rounds: 2 }],
    "scenario.faults[0]: leaves an agent out of rounds: set scenario.rounds.quorum or scenario.rounds.deadlineMs",
  );
  refused(
    [
      { kind: "leave", round: 3, agent: "a" },
      { kind: "leave", round: 5, agent: "a" },
    ],
    "scenario.faults[1].agent: a leaves once",
  );
  refused(
    [
      { kind: "leave", round: 3, agent: "a" },
      { kind: "leave", round: 5, agent: "b" },
    ],
    "every agent would leave",
  );
  refused([{ kind: "leave", round: 3, agent: "c" }], "scenario.faults[0].agent");
  const async = { ...json, rounds: { quorum: 1, deadlineMs: 200 }, admm: { maxStaleness: 2 } };
  const faults = [
    { kind: "drop-agent", round: 3, agent: "a", rounds: 2 },
    { kind: "restart-coordinator", round: 4 },
    { kind: "delay", round: 2, agent: "b", ms: 50, rounds: 2 },
  ];
  assert.equal(
    parseClusterScenario({ ...async, faults }, "x.json").faults.map((f) => f.kind),
    ["drop-agent", "restart-coordinator", "delay"],
  );
});

cluster("the fold refuses a leave before the cluster started, twice, or by its last node", () => {
  const leave = (node: string, round: number, seq: number): StreamMessage => ({
    subject: `catopt.platform.delta.gavel-small.${node}`,
    seq,
    data: envelopeBytes(
      {
        schema: "leave/1",
        id: `platform/gavel-small/leave/${round}/${node}`,
        tenant: "platform",
        problem: "gavel-small",
        round,
        base: round - 1,
        body: { reason: "drained" },
      },
      ids[node],
    ),
  });
  const firstRound = messages.findIndex((m) => eventOf(m).schema === "round/2");
  const before = replayAll([...messages.slice(0, firstRound), leave("k80-0", 0, messages[firstRound].seq)]);
  assert.match(before.rejected.at(-1)?.reason ?? "", "node k80-0 left while the problem is joining");
  const running = messages.findIndex((m) => eventOf(m).schema === "node-delta/1");
  const at = messages[running].seq;
  const state = replayAll([...messages.slice(0, running), leave("k80-0", 1, at), leave("k80-0", 1, at), leave("p100-0", 1, at), leave("v100-0", 1, at)]);
  assert.equal(
    state.rejected.map((r) => r.reason),
    ["node k80-0 already left after round 0", "node v100-0 is the last node of cluster problem gavel-small: it cannot leave"],
  );
  assert.equal(platformOf(state).left, { "k80-0": 0, "p100-0": 0 });
});

cluster("a node cannot take another's event id: its delta under v100-0's id is refused, and v100-0's own still counts", () => {
  const index = messages.findIndex((m) => eventOf(m).schema === "node-delta/1" && m.subject.endsWith(".v100-0"));
  const victim = eventOf(messages[index]) as CatoptEvent<"node-delta/1">;
  const squat: StreamMessage = {
    subject: "catopt.platform.delta.gavel-small.k80-0",
    seq: messages[index].seq,
    data: envelopeBytes({ ...victim, body: { index: [0], value: [0] } }, ids["k80-0"]),
  };
  const state = replayAll([...messages.slice(0, index), squat, ...messages.slice(index)]);
  assert.equal(
    state.rejected.map((r) => r.reason),
    [`event id ${victim.id} is not one of k80-0's for round ${victim.round} (platform/gavel-small/<kind>/${victim.round}/k80-0)`],
  );
  assert.is(platformOf(state).round, report.rounds, "every round still folds");
});

cluster("a node delta for a plan not yet out is refused on arrival, so no node books against values it has not committed", () => {
  const index = messages.findIndex((m) => eventOf(m).schema === "node-delta/1" && m.subject.endsWith(".k80-0"));
  const delta = eventOf(messages[index]) as CatoptEvent<"node-delta/1">;
  const early: CatoptEvent<"node-delta/1"> = {
    ...delta,
    id: eventId("platform", "gavel-small", "delta", delta.round + 1, "k80-0"),
    round: delta.round + 1,
    base: delta.base + 1,
  };
  const state = replayAll([...messages.slice(0, index), { ...messages[index], data: envelopeBytes(early, ids["k80-0"]) }, ...messages.slice(index)]);
  assert.match(state.rejected[0]?.reason ?? "", `delta from k80-0 for round ${early.round} it answers plan ${early.base}, which is not out`);
  assert.is(state.rejected.length, 1);
});

cluster.run();
