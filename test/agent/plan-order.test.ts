import { test } from "uvu";
import * as assert from "uvu/assert";
import { planAfterItsRound } from "../../src/agent/agent-runner.ts";
import type { StreamReader } from "../../src/bus/read.ts";

// An agent reads the round and plan subjects as two reads: a plan waits for its round event.
// What holds or releases a plan is the coordinator's own event only, checked before it counts.
type Fake = { seq: number; kind: "plan" | "round"; round: number; real: boolean };
const message = (f: Fake) => ({ subject: f.kind, seq: f.seq, data: Uint8Array.of(f.real ? 1 : 0, f.round), pending: 0 });
const reader = (items: readonly Fake[]): StreamReader => ({
  stop: () => {},
  async *[Symbol.asyncIterator]() {
    for (const f of items) yield message(f);
  },
});
/** The coordinator's events are the ones marked real; a forger's count for nothing. */
const coordinators = async (m: { subject: string; data: Uint8Array }) => (m.data[0] === 1 ? { kind: m.subject, round: m.data[1] } : undefined);

async function order(items: readonly Fake[], lastRound = 4): Promise<number[]> {
  const yielded: number[] = [];
  for await (const m of planAfterItsRound(reader(items), lastRound, coordinators)) yielded.push(m.seq);
  return yielded;
}

test("a plan that overtakes its round event waits for it", async () => {
  const yielded = await order([
    { seq: 11, kind: "plan", round: 5, real: true },
    { seq: 10, kind: "round", round: 5, real: true },
  ]);
  assert.equal(yielded, [10, 11]);
});

test("forged plans and a forged far round neither hold the real plan back nor turn the order off", async () => {
  const forged = Array.from({ length: 40 }, (_, i): Fake => ({ seq: 100 + i, kind: "plan", round: 5, real: false }));
  const yielded = await order([
    ...forged,
    { seq: 200, kind: "round", round: 99, real: false },
    { seq: 11, kind: "plan", round: 5, real: true },
    { seq: 10, kind: "round", round: 5, real: true },
    { seq: 13, kind: "plan", round: 6, real: true },
    { seq: 12, kind: "round", round: 6, real: true },
  ]);
  assert.equal(yielded.slice(0, 41), [...forged.map((f) => f.seq), 200], "the forger's messages go on, to be refused by the agent's route");
  assert.equal(yielded.slice(-4), [10, 11, 12, 13], "each real plan right after its round event");
});

test("after a cut, a backlog of plans ahead of their rounds keeps the newest sixteen, each after its round", async () => {
  // The plan read delivers rounds 5 to 104's plans before the round read delivers their rounds.
  const plans = Array.from({ length: 100 }, (_, i): Fake => ({ seq: 1000 + i, kind: "plan", round: 5 + i, real: true }));
  const rounds = Array.from({ length: 100 }, (_, i): Fake => ({ seq: 2000 + i, kind: "round", round: 5 + i, real: true }));
  const yielded = await order([...plans, ...rounds]);
  // The newest sixteen waited; each follows its round event; the older ones were superseded.
  const expected = rounds.flatMap((r) => (r.round >= 89 ? [r.seq, 1000 + r.round - 5] : [r.seq]));
  assert.equal(yielded, expected);
  assert.equal(yielded.slice(-2), [2099, 1099], "ends in the newest plan, right after its round");
});

test("a plan released with older ones waiting goes alone: the older are superseded", async () => {
  const yielded = await order([
    { seq: 21, kind: "plan", round: 5, real: true },
    { seq: 23, kind: "plan", round: 6, real: true },
    { seq: 22, kind: "round", round: 6, real: true },
  ]);
  assert.equal(yielded, [22, 23]);
});

test.run();
