import { test } from "uvu";
import * as assert from "uvu/assert";
import { initialTransition, transition, type SnapshotFrom } from "xstate";
import { joinEvent } from "../../src/families/energy-qp/agent.ts";
import { roundEvent } from "../../src/coordinator/coordinator-events.ts";
import { openEvent } from "../../src/families/energy-qp/fold.ts";
import { coordinatorMachine, problemOf, type CoordinatorEvent } from "../../src/coordinator/coordinator-machine.ts";
import { eventId, type CatoptEvent } from "../../src/core/event.ts";
import { DEFAULT_ADMM } from "../../src/core/problem-spec.ts";
import type { ProblemSpec } from "../../src/families/energy-qp/schemas.ts";
import { expectedPlanEvent, type ProblemState } from "../../src/families/energy-qp/fold.ts";
import type { StreamMessage } from "../../src/core/stream-message.ts";
import { replayMessages } from "../../src/replay/replay.ts";
import { stateHash } from "../../src/replay/state-hash.ts";
import { generateIdentity } from "../../src/governance/identity.ts";
import { admitEvent } from "../../src/governance/governance-events.ts";
import { messageOf } from "../helpers/messages.ts";

// Asynchronous rounds, stepped purely: three agents, a quorum of two, one round of staleness,
// a 100 ms deadline. Every message the machine folds is kept, so a replay can be held to it.
const spec: ProblemSpec = {
  resources: ["r"],
  constraints: [{ name: "cap", coefficients: { r: 1 }, limit: 5 }],
  agents: ["a", "b", "c"],
  admm: { ...DEFAULT_ADMM, maxStaleness: 1, stop: "steady" },
};
const governance = generateIdentity("governance");
const coordinator = generateIdentity("coordinator");
const agents = { a: generateIdentity("a"), b: generateIdentity("b"), c: generateIdentity("c") };
const input = { tenant: "t", problem: "p", roundTimeoutMs: 1000, quorum: 2, deadlineMs: 100, trustRoot: governance.did, now: 0 };
const local = (owner: string) => ({ owner, constant: 0, variables: [{ resource: "r", lower: 0, upper: 10, quadratic: 1, linear: -5 }] });
type Snapshot = SnapshotFrom<typeof coordinatorMachine>;

function harness(problemSpec: ProblemSpec = spec) {
  const folded: StreamMessage[] = [];
  let [s] = initialTransition(coordinatorMachine, input);
  const feed = (event: CatoptEvent, signer: (typeof agents)["a"], now = 1): Snapshot => {
    const message = messageOf(folded.length + 1, event, signer);
    folded.push(message);
    [s] = transition(coordinatorMachine, s, { type: "message", message, now });
    return s;
  };
  const problem = () => problemOf(s.context) as ProblemState;
  /** Publishes what the machine decided (its round, then its plan), as the runner would, and returns the round event. */
  const close = (): CatoptEvent<"round/2"> => {
    assert.is(s.value, "closing");
    const round = roundEvent(problem(), s.context.closedBy);
    feed(round, coordinator);
    feed(expectedPlanEvent(problem()), coordinator);
    return round;
  };
  const delta = (agent: keyof typeof agents, base: number, value: number): void =>
    void feed(
      {
        schema: "delta/1",
        id: eventId("t", "p", "delta", base + 1, agent),
        tenant: "t",
        problem: "p",
        round: base + 1,
        base,
        body: { entries: { r: value }, objective: 0 },
      },
      agents[agent],
    );
  const send = (event: CoordinatorEvent): Snapshot => {
    [s] = transition(coordinatorMachine, s, event);
    return s;
  };
  const tick = (now: number): Snapshot => send({ type: "tick", now });
  feed(admitEvent("t", coordinator.did, "coordinator", "coordinator"), governance);
  for (const [name, id] of Object.entries(agents)) feed(admitEvent("t", id.did, "agent", name), governance);
  feed(openEvent("t", "p", problemSpec), coordinator);
  return { feed, close, delta, tick, send, problem, folded, snapshot: () => s };
}

