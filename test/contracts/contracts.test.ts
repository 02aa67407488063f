import { test } from "uvu";
import * as assert from "uvu/assert";
import { catalogRegistry, CATALOG } from "../../src/contracts/catalog.ts";
import { compatibilityProblems, register, type CompatibilityMode } from "../../src/contracts/compatibility.ts";
import { checkAdapters, checkWireSchemas } from "../../src/contracts/conformance.ts";
import { conformance } from "../../src/contracts/schema.ts";
import type { Field, SchemaDescriptor } from "../../src/core/wire-schema.ts";

const f = (name: string, type: Field["type"], required = true, defaultValue?: unknown): Field => ({
  name,
  type,
  required,
  ...(defaultValue === undefined ? {} : { default: defaultValue }),
});
const s = (version: number, fields: Field[]): SchemaDescriptor => ({ name: "telemetry", version, fields });
const v1 = s(1, [f("source", "string"), f("at", "integer"), f("metrics", "map:number")]);
const verdict = (candidate: SchemaDescriptor, history: SchemaDescriptor[], mode: CompatibilityMode) =>
  compatibilityProblems(candidate, history, mode).join("; ");

test("backward: a new reader must read old data; an added field needs a default, a type may only widen", () => {
  assert.match(verdict(s(2, [...v1.fields, f("site", "string")]), [v1], "backward"), 'field "site": telemetry/2 requires it without a default');
  assert.is(verdict(s(2, [...v1.fields, f("site", "string", true, "unknown")]), [v1], "backward"), "");
  assert.is(
    verdict(
      s(
        2,
        v1.fields.filter((x) => x.name !== "metrics"),
      ),
      [v1],
      "backward",
    ),
    "",
    "dropping a field: the new reader ignores it",
  );
  assert.match(
    verdict(s(2, [f("source", "number"), f("at", "integer"), f("metrics", "map:number")]), [v1], "backward"),
    'field "source": telemetry/1 writes string, telemetry/2 reads number',
  );
  assert.is(verdict(s(2, [f("source", "string"), f("at", "number"), f("metrics", "map:number")]), [v1], "backward"), "", "integer widens to number");
});

test("forward: old readers must read new data; full: both ways", () => {
  const dropped = s(
    2,
    v1.fields.filter((x) => x.name !== "metrics"),
  );
  assert.match(verdict(dropped, [v1], "forward"), 'forward: field "metrics": telemetry/1 requires it without a default, and telemetry/2 does not write it');
  assert.is(verdict(s(2, [...v1.fields, f("note", "string", false)]), [v1], "forward"), "");
  const widened = s(2, [f("source", "string"), f("at", "number"), f("metrics", "map:number")]);
  assert.is(verdict(widened, [v1], "backward"), "");
  assert.match(verdict(widened, [v1], "full"), 'forward: field "at": telemetry/2 writes number, telemetry/1 reads integer');
});

test("transitive modes check every earlier version, not only the last", () => {
  const v2 = s(2, [f("source", "string"), f("metrics", "map:number")]); // drops "at"
  const v3 = s(3, [f("source", "string"), f("metrics", "map:number"), f("at", "string", true, "")]); // brings "at" back as a string
  assert.is(verdict(v3, [v1, v2], "backward"), "", "against v2 alone it is fine");
  assert.match(verdict(v3, [v1, v2], "backward-transitive"), 'field "at": telemetry/1 writes integer, telemetry/3 reads string');
});

test("registering takes the next version only, refuses duplicates, and keeps the history on refusal", () => {
  let registry = catalogRegistry();
  assert.equal(register(registry, s(3, [...v1.fields])).problems, ["version 3 of telemetry: the next version is 2"]);
  assert.equal(register(registry, s(2, [...v1.fields, f("at", "integer")])).problems, ['field "at" appears twice']);
  const refused = register(registry, s(2, [...v1.fields, f("site", "string")]));
  assert.is(refused.registry.get("telemetry")?.length, 1);
  registry = register(registry, s(2, [...v1.fields, f("site", "string", false)])).registry;
  assert.is(registry.get("telemetry")?.length, 2);
});

test("the catalog admits itself, and every adapter and wire parser conforms to it", () => {
  const registry = catalogRegistry();
  assert.is([...registry.values()].flat().length, CATALOG.length);
  const results = [...checkAdapters(registry), ...checkWireSchemas(registry)];
  assert.ok(results.length >= 9);
  for (const r of results) assert.equal(r.problems, [], r.subject);
});

test("conformance names each offending field", () => {
  assert.equal(conformance(v1, { source: "rover", at: 1.5, extra: 1 }), [
    "telemetry.at: expected integer",
    "telemetry.metrics: required, missing",
    "telemetry.extra: not in telemetry/1",
  ]);
  assert.equal(conformance(v1, { source: "rover", at: 3, metrics: { power: 1, temp: "hot" } }), ["telemetry.metrics: expected map:number"]);
});

test.run();
