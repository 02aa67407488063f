import { test } from "uvu";
import * as assert from "uvu/assert";
import { initialTransition, transition, type SnapshotFrom } from "xstate";
import { joinEvent } from "../../src/families/energy-qp/agent.ts";
import { roundEvent } from "../../src/coordinator/coordinator-events.ts";
import { openEvent } from "../../src/families/energy-qp/fold.ts";
import { coordinatorMachine, problemOf } from "../../src/coordinator/coordinator-machine.ts";
import { DEFAULT_ADMM } from "../../src/core/problem-spec.ts";
import type { ProblemSpec } from "../../src/families/energy-qp/schemas.ts";
import { expectedPlanEvent, type ProblemState } from "../../src/families/energy-qp/fold.ts";
import type { StreamMessage } from "../../src/core/stream-message.ts";
import { generateIdentity } from "../../src/governance/identity.ts";
import { admitEvent } from "../../src/governance/governance-events.ts";
import { messageOf } from "../helpers/messages.ts";

const spec: ProblemSpec = { resources: ["r"], constraints: [{ name: "cap", coefficients: { r: 1 }, limit: 5 }], agents: ["a", "b"], admm: DEFAULT_ADMM };
const governance = generateIdentity("governance");
const coordinator = generateIdentity("coordinator");
const agents = { a: generateIdentity("a"), b: generateIdentity("b") };
const input = { tenant: "t", problem: "p", spec, roundTimeoutMs: 1000, trustRoot: governance.did, now: 0 };
const local = (owner: string) => ({ owner, constant: 0, variables: [{ resource: "r", lower: 0, upper: 10, quadratic: 1, linear: -5 }] });
type Snapshot = SnapshotFrom<typeof coordinatorMachine>;
const effects = (actions: readonly { type: string }[]): string[] => actions.map((a) => a.type).filter((t) => t.startsWith("publish"));

let seq = 0;
function feed(snapshot: Snapshot, message: StreamMessage, now = 1): [Snapshot, string[]] {
  const [next, actions] = transition(coordinatorMachine, snapshot, { type: "message", message, now });
  return [next, effects(actions)];
}

/** A coordinator that has seen the governance identity admit itself and both agents. */
function admitted(): Snapshot {
  let [s] = initialTransition(coordinatorMachine, input);
  [s] = feed(s, messageOf(++seq, admitEvent("t", coordinator.did, "coordinator", "coordinator"), governance));
  for (const [name, id] of Object.entries(agents)) [s] = feed(s, messageOf(++seq, admitEvent("t", id.did, "agent", name), governance));
  return s;
}

test("the coordinator opens, waits for every join, closes round 0 and publishes the plan the reducer derives", () => {
  const [, startActions] = initialTransition(coordinatorMachine, input);
  assert.equal(effects(startActions), ["publishOpen"]);
  const start = admitted();
  assert.is(start.value, "opening");

  let [s, published] = feed(start, messageOf(++seq, openEvent("t", "p", spec), coordinator));
  assert.is(s.value, "collecting");
  [s, published] = feed(s, messageOf(++seq, joinEvent("t", "p", local("a")), agents.a));
  assert.is(s.value, "collecting", "one join is not a quorum");
  [s, published] = feed(s, messageOf(++seq, joinEvent("t", "p", local("b")), agents.b));
  assert.is(s.value, "closing");
  assert.equal(published, ["publishRound"]);

  const round0 = roundEvent(problemOf(s.context) as ProblemState, s.context.closedBy);
  assert.equal(round0.body.took, ["t/p/join/0/a", "t/p/join/0/b"]);
  [s, published] = feed(s, messageOf(++seq, round0, coordinator));
  assert.is(s.value, "planning", "acts on its round only once it is back from the stream");
  assert.equal(published, ["publishPlan"]);

  const plan0 = expectedPlanEvent(problemOf(s.context) as ProblemState);
  assert.is(plan0.body.status, "running");
  [s] = feed(s, messageOf(++seq, plan0, coordinator));
  assert.is(s.value, "collecting");
  assert.equal(s.context.replay.rejected, []);
});