test("a quorum closes a round, a late delta counts in the next one, a too late one is refused, a laggard is waited for up to the deadline", () => {
  const h = harness();
  h.feed(joinEvent("t", "p", local("a")), agents.a);
  assert.is(h.snapshot().value, "collecting", "one join is not a quorum");
  h.feed(joinEvent("t", "p", local("b")), agents.b);
  const round0 = h.close();
  assert.equal([round0.body.took.length, round0.body.closedBy], [2, "quorum"]);
  h.feed(joinEvent("t", "p", local("c")), agents.c);
  assert.equal(h.problem().x.c, { r: 0 }, "c joins the running problem at x = 0");

  h.delta("a", 0, 1);
  h.delta("b", 0, 2);
  const round1 = h.close();
  assert.equal([round1.body.took, round1.body.closedBy], [["t/p/delta/1/a", "t/p/delta/1/b"], "quorum"]);

  h.delta("a", 1, 1.5);
  h.delta("b", 1, 2.5);
  assert.is(h.snapshot().value, "collecting", "c's values would be 2 rounds old, beyond the staleness bound of 1: wait for it");
  h.tick(50);
  assert.is(h.snapshot().value, "collecting");
  h.tick(101);
  const round2 = h.close();
  assert.equal([round2.body.took.length, round2.body.closedBy], [2, "deadline"]);

  h.delta("c", 1, 3); // answers plan 1, after round 2 closed: within one round of staleness
  h.delta("a", 2, 1.6);
  const round3 = h.close();
  assert.equal([round3.body.took, round3.body.closedBy], [["t/p/delta/3/a", "t/p/delta/2/c"], "quorum"]);
  assert.is(h.problem().x.c?.r, 3, "the late delta counted");
  assert.is(h.problem().committedAt.c, 3);

  h.delta("b", 1, 9); // answers plan 1, but round 3 is closed: two rounds old
  const refused = h.problem().pending;
  assert.not.ok(Object.keys(refused).includes("t/p/delta/2/b"));
  assert.match(h.snapshot().context.replay.rejected.at(-1)?.reason ?? "", "delta from b comes too late: it answers plan 1");

  // Timing decided when each round closed; the stream says so, and a replay reaches the same state without a clock.
  assert.is(stateHash(replayMessages(h.folded, governance.did)), stateHash(h.snapshot().context.replay));
});

/** Loose tolerances and a budget that never binds: a round whose taken values do not move has residuals of 0, whatever plan they answer. */
const loose = (admm: ProblemSpec["admm"]): ProblemSpec => ({
  ...spec,
  constraints: [{ name: "cap", coefficients: { r: 1 }, limit: 100 }],
  admm: { ...admm, epsAbs: 0.01, epsRel: 1e-6 },
});

/** Every agent joined and round 1 closed with a delta from each (a = 1, b = 2, c = 3). */
function pastRoundOne(problemSpec: ProblemSpec = spec) {
  const h = harness(problemSpec);
  for (const a of ["a", "b", "c"] as const) h.feed(joinEvent("t", "p", local(a)), agents[a]);
  h.close();
  h.delta("a", 0, 1);
  h.delta("b", 0, 2);
  h.delta("c", 0, 3);
  h.close();
  return h;
}

test("a round that took a delta which is no longer good is refused by the fold", () => {
  const h = pastRoundOne();
  // A forged round 2 that takes nothing anyone sent, then one taking a delta twice.
  const bad = (took: string[]): CatoptEvent<"round/2"> => ({
    schema: "round/2",
    id: eventId("t", "p", "round", 2),
    tenant: "t",
    problem: "p",
    round: 2,
    base: 1,
    body: { took, closedBy: "quorum" },
  });
  h.delta("a", 1, 2);
  h.feed(bad(["t/p/delta/1/a"]), coordinator);
  assert.match(h.snapshot().context.replay.rejected.at(-1)?.reason ?? "", "has not delivered");
  h.feed(bad(["t/p/delta/2/a", "t/p/delta/2/a"]), coordinator);
  assert.match(h.snapshot().context.replay.rejected.at(-1)?.reason ?? "", "two deltas from a");
  assert.is(h.problem().round, 1);
});

