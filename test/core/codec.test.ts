import { test } from "uvu";
import * as assert from "uvu/assert";
import { decode, decodeSequence, encode, SequenceError } from "../../src/core/codec.ts";
import { decodeEnvelope, encodeEnvelope } from "../../src/core/envelope.ts";
import { encodeEvent, eventId, type CatoptEvent } from "../../src/core/event.ts";
import { decodeEvent } from "../../src/families/registry.ts";
import { isCatoptError } from "../../src/core/errors.ts";
import { Packr } from "msgpackr";
import { decodePlain, wireKeys } from "../helpers/plain-msgpack.ts";
import { seeded } from "../helpers/random.ts";

const delta: CatoptEvent<"delta/1"> = {
  schema: "delta/1",
  id: eventId("cosmos", "sol-energy", "delta", 3, "rover"),
  tenant: "cosmos",
  problem: "sol-energy",
  round: 3,
  base: 2,
  body: { entries: { t10: 256.89654351962, t08: 106.5, t12: -0 }, objective: 12.25 },
};

test("the same value always encodes to the same bytes, whatever the key order", () => {
  const a = encode({ b: 1.5, a: [1, "x", { z: 2, y: 3 }] });
  const b = encode({ a: [1, "x", { y: 3, z: 2 }], b: 1.5 });
  assert.equal(Buffer.from(a).toString("hex"), Buffer.from(b).toString("hex"));
});

test("an event is written in the field order of DESIGN.md and reads back equal", () => {
  const bytes = encodeEvent(delta);
  assert.equal(wireKeys(bytes), ["schema", "id", "tenant", "problem", "round", "base", "body"]);
  const back = decodeEvent(bytes);
  assert.equal(back.body, { entries: { t08: 106.5, t10: 256.89654351962, t12: 0 }, objective: 12.25 });
  assert.equal(Buffer.from(encodeEvent(back)).toString("hex"), Buffer.from(bytes).toString("hex"));
});

test("events and envelopes are plain msgpack: an independent decoder without extensions reads them", () => {
  const event = encodeEvent(delta);
  const envelope = encodeEnvelope({ event, author: "local:rover", sig: new Uint8Array(64).fill(7) });
  const plain = decodePlain(envelope) as { v: number; event: Uint8Array; author: string; sig: Uint8Array };
  assert.equal(wireKeys(envelope), ["v", "event", "author", "sig"]);
  assert.equal(plain.v, 1);
  assert.equal(Buffer.from(plain.event).toString("hex"), Buffer.from(event).toString("hex"));
  assert.equal((decodePlain(plain.event) as { body: { objective: number } }).body.objective, 12.25);
  assert.equal(decodeEnvelope(envelope).author, "local:rover");
});

test("NaN and Infinity are refused before they reach the wire, naming the path", () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    try {
      encode({ body: { entries: { t08: bad } } });
      assert.unreachable("encoded a non-finite number");
    } catch (err) {
      assert.match((err as Error).message, "$.body.entries.t08");
    }
  }
});

test("decoding names what is wrong: bad bytes, unknown schema, a bad field", () => {
  const cases: [Uint8Array, string][] = [
    [new Uint8Array([0x82, 0xa1]), "not valid msgpack"],
    [encode({ schema: "delta/9", id: "x", tenant: "t", problem: "p", round: 0, base: -1, body: {} }), 'unknown schema "delta/9"'],
    [encode({ schema: "delta/1", id: "x", tenant: "t", problem: "p", round: 1, base: 0, body: { entries: { a: "1" }, objective: 0 } }), "event.body.entries.a"],
    [encode({ schema: "round/1", id: "x", tenant: "t", problem: "p", round: -2, base: 0, body: { took: [] } }), "event.round"],
  ];
  for (const [bytes, expected] of cases) {
    try {
      decodeEvent(bytes);
      assert.unreachable(`decoded: ${expected}`);
    } catch (err) {
      assert.ok(isCatoptError(err, "EVENT_INVALID"), String(err));
      assert.match((err as Error).message, expected);
    }
  }
});

