import { test } from "uvu";
import * as assert from "uvu/assert";
import { setTimeout as sleep } from "node:timers/promises";
import type { AnyEvent } from "../../src/core/event.ts";
import type { ScriptedEvent } from "../../src/core/scenario-format.ts";
import { scriptedPublisher } from "../../src/run/scripted-events.ts";

// A scenario's scripted events go out as their round closes or their time comes, in the order they
// fall due, only while the problem runs, and never before its first round.
const scripted = (label: string, when: { round: number } | { afterMs: number }): ScriptedEvent => ({
  ...when,
  describe: label,
  event: () => ({ id: label }) as unknown as AnyEvent,
});

test("events go out after their round or their time, in the scenario's order, while the problem runs", async () => {
  const sent: string[] = [];
  const publisher = scriptedPublisher(
    [scripted("round 2", { round: 2 }), scripted("also round 2", { round: 2 }), scripted("at 30 ms", { afterMs: 30 }), scripted("round 9", { round: 9 })],
    async (event) => {
      sent.push(event.id);
    },
    { tenant: "t", problem: "p", clock: Date.now },
    () => {},
  );
  publisher.onRound(1, true);
  await sleep(60); // its time has come, but the two before it wait for round 2: it waits behind them (the order the churn was checked in)
  assert.equal(sent, []);
  publisher.onRound(2, true);
  publisher.onRound(3, false); // the problem ended: round 9's never goes out
  publisher.onRound(9, false);
  await publisher.settled();
  assert.equal(sent, ["round 2", "also round 2", "at 30 ms"]);
  assert.equal(
    publisher.timeline.map((t) => t.published_after),
    [2, 2, 2, null],
  );
});

test("a time that comes before the first round waits for it, and a publisher settled early leaves no timer", async () => {
  const sent: string[] = [];
  const early = scriptedPublisher(
    [scripted("at 0 ms", { afterMs: 0 })],
    async (e) => void sent.push(e.id),
    { tenant: "t", problem: "p", clock: Date.now },
    () => {},
  );
  await sleep(20);
  assert.equal(sent, [], "no round has closed yet");
  early.onRound(1, true);
  await early.settled();
  assert.equal(sent, ["at 0 ms"]);
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
  const before = timers();
  const late = scriptedPublisher(
    [scripted("in an hour", { afterMs: 3_600_000 })],
    async () => {},
    { tenant: "t", problem: "p", clock: Date.now },
    () => {},
  );
  await late.settled();
  assert.is(timers(), before);
});

test.run();
