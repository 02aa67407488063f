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
 * that exports a ProblemFamily (core/family.ts), and one line here.
 */
export const FAMILIES: readonly ProblemFamily[] = [energyQp, acceleratorAllocation];

const bySchema = new Map<SchemaId, ProblemFamily>(FAMILIES.flatMap((f) => Object.keys(f.schemas).map((s) => [s as SchemaId, f] as const)));

/** The family whose event this schema is (open included), if any. */
export const familyOfSchema = (schema: SchemaId): ProblemFamily | undefined => bySchema.get(schema);

/** The family whose problems this schema opens, if any. */
export const familyOpenedBy = (schema: SchemaId): ProblemFamily | undefined => FAMILIES.find((f) => f.openSchema === schema);

/** The family a problem state belongs to. */
export function familyOf(problem: FamilyProblem): ProblemFamily {
  const family = FAMILIES.find((f) => f.owns(problem));
  if (family === undefined) throw new Error(`no family owns problem ${problem.tenant}/${problem.problem}`);
  return family;
}


/** The tenant of the problem an event belongs to: its own, except where its family says otherwise (a tenant plan). */
export const problemTenantOf = (event: AnyEvent): string => familyOfSchema(event.schema)?.problemTenant?.(event) ?? event.tenant;

/** Every event schema: the engine's own and each family's, with its subject kind and parser. */
export const SCHEMAS: SchemaTable = Object.assign({}, ENGINE_SCHEMAS, ...FAMILIES.map((f) => f.schemas));

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
