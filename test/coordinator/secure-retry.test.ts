import { test } from "uvu";
import * as assert from "uvu/assert";
import { initialTransition, transition, type SnapshotFrom } from "xstate";
import { eventId, type CatoptEvent } from "../../src/core/event.ts";
import { DEFAULT_ADMM } from "../../src/core/problem-spec.ts";
import type { StreamMessage } from "../../src/core/stream-message.ts";
import { coordinatorMachine, problemOf, recoveryOf, retryOf } from "../../src/coordinator/coordinator-machine.ts";
import { roundEvent } from "../../src/coordinator/coordinator-events.ts";
import { joinEvent } from "../../src/families/energy-qp/agent.ts";
import { expectedPlanEvent, openEvent, type ProblemState } from "../../src/families/energy-qp/fold.ts";
import { contributionWords } from "../../src/families/energy-qp/secure-layout.ts";
import type { ProblemSpec } from "../../src/families/energy-qp/schemas.ts";
import { admitEvent } from "../../src/governance/governance-events.ts";
import { generateIdentity, seedOf } from "../../src/governance/identity.ts";
import { contribute, openPeerShare, type Attempt } from "../../src/secure/aggregation.ts";
import { agreementKeyOf } from "../../src/secure/masks.ts";
import { wordsToBytes } from "../../src/secure/ring.ts";
import { messageOf } from "../helpers/messages.ts";

// A secure round whose roster agent never answers: at the round timeout the coordinator tries the
// round again without it (attempt/1) rather than failing, and the round closes on the others.
const NAMES = ["a", "b", "c"];
const spec: ProblemSpec = {
  resources: ["r"],
  constraints: [{ name: "cap", coefficients: { r: 1 }, limit: 5 }],
  agents: NAMES,
  admm: DEFAULT_ADMM,
  secure: { fractionBits: 30, maxAbs: 16, threshold: 2 },
};
const governance = generateIdentity("governance");
const coordinator = generateIdentity("coordinator");
const ids = Object.fromEntries(NAMES.map((n) => [n, generateIdentity(n)]));
const keys = Object.fromEntries(NAMES.map((n) => [n, agreementKeyOf(seedOf(ids[n]), "t", "p")]));
const input = { tenant: "t", problem: "p", roundTimeoutMs: 1000, trustRoot: governance.did, now: 0 };
const local = (owner: string) => ({ owner, constant: 0, variables: [{ resource: "r", lower: 0, upper: 10, quadratic: 1, linear: -5 }] });
type Snapshot = SnapshotFrom<typeof coordinatorMachine>;
let seq = 0;
const feed = (s: Snapshot, message: StreamMessage, now = 1): [Snapshot, string[]] => {
  const [next, actions] = transition(coordinatorMachine, s, { type: "message", message, now });
  return [next, actions.map((a) => a.type).filter((t) => t.startsWith("publish"))];
};
const random = (label: string) => {
  let n = 0;
  return (bytes: number) => Uint8Array.from({ length: bytes }, (_, i) => (label.charCodeAt(i % label.length) * 31 + n++ * 7 + i) & 0xff);
};
const masked = (name: string, round: number, attempt: Attempt) => {
  const c = contribute(
    { name, key: keys[name] },
    attempt,
    contributionWords(spec, spec.secure as NonNullable<ProblemSpec["secure"]>, { r: 1 }, {}, 0),
    random(`${name}${attempt.context.attempt}`),
  );
  const number = attempt.context.attempt;
  return {
    c,
    event: {
      schema: "masked/1" as const,
      id: eventId("t", "p", number === 1 ? "masked" : `masked-${number}`, round, name),
      tenant: "t",
      problem: "p",
      round,
      base: round - 1,
      body: { attempt: number, words: wordsToBytes(c.masked), commitment: c.commitment, shares: c.sealedShares, shareDigests: c.shareDigests },
    },
  };
};
const attemptOf = (names: readonly string[], number: number): Attempt => ({
  context: { tenant: "t", problem: "p", round: 1, attempt: number },
  roster: names.map((name) => ({ name, publicKey: keys[name].publicKey })),
});

