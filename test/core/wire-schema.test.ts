import { test } from "uvu";
import * as assert from "uvu/assert";
import type { ProblemFamily } from "../../src/core/family.ts";
import { declareBody, field } from "../../src/core/wire-schema.ts";
import * as v from "../../src/core/validate.ts";
import { parseBody, registerFamily } from "../../src/families/registry.ts";
import { energyQp } from "../../src/families/energy-qp/fold.ts";
import { tallyFamily } from "../helpers/tally-family.ts";

// Wire schemas declared once (core/wire-schema.ts): the parsers still refuse what they refused,
// naming the same field (refusal reasons are part of a state hash), and upcasts stay sound.

const reason = (read: () => unknown): string => {
  try {
    read();
    return "accepted";
  } catch (err) {
    return (err as Error).message;
  }
};

test("a join/2 carries both sides of its box, even with no resources; a join/1 reads as a join/2 without one", () => {
  assert.match(
    reason(() => parseBody("join/2", { resources: [] })),
    /^body\.lower: /,
  );
  assert.match(
    reason(() => parseBody("join/2", { resources: ["r"], lower: { r: 0 } })),
    /^body\.upper: /,
  );
  assert.is(
    reason(() => parseBody("join/2", { resources: [], lower: {}, upper: {} })),
    "accepted",
  );
});

test("a join/2 with an empty box keeps it in the state, as it always did; a join/1's state has none", () => {
  const open = energyQp.open({
    schema: "open/1",
    id: "t/p/open/0",
    tenant: "t",
    problem: "p",
    round: 0,
    base: -1,
    body: {
      resources: ["r"],
      agents: ["a", "b"],
      constraints: [],
      admm: { rho: 1, epsAbs: 1e-6, epsRel: 1e-6, mu: 10, tau: 2, balanceRounds: 10, maxRounds: 10, maxStaleness: 0 },
    },
  });
  const joined = energyQp.apply(
    open,
    { schema: "join/2", id: "t/p/join/0/a", tenant: "t", problem: "p", round: 0, base: -1, body: { resources: [], lower: {}, upper: {} } },
    "a",
  );
  const upcast = energyQp.apply(
    joined,
    { schema: "join/2", id: "t/p/join/0/b", tenant: "t", problem: "p", round: 0, base: -1, body: { resources: ["r"], lower: undefined, upper: undefined } },
    "b",
  );
  assert.equal(upcast.joined.a, { id: "t/p/join/0/a", resources: [], lower: {}, upper: {} });
  assert.equal(upcast.joined.b, { id: "t/p/join/0/b", resources: ["r"] });
});

test("a body with several bad fields is refused naming the field its parser always named first", () => {
  assert.match(
    reason(() => parseBody("plan/1", {})),
    /^body\.allocations: /,
  );
  assert.match(
    reason(() => parseBody("approve/1", {})),
    /^body\.approved: /,
  );
  assert.match(
    reason(() => parseBody("open/1", { resources: ["r"], agents: 7, constraints: 7 })),
    /^body\.agents: /,
  );
});

test("a family whose upcasts go round in a circle, leave its schemas or change an event's kind is refused", () => {
  const open = declareBody("open", { n: field("number", v.finite, 1) });
  const delta = declareBody("delta", { n: field("number", v.finite, 1) });
  const family = (schemas: Record<string, unknown>): ProblemFamily => ({
    ...tallyFamily,
    name: "loop",
    scenarios: undefined,
    schemas: schemas as ProblemFamily["schemas"],
  });
  assert.throws(
    () =>
      registerFamily(
        family({
          "loop-open/1": { ...open, upcast: { to: "loop-open/2", body: (b: unknown) => b } },
          "loop-open/2": { ...open, upcast: { to: "loop-open/1", body: (b: unknown) => b } },
        }),
      ),
    /the upcasts of schema loop-open\/1 go round in a circle \(loop-open\/1 -> loop-open\/2 -> loop-open\/1\)/,
  );
  assert.throws(
    () => registerFamily(family({ "loop-open/1": open, "loop-delta/1": { ...delta, upcast: { to: "loop-open/1", body: (b: unknown) => b } } })),
    /schema loop-delta\/1 \(a delta event\) upcasts to loop-open\/1, an open event/,
  );
  assert.throws(
    () => registerFamily(family({ "loop-open/1": { ...open, upcast: { to: "round/2", body: (b: unknown) => b } } })),
    /schema loop-open\/1 upcasts to round\/2, which is not among its schemas/,
  );
  assert.throws(
    () => registerFamily(family({ "loop-open/1": open, "loop-round/1": declareBody("round", {}) })),
    /schema loop-round\/1 is a round event, which only the engine declares/,
  );
});

test.run();