test("an agent leaves: rounds stop waiting for it, its values and deltas stop counting, and it may join again", () => {
  const h = pastRoundOne();
  h.delta("c", 1, 3.5); // pending when c leaves: no round decided after the leave takes it
  const leave = (round: number): CatoptEvent<"leave/1"> => ({
    schema: "leave/1",
    id: eventId("t", "p", "leave", round, "c"),
    tenant: "t",
    problem: "p",
    round,
    base: round - 1,
    body: { reason: "grounded" },
  });
  h.feed(leave(1), agents.c);
  assert.equal(h.problem().joined.c?.left, 1);
  assert.not.ok("c" in h.problem().x, "c's values are out of the sum");
  h.delta("a", 1, 1.5);
  h.delta("b", 1, 2.5);
  const round2 = h.close();
  assert.equal([round2.body.took, round2.body.closedBy], [["t/p/delta/2/a", "t/p/delta/2/b"], "all"], "a and b are every agent now");
  assert.not.ok(
    Object.values(h.problem().pending).some((d) => d.agent === "c"),
    "c's pending delta is dropped once a round closes",
  );
  h.delta("c", 2, 4);
  assert.match(h.snapshot().context.replay.rejected.at(-1)?.reason ?? "", "delta from c, which left after round 1");
  h.feed(leave(2), agents.c);
  assert.match(h.snapshot().context.replay.rejected.at(-1)?.reason ?? "", "c already left after round 1");

  h.feed(joinEvent("t", "p", local("c"), 2), agents.c);
  assert.equal([h.problem().x.c, h.problem().joined.c?.left], [{ r: 0 }, undefined], "c joins again as a newcomer, at x = 0");
  h.delta("a", 2, 1.6);
  h.delta("b", 2, 2.6);
  assert.equal(h.close().body.closedBy, "quorum", "c's zeros are one round old: within the bound");
  h.delta("a", 3, 1.7);
  h.delta("b", 3, 2.7);
  assert.is(h.snapshot().value, "collecting", "c is an agent again: now the round waits for it");
  h.delta("c", 3, 3);
  assert.equal(h.close().body.closedBy, "all");
  assert.is(stateHash(replayMessages(h.folded, governance.did)), stateHash(h.snapshot().context.replay));
});

test("a leave between a round's decision and its round event: the round still folds, and the leaver's delta counts for nothing", () => {
  const h = pastRoundOne();
  h.delta("a", 1, 1.5);
  h.delta("b", 1, 2.5);
  h.delta("c", 1, 9);
  assert.is(h.snapshot().value, "closing", "the coordinator decided round 2, taking c's delta");
  const round2 = roundEvent(h.problem(), h.snapshot().context.closedBy); // what it published on entering closing
  assert.equal(round2.body.took, ["t/p/delta/2/a", "t/p/delta/2/b", "t/p/delta/2/c"]);
  const leave: CatoptEvent<"leave/1"> = {
    schema: "leave/1",
    id: eventId("t", "p", "leave", 1, "c"),
    tenant: "t",
    problem: "p",
    round: 1,
    base: 0,
    body: { reason: "grounded" },
  };
  h.feed(leave, agents.c); // reaches the stream before the round event
  h.feed(round2, coordinator);
  assert.is(h.problem().round, 2, "the round folded: the coordinator goes on");
  h.feed(expectedPlanEvent(h.problem()), coordinator);
  assert.equal([h.problem().x.a, h.problem().x.b, "c" in h.problem().x], [{ r: 1.5 }, { r: 2.5 }, false], "c's values no longer count");
  assert.is(h.snapshot().value, "collecting");
});

