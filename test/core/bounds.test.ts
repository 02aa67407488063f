import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { envelopeBytes } from "../../src/governance/signed-publish.ts";
import { checkShape, encode } from "../../src/core/codec.ts";
import { decodeEnvelope, encodeEnvelope } from "../../src/core/envelope.ts";
import { encodeEvent, type CatoptEvent } from "../../src/core/event.ts";
import { decodeEvent } from "../../src/families/registry.ts";
import { isCatoptError } from "../../src/core/errors.ts";
import { parseSubject } from "../../src/core/subjects.ts";
import { verifyMessage } from "../../src/governance/admission.ts";
import { didKeyProblem } from "../../src/governance/did-key.ts";
import { problemKey } from "../../src/replay/reducer.ts";
import type { ProblemState } from "../../src/families/energy-qp/fold.ts";
import type { StreamMessage } from "../../src/core/stream-message.ts";
import { coarseBound, joinEvent } from "../../src/families/energy-qp/agent.ts";
import { readRecording } from "../../src/replay/recording.ts";
import { replayMessages } from "../../src/replay/replay.ts";
import { fixtureIdentities, wireSchemaOf } from "../helpers/messages.ts";

// Hostile numbers and fields, refused where every event is admitted (validate.ts, envelope.ts).
const keys = await fixtureIdentities();
const recording = await readRecording(path.join(import.meta.dirname, "..", "fixtures", "cosmos-3asset.catrec"));
const eventOf = (data: Uint8Array) => decodeEvent(decodeEnvelope(data).event);

const refusedWith = (run: () => unknown, reason: string): void => {
  try {
    run();
    assert.unreachable(`accepted: ${reason}`);
  } catch (err) {
    assert.ok(isCatoptError(err, "EVENT_INVALID") || (err as Error).name === "Refusal", String(err));
    assert.match((err as Error).message, reason);
  }
};

test("an admitted agent's delta of 1e300 is refused at admission; the run's state never holds it and still converges", () => {
  const at = recording.messages.findIndex(
    (m) => eventOf(m.data).schema === "delta/1" && eventOf(m.data).round === 10 && parseSubject(m.subject)?.agent === "drone",
  );
  const real = eventOf(recording.messages[at].data) as CatoptEvent<"delta/1">;
  const poisoned: CatoptEvent<"delta/1"> = { ...real, id: `${real.id}/again`, body: { ...real.body, entries: { ...real.body.entries, t12: 1e300 } } };
  const inserted = { subject: recording.messages[at].subject, seq: recording.messages[at].seq, data: envelopeBytes(poisoned, keys.drone) };
  const state = replayMessages([...recording.messages.slice(0, at), inserted, ...recording.messages.slice(at)], keys.governance.did);
  assert.equal(
    state.rejected.map((r) => r.reason),
    ["event.body.entries.t12: 1e+300 is beyond 1000000000000000 in magnitude"],
  );
  const problem = state.problems[problemKey("cosmos", "sol-energy")] as ProblemState;
  assert.is(problem.phase, "converged");
  assert.ok(Object.values(problem.x).every((x) => Object.values(x).every((n) => Math.abs(n) < 1e4)));
});

test("a delta outside the box its agent joined with (join/2) is refused at admission, and the run still converges", () => {
  const joinAt = recording.messages.findIndex((m) => wireSchemaOf(m.data) === "join/1" && parseSubject(m.subject)?.agent === "drone");
  const join1 = eventOf(recording.messages[joinAt].data) as CatoptEvent<"join/2">;
  assert.equal([join1.schema, join1.body.lower, join1.body.upper], ["join/2", undefined, undefined], "a join/1 reads as a join/2 with no box");
  const box = (value: number) => Object.fromEntries(join1.body.resources.map((r) => [r, value]));
  const join2: CatoptEvent<"join/2"> = { ...join1, schema: "join/2", body: { resources: join1.body.resources, lower: box(0), upper: box(512) } };
  const messages = recording.messages.map((m, i) => (i === joinAt ? { ...m, data: envelopeBytes(join2, keys.drone) } : m));
  const at = messages.findIndex((m) => eventOf(m.data).schema === "delta/1" && eventOf(m.data).round === 10 && parseSubject(m.subject)?.agent === "drone");
  const real = eventOf(messages[at].data) as CatoptEvent<"delta/1">;
  // Under the real delta's own id (an agent's ids are its own), before it: refused, so the real one still counts.
  const outside = (t12: number): StreamMessage => ({
    subject: messages[at].subject,
    seq: messages[at].seq,
    data: envelopeBytes({ ...real, body: { ...real.body, entries: { ...real.body.entries, t12 } } }, keys.drone),
  });
  const state = replayMessages([...messages.slice(0, at), outside(1e6), outside(-1), ...messages.slice(at)], keys.governance.did);
  assert.equal(
    state.rejected.map((r) => r.reason),
    [
      "delta from drone sets t12 to 1000000, outside the box [0, 512] it joined with",
      "delta from drone sets t12 to -1, outside the box [0, 512] it joined with",
    ],
  );
  assert.is((state.problems[problemKey("cosmos", "sol-energy")] as ProblemState).phase, "converged");
  // A box must be a box over the join's own resources.
  // A box bounds every resource the join names, on both sides, and holds 0, where values start.
  const joinWith = (lower: Record<string, number>, upper: Record<string, number>) =>
    envelopeBytes({ ...join2, body: { ...join2.body, lower, upper } }, keys.drone);
  refusedWith(
    () => verifyMessage(joinWith({ ...box(0), t12: 5 }, box(512))),
    "event.body.lower.t12: 5 leaves 0, where the agent's values start, outside its box",
  );
  refusedWith(() => verifyMessage(joinWith(box(0), { ...box(512), t99: 1 })), "event.body.upper.t99: is not among the resources it joins with");
  const { t12: _t12, ...open } = box(512);
  refusedWith(() => verifyMessage(joinWith(box(0), open)), "event.body.upper.t12: missing: a join/2 bounds every resource it joins with");
});

