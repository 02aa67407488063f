import { decodeEventWith, type AnyEvent } from "../core/event.ts";
import type { FamilyProblem, ProblemFamily } from "../core/family.ts";
import { ENGINE_SCHEMAS, type BodyOf, type SchemaEntry, type SchemaId, type SchemaTable } from "../core/schemas.ts";
import type { SubjectKind } from "../core/subjects.ts";
import { describe, ValidationError } from "../core/validate.ts";
import { FAMILY_EVENT_KINDS, SUBJECT_OF, type EventKind } from "../core/wire-schema.ts";
import type { ScenarioBase, ScenarioFormat } from "../core/scenario-format.ts";
import { didYouMean } from "../core/suggest.ts";
import { acceleratorAllocationFamily } from "./accelerator-allocation/family.ts";
import { energyQpFamily } from "./energy-qp/family.ts";

/**
 * Every problem family the engine knows, and the only door from the engine to them
 * (scripts/check-layers.mjs holds the engine to it). A new family is a folder beside this file
 * whose family.ts exports a ProblemFamily (core/family.ts), and one line here. A family from elsewhere (a
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
  // A family declares bodies of open, join, delta and plan events; rounds, leaves and governance are the engine's, whose rules a family cannot bend.
  const engineKind = ids.find((id) => !FAMILY_EVENT_KINDS.includes(entryOf(family.schemas, id).kind));
  if (engineKind !== undefined)
    throw new Error(
      `problem family ${family.name}: schema ${engineKind} is ${anEvent(entryOf(family.schemas, engineKind).kind)}, which only the engine declares (a family declares ${FAMILY_EVENT_KINDS.join(", ")} bodies)`,
    );
  if (!ids.some((id) => entryOf(family.schemas, id).kind === "open")) throw new Error(`problem family ${family.name}: none of its schemas is an open event`);
  const upcastProblem = upcastProblemOf(family.schemas, ids);
  if (upcastProblem !== undefined) throw new Error(`problem family ${family.name}: ${upcastProblem}`);
  const format = family.scenarios?.format;
  const formatOwner = format === undefined ? undefined : families.find((f) => f.scenarios?.format === format);
  if (formatOwner !== undefined) throw new Error(`problem family ${family.name}: scenario format ${format} belongs to ${formatOwner.name} already`);
  const command = family.commands?.find((c) => families.some((f) => f.commands?.some((d) => d.name === c.name)));
  if (command !== undefined) throw new Error(`problem family ${family.name}: a command named ${command.name} is another family's already`);
  families.push(family);
  Object.assign(SCHEMAS, family.schemas);
  for (const id of ids) bySchema.set(id, family);
}

const engineUpcasts = upcastProblemOf(ENGINE_SCHEMAS, Object.keys(ENGINE_SCHEMAS) as SchemaId[]);
if (engineUpcasts !== undefined) throw new Error(`the engine's schemas: ${engineUpcasts}`);

registerFamily(energyQpFamily);
registerFamily(acceleratorAllocationFamily);

/** The family whose event this schema is (open included), if any. */
export const familyOfSchema = (schema: SchemaId): ProblemFamily | undefined => bySchema.get(schema);

/** What an event of this schema is to the engine (core/wire-schema.ts): it fixes the subject and the fold's route. */
export const eventKindOf = (schema: SchemaId): EventKind | undefined => SCHEMAS[schema]?.kind;

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
  const entry =
    (SCHEMAS[schema] as SchemaEntry<S> | undefined) ??
    (() => {
      throw new ValidationError(path, `unknown schema "${schema}"`);
    })();
  return entry.parse(body, path);
}

/** Decodes and validates an event of any schema the engine knows (core/event.ts); throws EVENT_INVALID with the reason. */
export const decodeEvent = (bytes: Uint8Array): AnyEvent => decodeEventWith(bytes, SCHEMAS);

/** The kind of subject an event of this schema travels on. */
export const subjectKindOf = (schema: SchemaId): SubjectKind | undefined => {
  const kind = eventKindOf(schema);
  return kind === undefined ? undefined : SUBJECT_OF[kind];
};

/**
 * What is wrong with a table's upcasts, if anything: each must lead, within the table and
 * without a cycle, to a schema of the same kind (an old delta reads as a delta, on the subject
 * it was sent on).
 */
function upcastProblemOf(table: SchemaTable, ids: readonly SchemaId[]): string | undefined {
  for (const id of ids) {
    const seen = new Set<SchemaId>([id]);
    for (let at = id, to = entryOf(table, id).upcast?.to; to !== undefined; at = to, to = entryOf(table, to).upcast?.to) {
      if (!ids.includes(to)) return `schema ${at} upcasts to ${to}, which is not among its schemas`;
      if (seen.has(to)) return `the upcasts of schema ${id} go round in a circle (${[...seen, to].join(" -> ")})`;
      if (entryOf(table, to).kind !== entryOf(table, id).kind)
        return `schema ${id} (${anEvent(entryOf(table, id).kind)}) upcasts to ${to}, ${anEvent(entryOf(table, to).kind)}`;
      seen.add(to);
    }
  }
  return undefined;
}

const anEvent = (kind: EventKind): string => `${/^[aeiou]/.test(kind) ? "an" : "a"} ${kind} event`;

function entryOf(table: SchemaTable, id: SchemaId): SchemaEntry<SchemaId> {
  return table[id] as SchemaEntry<SchemaId>;
}

/** A family with scenario files, as a run reads them. */
export type ScenarioFamily = ProblemFamily & { readonly scenarios: ScenarioFormat<ScenarioBase> };

/**
 * The family whose scenario files declare this "format"; an unknown one is a ValidationError at
 * scenario.format naming the known formats (and the nearest one).
 */
export function familyOfFormat(format: unknown): ScenarioFamily {
  const found = families.find((f) => f.scenarios !== undefined && f.scenarios.format === format);
  if (found !== undefined) return found as ScenarioFamily;
  const known = families.flatMap((f) => (f.scenarios === undefined ? [] : [f.scenarios.format]));
  const hint = typeof format === "string" ? didYouMean(format, known) : "";
  throw new ValidationError("scenario.format", `${format === undefined ? "missing" : `unknown format ${describe(format)}`}${hint}; known: ${known.join(", ")}`);
}
