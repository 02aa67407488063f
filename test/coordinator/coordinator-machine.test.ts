import { test } from "uvu";
import * as assert from "uvu/assert";
import { initialTransition, transition, type SnapshotFrom } from "xstate";
import { joinEvent } from "../../src/agent/agent-events.ts";
import { openEvent, roundEvent } from "../../src/coordinator/coordinator-events.ts";
import { coordinatorMachine, problemOf } from "../../src/coordinator/coordinator-machine.ts";
import { DEFAULT_ADMM, type ProblemSpec } from "../../src/core/problem-spec.ts";
import { expectedPlanEvent, type ProblemState, type StreamMessage } from "../../src/replay/reducer.ts";
import { messageOf } from "../helpers/messages.ts";

const spec: ProblemSpec = { resources: ["r"], constraints: [{ name: "cap", coefficients: { r: 1 }, limit: 5 }], agents: ["a", "b"], admm: DEFAULT_ADMM };
const input = { tenant: "t", problem: "p", spec, roundTimeoutMs: 1000, now: 0 };
const local = (owner: string) => ({ owner, constant: 0, variables: [{ resource: "r", lower: 0, upper: 10, quadratic: 1, linear: -5 }] });
type Snapshot = SnapshotFrom<typeof coordinatorMachine>;
const effects = (actions: readonly { type: string }[]): string[] => actions.map((a) => a.type).filter((t) => t.startsWith("publish"));

let seq = 0;
function feed(snapshot: Snapshot, message: StreamMessage, now = 1): [Snapshot, string[]] {
  const [next, actions] = transition(coordinatorMachine, snapshot, { type: "message", message, now });
  return [next, effects(actions)];
}

test("the coordinator opens, waits for every join, closes round 0 and publishes the plan the reducer derives", () => {
  const [start, startActions] = initialTransition(coordinatorMachine, input);
  assert.is(start.value, "opening");
  assert.equal(effects(startActions), ["publishOpen"]);

  let [s, published] = feed(start, messageOf(++seq, openEvent("t", "p", spec)));
  assert.is(s.value, "collecting");
  [s, published] = feed(s, messageOf(++seq, joinEvent("t", "p", local("a")), "a"));
  assert.is(s.value, "collecting", "one join is not a quorum");
  [s, published] = feed(s, messageOf(++seq, joinEvent("t", "p", local("b")), "b"));
  assert.is(s.value, "closing");
  assert.equal(published, ["publishRound"]);

  const round0 = roundEvent(problemOf(s.context) as ProblemState);
  assert.equal(round0.body.took, ["t/p/join/0/a", "t/p/join/0/b"]);
  [s, published] = feed(s, messageOf(++seq, round0));
  assert.is(s.value, "planning", "acts on its round only once it is back from the stream");
  assert.equal(published, ["publishPlan"]);

  const plan0 = expectedPlanEvent(problemOf(s.context) as ProblemState);
  assert.is(plan0.body.status, "running");
  [s] = feed(s, messageOf(++seq, plan0));
  assert.is(s.value, "collecting");
  assert.equal(s.context.replay.rejected, []);
});

test("a round that misses its deadline fails the coordinator, naming who was missing", () => {
  const [start] = initialTransition(coordinatorMachine, input);
  let [s] = feed(start, messageOf(++seq, openEvent("t", "p", spec)), 10);
  [s] = feed(s, messageOf(++seq, joinEvent("t", "p", local("a")), "a"), 20);
  const [waiting] = transition(coordinatorMachine, s, { type: "tick", now: 900 });
  assert.is(waiting.value, "collecting");
  const [failed] = transition(coordinatorMachine, s, { type: "tick", now: 1011 });
  assert.is(failed.value, "failed");
  assert.match(failed.context.error ?? "", "round 0 timed out after 1000 ms waiting for: b");
});

test("a failed publish fails the coordinator with the reason", () => {
  const [start] = initialTransition(coordinatorMachine, input);
  const [failed] = transition(coordinatorMachine, start, { type: "publishFailed", reason: "no responders", now: 1 });
  assert.is(failed.value, "failed");
  assert.match(failed.context.error ?? "", "no responders");
});

test.run();