test("a coordinator whose own round event comes back refused fails, naming the refusal, rather than wait for it forever", () => {
  const h = pastRoundOne();
  h.delta("a", 1, 1.5);
  h.delta("b", 1, 2.5);
  h.delta("c", 1, 3.5);
  assert.is(h.snapshot().value, "closing");
  const seq = h.folded.length + 1; // where the stream stores the round event it publishes next
  h.send({ type: "published", seq, now: 2 });
  // What reaches the stream under that sequence is a round the fold refuses (here: one that takes a delta nobody sent).
  h.feed(
    { schema: "round/2", id: eventId("t", "p", "round", 2), tenant: "t", problem: "p", round: 2, base: 1, body: { took: ["t/p/delta/2/z"], closedBy: "all" } },
    coordinator,
  );
  assert.is(h.snapshot().value, "failed");
  assert.match(
    h.snapshot().context.error ?? "",
    `the fold refused this coordinator's own round event (seq ${seq}): round 2 took t/p/delta/2/z, which the stream has not delivered`,
  );
});

test("residuals that look converged in a round mixing a late value end nothing until every value answers a plan the rounds since left in place", () => {
  const h = pastRoundOne(loose(spec.admm));
  h.delta("a", 1, 4); // round 2 moves the plan a lot, without c
  h.delta("b", 1, 5);
  assert.equal(h.close().body.closedBy, "quorum");
  h.delta("c", 1, 3); // c's late answer to plan 1, from before that move
  h.delta("a", 2, 4);
  const round3 = h.close();
  assert.equal(round3.body.took, ["t/p/delta/3/a", "t/p/delta/2/c"]);
  const p3 = h.problem();
  assert.ok(p3.residuals.primal <= p3.residuals.epsPrimal && p3.residuals.dual <= p3.residuals.epsDual, "round 3's residuals alone look converged");
  assert.is(p3.phase, "running", "c's value answers plan 1, and round 2 moved the plan since: not converged");
  assert.equal([p3.lateAnswers, p3.steadySince], [{ c: 1 }, 3]);

  for (const [a, value] of [
    ["a", 4],
    ["b", 5],
    ["c", 3],
  ] as const)
    h.delta(a, 3, value);
  h.close();
  assert.is(h.problem().phase, "converged", "every value answers plan 3, and round 4 left it in place");
  assert.equal([h.problem().lateAnswers, h.problem().steadySince], [undefined, undefined]);
  assert.is(stateHash(replayMessages(h.folded, governance.did)), stateHash(h.snapshot().context.replay));
});

test("an agent that joined a running problem ends nothing before its first delta counts: its zeros answer no plan", () => {
  const h = harness(loose({ ...spec.admm, maxStaleness: 2 }));
  h.feed(joinEvent("t", "p", local("a")), agents.a);
  h.feed(joinEvent("t", "p", local("b")), agents.b);
  h.close();
  for (const base of [0, 1]) {
    h.delta("a", base, 4);
    h.delta("b", base, 5);
    h.close();
  }
  h.feed(joinEvent("t", "p", local("c"), 2), agents.c);
  assert.equal(h.problem().lateAnswers, { c: -1 });
  h.delta("a", 2, 4);
  h.delta("b", 2, 5);
  h.close();
  const p3 = h.problem();
  assert.ok(p3.residuals.dual <= p3.residuals.epsDual && p3.residuals.primal <= p3.residuals.epsPrimal, "a and b stood still: the residuals look converged");
  assert.is(p3.phase, "running", "c has sent nothing: its zeros are no answer");
  h.delta("c", 3, 3);
  h.delta("a", 3, 4);
  h.close();
  assert.equal([h.problem().phase, h.problem().lateAnswers], ["running", undefined], "c's value moved the plan");
});

test("a stream opened without the steady rule (an earlier release's) ends by the rule it ran under", () => {
  const { stop: _stop, ...before } = spec.admm;
  const h = pastRoundOne(loose(before));
  h.delta("a", 1, 4);
  h.delta("b", 1, 5);
  h.close();
  h.delta("c", 1, 3);
  h.delta("a", 2, 4);
  h.close();
  assert.equal([h.problem().phase, h.problem().lateAnswers, h.problem().steadySince], ["converged", undefined, undefined]);
});

test.run();