/** Agent `name`'s reveal of its seed for round 1, taken with all three. */
const revealOf = (name: string, seed: Uint8Array): CatoptEvent<"reveal/1"> => ({
  schema: "reveal/1",
  id: eventId("t", "p", "reveal", 1, name),
  tenant: "t",
  problem: "p",
  round: 1,
  base: 0,
  body: { seed, took: NAMES, attempt: 1 },
});

/** A coordinator of a secure problem whose three agents joined with their keys, after round 0 and its plan: collecting round 1. */
function started(): Snapshot {
  let [s] = initialTransition(coordinatorMachine, input);
  [s] = feed(s, messageOf(++seq, admitEvent("t", coordinator.did, "coordinator", "coordinator"), governance));
  for (const n of NAMES) [s] = feed(s, messageOf(++seq, admitEvent("t", ids[n].did, "agent", n), governance));
  [s] = feed(s, messageOf(++seq, openEvent("t", "p", spec), coordinator));
  for (const n of NAMES) {
    const join = joinEvent("t", "p", local(n));
    [s] = feed(s, messageOf(++seq, { ...join, body: { ...join.body, agreementKey: keys[n].publicKey } }, ids[n]));
  }
  [s] = feed(s, messageOf(++seq, roundEvent(problemOf(s.context) as ProblemState, s.context.closedBy), coordinator));
  [s] = feed(s, messageOf(++seq, expectedPlanEvent(problemOf(s.context) as ProblemState), coordinator), 10);
  return s;
}

test("a roster agent that never answers: at the timeout the round is tried again without it, and closes on the others", () => {
  let s = started();
  assert.is(s.value, "collecting");
  // a and b answer; c never does.
  for (const n of ["a", "b"]) [s] = feed(s, messageOf(++seq, masked(n, 1, attemptOf(NAMES, 1)).event, ids[n]), 20);
  assert.is(s.value, "collecting");
  assert.is(transition(coordinatorMachine, s, { type: "tick", now: 900 })[0].value, "collecting");
  const [retrying, actions] = transition(coordinatorMachine, s, { type: "tick", now: 1011 });
  assert.is(retrying.value, "retrying");
  assert.equal(
    actions.map((a) => a.type).filter((t) => t.startsWith("publish")),
    ["publishAttempt"],
  );
  const attempt = retryOf(problemOf(retrying.context), retrying.context.missing);
  assert.equal(attempt?.schema === "attempt/1" && attempt.body, { attempt: 2, roster: ["a", "b"] });
  [s] = feed(retrying, messageOf(++seq, attempt as NonNullable<typeof attempt>, coordinator), 1020);
  assert.is(s.value, "collecting", "collecting again, its clock started afresh");
  assert.is(transition(coordinatorMachine, s, { type: "tick", now: 1900 })[0].value, "collecting");
  let published: string[] = [];
  for (const n of ["a", "b"]) [s, published] = feed(s, messageOf(++seq, masked(n, 1, attemptOf(["a", "b"], 2)).event, ids[n]), 1030);
  assert.is(s.value, "closing");
  assert.equal(published, ["publishRound"]);
  assert.equal(s.context.replay.rejected, []);
});

