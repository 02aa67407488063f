import { register, type Registry } from "./compatibility.ts";
import type { Field, FieldType, SchemaDescriptor } from "../core/wire-schema.ts";
import { FAMILIES, SCHEMAS } from "../families/registry.ts";

/**
 * Every message type catopt knows, version by version (oldest first): the wire events (from
 * their declarations), the domain signals adapters exchange, and each family's adapters'
 * inputs and outputs. The registry refuses a new version, naming the field, if it breaks the
 * default compatibility mode (backward-transitive). `catopt contracts check` holds the wire
 * parsers and the adapters to these descriptors.
 */
const req = (name: string, type: FieldType): Field => ({ name, type, required: true });
const opt = (name: string, type: FieldType, defaultValue?: unknown): Field => ({
  name,
  type,
  required: false,
  ...(defaultValue === undefined ? {} : { default: defaultValue }),
});
const schema = (name: string, version: number, fields: Field[]): SchemaDescriptor => ({ name, version, fields });

/** Every wire schema, declared once with its parser (core/wire-schema.ts): the engine's and each family's, by name, oldest version first. */
function wireSchemas(): SchemaDescriptor[] {
  return (Object.entries(SCHEMAS) as [string, { fields: readonly Field[] }][])
    .map(([id, entry]) => {
      const [name, version] = id.split("/");
      return schema(name, Number(version), [...entry.fields]);
    })
    .sort((x, y) => x.name.localeCompare(y.name) || x.version - y.version);
}

export const CATALOG: readonly SchemaDescriptor[] = [
  ...wireSchemas(),
  // Domain signals between owners' systems and their adapters.
  schema("telemetry", 1, [req("source", "string"), req("at", "integer"), req("metrics", "map:number")]),
  schema("forecast", 1, [req("source", "string"), req("resource", "string"), req("step_ms", "integer"), req("values", "array:number")]),
  schema("command", 1, [req("target", "string"), req("action", "string"), opt("args", "object")]),
  schema("event", 1, [req("source", "string"), req("kind", "string"), opt("detail", "object")]),
  schema("trade", 1, [req("from", "string"), req("to", "string"), req("resource", "string"), req("amount", "number"), opt("price", "number", 0)]),
  // What each family's adapters read and make.
  ...FAMILIES.flatMap((f) => f.scenarios?.adapterSchemas ?? []),
];

/** The catalog as a registry, every version admitted under the default mode (or the first refusal thrown). */
export function catalogRegistry(): Registry {
  let registry: Registry = new Map();
  for (const s of CATALOG) {
    const result = register(registry, s);
    if (result.problems.length > 0) throw new Error(`catalog: ${s.name}/${s.version}: ${result.problems.join("; ")}`);
    registry = result.registry;
  }
  return registry;
}

export function latest(registry: Registry, name: string): SchemaDescriptor | undefined {
  const history = registry.get(name);
  return history?.[history.length - 1];
}