test("a round that misses its deadline fails the coordinator, naming who was missing", () => {
  let [s] = feed(admitted(), messageOf(++seq, openEvent("t", "p", spec), coordinator), 10);
  [s] = feed(s, messageOf(++seq, joinEvent("t", "p", local("a")), agents.a), 20);
  const [waiting] = transition(coordinatorMachine, s, { type: "tick", now: 900 });
  assert.is(waiting.value, "collecting");
  const [failed] = transition(coordinatorMachine, s, { type: "tick", now: 1011 });
  assert.is(failed.value, "failed");
  assert.match(failed.context.error ?? "", "round 0 timed out after 1000 ms waiting for: b");
});

test("events from a signer the governance identity did not admit are refused, not folded", () => {
  const intruder = generateIdentity("intruder");
  let [s] = feed(admitted(), messageOf(++seq, openEvent("t", "p", spec), coordinator));
  [s] = feed(s, messageOf(++seq, joinEvent("t", "p", local("a")), intruder, "a"));
  [s] = feed(s, messageOf(++seq, admitEvent("t", intruder.did, "agent", "b"), intruder));
  [s] = feed(s, messageOf(++seq, joinEvent("t", "p", local("b")), agents.a, "b"));
  assert.is(s.value, "collecting", "no join counted");
  assert.equal(
    s.context.replay.rejected.map((r) => r.reason.replace(/did:key:\w+/g, "<did>")),
    ["unknown signer <did> in tenant t", "governance event signed by <did>, not by the governance identity", "signer <did> is not admitted as agent b"],
  );
});

test("a failed publish fails the coordinator with the reason", () => {
  const [start] = initialTransition(coordinatorMachine, input);
  const [failed] = transition(coordinatorMachine, start, { type: "publishFailed", reason: "no responders", now: 1 });
  assert.is(failed.value, "failed");
  assert.match(failed.context.error ?? "", "no responders");
});

test("what the coordinator published and never sees come back fails it after a round timeout, naming what: its round, then its plan", () => {
  let [s] = feed(admitted(), messageOf(++seq, openEvent("t", "p", spec), coordinator), 10);
  [s] = feed(s, messageOf(++seq, joinEvent("t", "p", local("a")), agents.a), 20);
  [s] = feed(s, messageOf(++seq, joinEvent("t", "p", local("b")), agents.b), 30);
  assert.is(s.value, "closing");
  assert.is(transition(coordinatorMachine, s, { type: "tick", now: 1000 })[0].value, "closing");
  const [lostRound] = transition(coordinatorMachine, s, { type: "tick", now: 1031 });
  assert.is(lostRound.value, "failed");
  assert.is(lostRound.context.error, "its round 0 event did not come back from the stream within 1000 ms (its publish was never acknowledged)");

  [s] = feed(s, messageOf(++seq, roundEvent(problemOf(s.context) as ProblemState, s.context.closedBy), coordinator), 500);
  assert.is(s.value, "planning");
  assert.is(transition(coordinatorMachine, s, { type: "tick", now: 1031 })[0].value, "planning", "the plan's wait starts when the plan is published");
  const [lostPlan] = transition(coordinatorMachine, s, { type: "tick", now: 1501 });
  assert.is(lostPlan.value, "failed");
  assert.is(lostPlan.context.error, "its plan of round 0 did not come back from the stream within 1000 ms");
});

test("a resumed coordinator times its first wait from when it started", () => {
  let [s] = feed(admitted(), messageOf(++seq, openEvent("t", "p", spec), coordinator), 10);
  [s] = feed(s, messageOf(++seq, joinEvent("t", "p", local("a")), agents.a), 20);
  // Resumed at 5000 on a stream where round 0 has not closed: collecting, and b never joins.
  const [resumed] = initialTransition(coordinatorMachine, { ...input, now: 5000, replay: s.context.replay });
  assert.is(resumed.value, "collecting");
  assert.is(transition(coordinatorMachine, resumed, { type: "tick", now: 5900 })[0].value, "collecting");
  const [failed] = transition(coordinatorMachine, resumed, { type: "tick", now: 6001 });
  assert.match(failed.context.error ?? "", "round 0 timed out after 1000 ms waiting for: b");
});

test.run();
