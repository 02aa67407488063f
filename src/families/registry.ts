import { decodeEventWith, type AnyEvent } from "../core/event.ts";
import type { FamilyProblem, ProblemFamily } from "../core/family.ts";
import { ENGINE_SCHEMAS, type BodyOf, type SchemaEntry, type SchemaId, type SchemaTable } from "../core/schemas.ts";
import type { SubjectKind } from "../core/subjects.ts";
import { ValidationError } from "../core/validate.ts";
import { acceleratorAllocation } from "./accelerator-allocation/cluster-fold.ts";
import { energyQp } from "./energy-qp/fold.ts";

/**
 * Every problem family the engine knows, and the only door from the engine to them
 * (scripts/check-layers.mjs holds the engine to it). A new family is a folder beside this file
 * that exports a ProblemFamily (core/family.ts), and one line here. A family from elsewhere (a
 * plugin, a test) joins with registerFamily before any of its events is read.
 */
const families: ProblemFamily[] = [];
const bySchema = new Map<SchemaId, ProblemFamily>();

/** Every event schema: the engine's own and each family's, with its subject kind and parser. */
export const SCHEMAS: SchemaTable = { ...ENGINE_SCHEMAS };

/** The families known now, in the order they joined. */
export const FAMILIES: readonly ProblemFamily[] = families;

/** Adds a family; refused when its name or one of its schemas is taken already. */
export function registerFamily(family: ProblemFamily): void {
  if (families.some((f) => f.name === family.name)) throw new Error(`a problem family named ${family.name} is registered already`);
  const ids = Object.keys(family.schemas) as SchemaId[];
  const taken = ids.find((id) => Object.hasOwn(SCHEMAS, id));
  if (taken !== undefined) throw new Error(`problem family ${family.name}: schema ${taken} belongs to ${bySchema.get(taken)?.name ?? "the engine"} already`);
  if (!ids.includes(family.openSchema)) throw new Error(`problem family ${family.name}: its open schema ${family.openSchema} is not among its schemas`);
  // Only the coordinator publishes on round subjects: an open anywhere else would let agents open problems.
  if (family.schemas[family.openSchema]?.subject !== "round") throw new Error(`problem family ${family.name}: its open schema ${family.openSchema} must travel on the round subject`);
  families.push(family);
  Object.assign(SCHEMAS, family.schemas);
  for (const id of ids) bySchema.set(id, family);
}

registerFamily(energyQp);
registerFamily(acceleratorAllocation);

/** The family whose event this schema is (open included), if any. */
export const familyOfSchema = (schema: SchemaId): ProblemFamily | undefined => bySchema.get(schema);

/** The family whose problems this schema opens, if any. */
export const familyOpenedBy = (schema: SchemaId): ProblemFamily | undefined => families.find((f) => f.openSchema === schema);

/** The family a problem state belongs to. */
export function familyOf(problem: FamilyProblem): ProblemFamily {
  const family = families.find((f) => f.owns(problem));
  if (family === undefined) throw new Error(`no family owns problem ${problem.tenant}/${problem.problem}`);
  return family;
}

/** The tenant of the problem an event belongs to: its own, except where its family says otherwise (a tenant plan). */
export const problemTenantOf = (event: AnyEvent): string => familyOfSchema(event.schema)?.problemTenant?.(event) ?? event.tenant;

export const isSchemaId = (value: string): value is SchemaId => Object.hasOwn(SCHEMAS, value);

/** Parses a body by its schema; throws a ValidationError naming the path of the first bad field. */
export function parseBody<S extends SchemaId>(schema: S, body: unknown, path = "body"): BodyOf[S] {
  const entry = (SCHEMAS[schema] as SchemaEntry<S> | undefined) ?? (() => { throw new ValidationError(path, `unknown schema "${schema}"`); })();
  return entry.parse(body, path);
}

/** Decodes and validates an event of any schema the engine knows (core/event.ts); throws EVENT_INVALID with the reason. */
export const decodeEvent = (bytes: Uint8Array): AnyEvent => decodeEventWith(bytes, SCHEMAS);

/** The kind of subject an event of this schema travels on. */
export const subjectKindOf = (schema: SchemaId): SubjectKind | undefined => SCHEMAS[schema]?.subject;