test("a taken agent that never reveals: half a round timeout later the coordinator asks its peers for their shares of its seed, and the round closes with the set it took", () => {
  let s = started();
  const sent = Object.fromEntries(NAMES.map((n) => [n, masked(n, 1, attemptOf(NAMES, 1))]));
  for (const n of NAMES) [s] = feed(s, messageOf(++seq, sent[n].event, ids[n]), 20);
  assert.is(s.value, "closing");
  [s] = feed(s, messageOf(++seq, roundEvent(problemOf(s.context) as ProblemState, s.context.closedBy), coordinator), 30);
  for (const n of ["a", "b"]) {
    [s] = feed(s, messageOf(++seq, revealOf(n, sent[n].c.selfSeed), ids[n]), 40);
  }
  assert.is(s.value, "closing", "c's seed is missing");
  assert.is(transition(coordinatorMachine, s, { type: "tick", now: 450 })[1].filter((a) => a.type === "publishRecovery").length, 0);
  const [asked, actions] = transition(coordinatorMachine, s, { type: "tick", now: 600 });
  assert.equal(
    actions.map((a) => a.type).filter((t) => t.startsWith("publish")),
    ["publishRecovery"],
  );
  assert.equal(
    transition(coordinatorMachine, asked, { type: "tick", now: 700 })[1].filter((a) => a.type === "publishRecovery"),
    [],
    "once",
  );
  const recovery = recoveryOf(problemOf(asked.context));
  assert.ok(recovery?.schema === "recover/1" && recovery.body.missing.join() === "c");
  [s] = feed(asked, messageOf(++seq, recovery as NonNullable<typeof recovery>, coordinator), 610);
  let published: string[] = [];
  for (const n of ["a", "b"]) {
    const y = openPeerShare({ name: n, key: keys[n] }, attemptOf(NAMES, 1), "c", sent.c.c.sealedShares[n], sent.c.c.commitment).y;
    const share = {
      schema: "share/1" as const,
      id: eventId("t", "p", "share", 1, n),
      tenant: "t",
      problem: "p",
      round: 1,
      base: 0,
      body: { attempt: 1, shares: { c: y } },
    };
    [s, published] = feed(s, messageOf(++seq, share, ids[n]), 620);
  }
  assert.is(s.value, "planning", "the round closed on a majority of c's shares");
  assert.equal(published, ["publishPlan"]);
  assert.equal(s.context.replay.rejected, []);
  assert.is((problemOf(s.context) as ProblemState).secure?.x[0], 3, "the sum of all three, c's included");
});

test("an open its own fold refuses fails the coordinator with the reason, rather than waiting for it forever", () => {
  let [s] = initialTransition(coordinatorMachine, input);
  [s] = feed(s, messageOf(++seq, admitEvent("t", coordinator.did, "coordinator", "coordinator"), governance));
  const impossible = openEvent("t", "p", { ...spec, secure: { fractionBits: 40, maxAbs: 2 ** 30, threshold: 2 } });
  const at = ++seq;
  [s] = transition(coordinatorMachine, s, { type: "published", seq: at, now: 2 });
  [s] = feed(s, messageOf(at, impossible, coordinator), 3);
  assert.is(s.value, "failed");
  assert.match(s.context.error ?? "", /refused this coordinator's own open event .*sums do not fit/);
});

test("a coordinator restarted while a round waits for its reveals publishes the round's plan once they are in", () => {
  let s = started();
  const sent = Object.fromEntries(NAMES.map((n) => [n, masked(n, 1, attemptOf(NAMES, 1))]));
  for (const n of NAMES) [s] = feed(s, messageOf(++seq, sent[n].event, ids[n]), 20);
  [s] = feed(s, messageOf(++seq, roundEvent(problemOf(s.context) as ProblemState, s.context.closedBy), coordinator), 30);
  // It crashed here; a fresh one resumes from the stream's fold.
  let [resumed] = initialTransition(coordinatorMachine, { ...input, now: 40, replay: s.context.replay });
  let published: string[] = [];
  for (const n of NAMES) {
    [resumed, published] = feed(resumed, messageOf(++seq, revealOf(n, sent[n].c.selfSeed), ids[n]), 50);
  }
  assert.is(resumed.value, "planning");
  assert.equal(published, ["publishPlan"]);
});

test("below the threshold there is no attempt to make: the round times out as before", () => {
  let s = started();
  [s] = feed(s, messageOf(++seq, masked("a", 1, attemptOf(NAMES, 1)).event, ids.a), 20);
  const [failed] = transition(coordinatorMachine, s, { type: "tick", now: 1011 });
  assert.is(failed.value, "failed", "one agent left is below the threshold of 2");
  assert.match(failed.context.error ?? "", "round 1 timed out after 1000 ms waiting for: b, c");
});

test.run();
