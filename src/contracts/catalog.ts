import { register, type Registry } from "./compatibility.ts";
import type { Field, FieldType, SchemaDescriptor } from "./schema.ts";

/**
 * Every message type catopt knows, version by version (oldest first): the wire events, the
 * domain signals adapters exchange, and adapters' inputs and outputs. A new version is added
 * here below its predecessor; the registry refuses it, naming the field, if it breaks the
 * default compatibility mode (backward-transitive). `catopt contracts check` holds the wire
 * parsers and the adapters to these descriptors.
 */
const req = (name: string, type: FieldType): Field => ({ name, type, required: true });
const opt = (name: string, type: FieldType, defaultValue?: unknown): Field => ({ name, type, required: false, ...(defaultValue === undefined ? {} : { default: defaultValue }) });
const schema = (name: string, version: number, fields: Field[]): SchemaDescriptor => ({ name, version, fields });

export const CATALOG: readonly SchemaDescriptor[] = [
  // Wire events (bodies; the event and envelope around them are fixed by DESIGN.md).
  schema("open", 1, [req("resources", "array:string"), req("constraints", "array:object"), req("agents", "array:string"), req("admm", "object")]),
  schema("join", 1, [req("resources", "array:string")]),
  // A join/1 reads as a join/2 with no box (every value allowed, up to the bound on every number);
  // a join/2 itself must bound every resource (core/schemas.ts).
  schema("join", 2, [req("resources", "array:string"), opt("lower", "map:number", {}), opt("upper", "map:number", {})]),
  schema("leave", 1, [req("reason", "string")]),
  schema("delta", 1, [req("entries", "map:number"), req("objective", "number")]),
  schema("round", 1, [req("took", "array:string")]),
  schema("round", 2, [req("took", "array:string"), opt("closedBy", "string", "all")]),
  schema("plan", 1, [
    req("status", "string"), req("rho", "number"), req("signal", "map:number"), req("allocations", "map:object"),
    req("objective", "number"), req("primal", "number"), req("dual", "number"), req("epsPrimal", "number"), req("epsDual", "number"),
  ]),
  // Cluster problems (accelerator allocation): X[job][type] by node agents and a coordinator.
  schema("cluster-open", 1, [req("cluster", "object"), req("admm", "object"), req("tenantPlanEvery", "integer")]),
  schema("node-join", 1, [req("type", "string"), req("count", "integer")]),
  schema("node-delta", 1, [req("index", "array:integer"), req("value", "array:number")]),
  schema("cluster-plan", 1, [
    req("status", "string"), req("rho", "number"), req("signal", "object"),
    req("primal", "number"), req("dual", "number"), req("epsPrimal", "number"), req("epsDual", "number"),
  ]),
  schema("tenant-plan", 1, [req("platform", "string"), req("status", "string"), req("allocations", "map:object"), req("throughput", "map:number")]),
  schema("admit", 1, [req("did", "string"), req("role", "string"), req("name", "string")]),
  schema("revoke", 1, [req("did", "string"), req("reason", "string")]),
  schema("quarantine", 1, [req("seq", "integer"), req("subject", "string"), req("reason", "string"), req("data", "bytes")]),
  // Domain signals between owners' systems and their adapters.
  schema("telemetry", 1, [req("source", "string"), req("at", "integer"), req("metrics", "map:number")]),
  schema("forecast", 1, [req("source", "string"), req("resource", "string"), req("step_ms", "integer"), req("values", "array:number")]),
  schema("command", 1, [req("target", "string"), req("action", "string"), opt("args", "object")]),
  schema("event", 1, [req("source", "string"), req("kind", "string"), opt("detail", "object")]),
  schema("trade", 1, [req("from", "string"), req("to", "string"), req("resource", "string"), req("amount", "number"), opt("price", "number", 0)]),
  // Adapters' inputs and their common output.
  schema("energy-asset-input", 1, [req("slots", "map:object")]),
  schema("local-problem", 1, [req("owner", "string"), req("variables", "array:object"), req("constant", "number")]),
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
