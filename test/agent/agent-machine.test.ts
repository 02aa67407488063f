import { test } from "uvu";
import * as assert from "uvu/assert";
import { initialTransition, transition } from "xstate";
import { deltaEvent } from "../../src/families/energy-qp/agent.ts";
import { agentMachine } from "../../src/agent/agent-machine.ts";
import { qpSolver, type QpPlan } from "../../src/families/energy-qp/qp-solver.ts";
import type { LocalProblem } from "../../src/families/energy-qp/local-problem.ts";
import { localStep } from "../../src/families/energy-qp/local-step.ts";

// The machine stepped purely: transition() returns the next snapshot and the effects to run.
const local: LocalProblem = {
  owner: "rover",
  constant: 0,
  variables: [
    { resource: "t08", lower: 0, upper: 100, quadratic: 1, linear: -50 },
    { resource: "t10", lower: 0, upper: 100, quadratic: 2, linear: -10 },
  ],
};
const input = { agent: "rover", solver: qpSolver(local), planTimeoutMs: 1000, now: 0 };
// A plan as the agent takes it: the shared plan and its own values as the round events said the fold took them.
const plan = (status: QpPlan["status"], rover: Record<string, number>): QpPlan => ({
  status,
  rho: 1,
  signal: { t08: 0.5, t10: -1 },
  committed: rover,
  objective: 0,
  primal: 1,
  dual: 1,
  epsPrimal: 0,
  epsDual: 0,
});
const effects = (actions: readonly { type: string }[]): string[] => actions.map((a) => a.type).filter((t) => t.startsWith("publish"));

function joined() {
  const [start] = initialTransition(agentMachine, input);
  const [announcing] = transition(agentMachine, start, { type: "opened", agents: ["rover", "drone"], now: 1 });
  const [waiting] = transition(agentMachine, announcing, { type: "published", now: 2 });
  return waiting;
}

test("an agent waits for its problem to open, then publishes its join, then waits for a plan", () => {
  const [start, startActions] = initialTransition(agentMachine, input);
  assert.equal(start.value, { joining: "awaitingOpen" });
  assert.equal(effects(startActions), []);
  const [announcing, actions] = transition(agentMachine, start, { type: "opened", agents: ["rover", "drone"], now: 1 });
  assert.equal(announcing.value, { joining: "announcing" });
  assert.equal(effects(actions), ["publishJoin"]);
  assert.is(joined().value, "awaitingPlan");
});

test("an agent that is not part of the problem fails with the reason", () => {
  const [start] = initialTransition(agentMachine, input);
  const [failed] = transition(agentMachine, start, { type: "opened", agents: ["drone"], now: 1 });
  assert.is(failed.value, "failed");
  assert.match(failed.context.error ?? "", "rover is not part of the problem");
});

test("a new plan is solved with the pure local step and published as a delta of what changed", () => {
  const committed = { t08: 10, t10: 0 };
  const [publishing, actions] = transition(agentMachine, joined(), { type: "plan", round: 4, body: plan("running", committed), now: 3 });
  assert.is(publishing.value, "publishing");
  assert.equal(effects(actions), ["publishDelta"]);
  const expected = localStep(local, committed, { t08: 0.5, t10: -1 }, 1);
  assert.equal(publishing.context.proposed, expected);
  const delta = deltaEvent("cosmos", "sol", local, publishing.context);
  assert.equal([delta.round, delta.base, delta.id], [5, 4, "cosmos/sol/delta/5/rover"]);
  const changed = Object.keys(expected).filter((r) => expected[r] !== committed[r as keyof typeof committed]);
  assert.equal(Object.keys(delta.body.entries).sort(), changed.sort());
});

test("an old or repeated plan is ignored; a plan that arrives mid-publish is queued, not lost", () => {
  const [publishing] = transition(agentMachine, joined(), { type: "plan", round: 1, body: plan("running", {}), now: 3 });
  const [stillPublishing] = transition(agentMachine, publishing, { type: "plan", round: 2, body: plan("running", { t08: 1 }), now: 4 });
  assert.is(stillPublishing.value, "publishing");
  assert.is(stillPublishing.context.queued?.round, 2);
  const [again, actions] = transition(agentMachine, stillPublishing, { type: "published", now: 5 });
  assert.is(again.value, "publishing");
  assert.is(again.context.planRound, 2);
  assert.equal(effects(actions), ["publishDelta"]);
  const [acknowledged] = transition(agentMachine, again, { type: "published", now: 6 });
  const [same] = transition(agentMachine, acknowledged, { type: "plan", round: 2, body: plan("running", {}), now: 7 });
  assert.is(same.value, "awaitingPlan");
});

test("a final plan ends the agent as converged; silence past the timeout fails it", () => {
  const [converged] = transition(agentMachine, joined(), { type: "plan", round: 9, body: plan("converged", { t08: 1 }), now: 3 });
  assert.is(converged.value, "converged");
  assert.is(converged.status, "done");
  const waiting = joined();
  const [early] = transition(agentMachine, waiting, { type: "tick", now: 900 });
  assert.is(early.value, "awaitingPlan");
  const [late] = transition(agentMachine, waiting, { type: "tick", now: 1003 });
  assert.is(late.value, "failed");
  assert.match(late.context.error ?? "", "within 1000 ms");
});

test("leaving publishes a leave event and ends as left once it is on the stream; before the problem opened there is nothing to leave", () => {
  const [asked] = transition(agentMachine, joined(), { type: "leave", reason: "grounded", now: 3 });
  assert.is(asked.value, "leaving");
  const [stillLeaving, later] = transition(agentMachine, asked, { type: "published", now: 4 }); // a delta that was in flight
  assert.is(stillLeaving.value, "leaving");
  assert.equal(effects(later), []);
  const [left] = transition(agentMachine, stillLeaving, { type: "leaveRecorded", now: 5 });
  assert.is(left.value, "left");
  assert.is(left.status, "done");
  const [fresh] = initialTransition(agentMachine, input);
  const [gone, actions] = transition(agentMachine, fresh, { type: "leave", reason: "grounded", now: 1 });
  assert.equal([gone.value, effects(actions)], ["left", []]);
  const [leaving, leaveActions] = transition(agentMachine, joined(), { type: "leave", reason: "x", now: 3 });
  assert.equal([leaving.value, effects(leaveActions)], ["leaving", ["publishLeave"]]);
});

test.run();