test("an agent declares its box rounded outward to powers of two: its values fit, its limits stay its own", () => {
  const local = {
    owner: "rover",
    constant: 0,
    variables: [
      { resource: "a", lower: 20, upper: 400, quadratic: 1, linear: 0 },
      { resource: "b", lower: -3, upper: -0.5, quadratic: 1, linear: 0 },
      { resource: "c", lower: -1e15, upper: 1e15, quadratic: 1, linear: 0 },
    ],
  };
  const { body } = joinEvent("t", "p", local);
  assert.equal(
    [body.lower, body.upper],
    [
      { a: 0, b: -4, c: -1e15 },
      { a: 512, b: 0, c: 1e15 },
    ],
  );
  assert.equal([coarseBound(1), coarseBound(0.3), coarseBound(1024), coarseBound(1025)], [1, 0.5, 1024, 2048]);
  // log2 rounds to the power itself for bounds a few ulps above it: the box must still hold them.
  for (let k = -1074; k <= 49; k++) {
    for (const bound of [2 ** k * (1 + 2 ** -52), 2 ** k * (1 + 2 ** -50), 2 ** k, 2 ** k * 1.5, Math.sqrt(2) ** 2 * 2 ** k]) {
      if (bound <= 0 || bound > 1e15) continue; // beyond the bound on every number: no local problem has it
      assert.ok(coarseBound(bound) >= bound && coarseBound(bound) <= 2 * bound, `coarseBound(${bound}) = ${coarseBound(bound)}`);
    }
  }
});

test("an open's ADMM settings keep the scenario's rules on the wire: tau and mu above 1", () => {
  const open = recording.messages.map((m) => eventOf(m.data)).find((e) => e.schema === "open/1") as CatoptEvent<"open/1">;
  for (const [field, value] of [
    ["tau", 1],
    ["mu", 0.5],
  ] as const) {
    const bad: CatoptEvent<"open/1"> = { ...open, body: { ...open.body, admm: { ...open.body.admm, [field]: value } } };
    refusedWith(() => verifyMessage(envelopeBytes(bad, keys.coordinator)), `event.body.admm.${field}: must be > 1`);
  }
});

test("every field of an envelope is bounded before work is done on it: a huge author, a long did:key, a wrong-size signature", () => {
  const event = encodeEvent({ schema: "leave/1", id: "t/p/leave/0/x", tenant: "t", problem: "p", round: 0, base: -1, body: { reason: "x" } });
  const longDid = `did:key:z${"6Mk".repeat(200_000)}`;
  refusedWith(() => decodeEnvelope(encodeEnvelope({ event, author: longDid, sig: new Uint8Array(64) })), "envelope.author: 600009 characters, more than 64");
  refusedWith(
    () => decodeEnvelope(encodeEnvelope({ event, author: keys.rover.did, sig: new Uint8Array(65) })),
    "envelope.sig: 65 bytes; an Ed25519 signature has 64",
  );
  assert.match(didKeyProblem(longDid) ?? "", "has 600009 characters; an Ed25519 did:key has 56");
  // A valid signature over the bytes, by a key, but with a body of hostile strings: refused by length.
  const hostile = { schema: "leave/1", id: "t/p/leave/0/x", tenant: "t", problem: "p", round: 0, base: -1, body: { reason: "r".repeat(100_000) } } as const;
  refusedWith(() => verifyMessage(envelopeBytes(hostile, keys.rover)), "event.body.reason: 100000 characters, more than 4096");
});

test("msgpack is checked for shape before it is decoded: deep nesting, huge maps, extension types, trailing bytes", () => {
  const cases: [Uint8Array, string][] = [
    [Uint8Array.from([...new Array(100_000).fill(0x91), 0xc0]), "nesting deeper than 64"],
    [Uint8Array.from([0xdf, 0x00, 0x01, 0x86, 0xa0]), "a map of 100000 entries (more than 16384)"],
    [Uint8Array.from([0xd4, 0x01, 0x00]), "byte 0xd4 (an extension type or reserved) is not plain msgpack"],
    [Uint8Array.from([0xc1]), "byte 0xc1"],
    [Uint8Array.from([0x92, 0x01]), "truncated msgpack"],
    [Uint8Array.from([0x01, 0x02]), "bytes after the value at byte 1"],
    [Uint8Array.from([0xdb, 0xff, 0xff, 0xff, 0xff]), "truncated msgpack"],
  ];
  for (const [bytes, reason] of cases) {
    try {
      checkShape(bytes);
      assert.unreachable(reason);
    } catch (err) {
      assert.match((err as Error).message, reason);
    }
  }
  for (const value of [[], {}, [[], {}, [1, [2, [3]]]], { a: { b: [1.5, -3, "x", null, true] } }, new Uint8Array(300)]) checkShape(encode(value as never));
  checkShape(recording.messages[5].data);
});

test.run();
