import { test } from "uvu";
import * as assert from "uvu/assert";
import { startFaultScript, type FaultActions } from "../../src/run/fault-script.ts";

const noActions: FaultActions = {
  stopAgent: () => {},
  restartAgent: () => {},
  leaveAgent: () => {},
  stopCoordinator: () => {},
  killServer: async () => "none",
};

// A scenario's fault on an agent is about a participant: an agent that started too slowly to be
// in the rounds by then (asynchronous rounds go on without it) is cut once it has taken part, not
// before. Cut while still starting, the drone of cosmos-cut-link joined 150 rounds late, after
// residual balancing had ended with rho driven down by rounds without it, and the run did not converge.
test("a fault on an agent waits until the agent has taken part", async () => {
  const notes: string[] = [];
  const script = await startFaultScript(
    [{ kind: "cut-link", round: 10, agent: "drone", rounds: 8 }],
    "nats://127.0.0.1:4222",
    noActions,
    () => 0,
    (line) => notes.push(line),
  );
  const [t] = script.timeline;
  let droneIn = false;
  for (let round = 1; round <= 30; round++) {
    if (round === 14) droneIn = true;
    script.onRound(round, (agent) => agent === "drone" && droneIn);
  }
  await script.close();
  assert.is(t.struckAfter, 14, "struck once the drone had taken part, not at round 10");
  assert.is(t.endedAfter, 22, "and lasted its 8 rounds from then");
  assert.equal(notes.length, 2);
});

test("a fault on a participating agent strikes at its round", async () => {
  const script = await startFaultScript(
    [{ kind: "delay", round: 3, agent: "rover", ms: 50, rounds: 2 }],
    "nats://127.0.0.1:4222",
    noActions,
    () => 0,
    () => {},
  );
  for (let round = 1; round <= 6; round++) script.onRound(round, () => true);
  await script.close();
  assert.is(script.timeline[0].struckAfter, 3);
  assert.is(script.timeline[0].endedAfter, 5);
});

test.run();