test("a sequence decodes value by value and reports where corrupt bytes begin", () => {
  const good = Buffer.concat([encode({ a: 1 }), encode([1, 2]), encode("three")]);
  assert.equal(decodeSequence(good), [{ a: 1 }, [1, 2], "three"]);
  const truncated = good.subarray(0, good.length - 2);
  try {
    decodeSequence(truncated);
    assert.unreachable("decoded a truncated sequence");
  } catch (err) {
    assert.instance(err, SequenceError);
    assert.equal((err as SequenceError).offset, encode({ a: 1 }).length + encode([1, 2]).length);
  }
  assert.equal(decode(encode(null)), null);
});

test("our writer gives exactly msgpackr's bytes for the same canonical value", () => {
  const packr = new Packr({ useRecords: false, variableMapSize: true, useToJSON: false });
  const rand = seeded(5);
  const edges = [
    0,
    1,
    31,
    32,
    127,
    128,
    255,
    256,
    65535,
    65536,
    2 ** 32 - 1,
    2 ** 32,
    -1,
    -32,
    -33,
    -128,
    -129,
    -32768,
    -32769,
    -(2 ** 31),
    -(2 ** 31) - 1,
    0.5,
    -0.5,
    1e-300,
    1.7976931348623157e308,
    Number.MIN_VALUE,
  ];
  const text = (n: number): string =>
    Array.from({ length: n }, () => (rand() < 0.8 ? String.fromCharCode(97 + Math.floor(rand() * 26)) : rand() < 0.5 ? "é" : "🛰")).join("");
  // Lengths on each side of msgpack's format boundaries (fixstr 31, str8 255, str16 65535); the
  // 32-bit formats are checked once each below, not in every random value (that cost a minute).
  const sizes = [0, 5, 31, 32, 100, 255, 256, 300];
  const random = (depth: number): unknown => {
    const kind = Math.floor(rand() * (depth > 2 ? 5 : 8));
    if (kind === 0) return edges[Math.floor(rand() * edges.length)];
    if (kind === 1) return (rand() - 0.5) * 10 ** Math.floor(rand() * 12);
    if (kind === 2) return text(sizes[Math.floor(rand() * sizes.length)]);
    if (kind === 3) return rand() < 0.3 ? null : rand() < 0.5;
    if (kind === 4) return new Uint8Array(sizes[Math.floor(rand() * 4)]).map(() => Math.floor(rand() * 256));
    if (kind === 5) return Array.from({ length: Math.floor(rand() * 20) }, () => random(depth + 1));
    const entries = Array.from({ length: Math.floor(rand() * 20) }, (_, i) => [`${text(3)}${i}`, random(depth + 1)] as const);
    return Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  };
  const same = (value: unknown, what: string): void => {
    const ours = Buffer.from(encode(value as never));
    const theirs = Buffer.from(packr.pack(value));
    if (ours.equals(theirs)) return;
    // Only the bytes around the first difference: uvu's diff of two long hex strings never ends.
    let at = 0;
    while (ours[at] === theirs[at]) at++;
    const around = (b: Buffer) => b.subarray(Math.max(0, at - 8), at + 8).toString("hex");
    assert.is(around(ours), around(theirs), `${what}: first difference at byte ${at} of ${ours.length} (ours) and ${theirs.length}`);
  };
  for (let i = 0; i < 2000; i++) same(random(0), `value ${i}`);
  same(Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`k${String(i).padStart(6, "0")}`, i])), "map32 and growth");
  // Keys in sorted order, as our writer writes them and msgpackr keeps them.
  same({ array32: Array.from({ length: 70_000 }, (_, i) => i - 35_000), bin32: new Uint8Array(70_000).fill(7), str32: text(70_000) }, "str32, bin32, array32");
  same([text(16_000), text(20_000), new Uint8Array(65_535), new Uint8Array(65_536)], "str16 and bin16 at their ends");
});

test.run();
