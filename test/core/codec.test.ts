import { test } from "uvu";
import * as assert from "uvu/assert";
import { decode, decodeSequence, encode, SequenceError } from "../../src/core/codec.ts";
import { decodeEnvelope, encodeEnvelope } from "../../src/core/envelope.ts";
import { decodeEvent, encodeEvent, eventId, type CatoptEvent } from "../../src/core/event.ts";
import { isCatoptError } from "../../src/core/errors.ts";
import { decodePlain, wireKeys } from "../helpers/plain-msgpack.ts";

const delta: CatoptEvent<"delta/1"> = {
  schema: "delta/1",
  id: eventId("cosmos", "sol-energy", "delta", 3, "rover"),
  tenant: "cosmos",
  problem: "sol-energy",
  round: 3,
  base: 2,
  body: { entries: { t10: 256.896543519620, t08: 106.5, t12: -0 }, objective: 12.25 },
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
  const envelope = encodeEnvelope({ event, author: "local:rover", sig: new Uint8Array([1, 2, 3]) });
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

test.run();
