import { schemaId } from "./schema.ts";
import type { Field, FieldType, SchemaDescriptor } from "../core/wire-schema.ts";

/**
 * Schema evolution rules, as schema registries define them:
 * - backward: the new version can read data written with the old one;
 * - forward: the old version can read data written with the new one;
 * - full: both. The transitive forms check against every earlier version, not only the latest.
 * The stream is replayed from its start, so catopt's default is backward-transitive: every
 * version ever written stays readable by the newest reader.
 */
export type CompatibilityMode = "none" | "backward" | "forward" | "full" | "backward-transitive" | "forward-transitive" | "full-transitive";

export const COMPATIBILITY_MODES: readonly CompatibilityMode[] = [
  "none",
  "backward",
  "forward",
  "full",
  "backward-transitive",
  "forward-transitive",
  "full-transitive",
];
export const DEFAULT_MODE: CompatibilityMode = "backward-transitive";

/** Why a reader of schema `reader` cannot read data written with `writer`; empty when it can. */
export function readProblems(reader: SchemaDescriptor, writer: SchemaDescriptor): string[] {
  const written = new Map(writer.fields.map((f) => [f.name, f]));
  const problems: string[] = [];
  for (const field of reader.fields) {
    const source = written.get(field.name);
    if (source === undefined) {
      if (field.required && field.default === undefined) {
        problems.push(`field "${field.name}": ${schemaId(reader)} requires it without a default, and ${schemaId(writer)} does not write it`);
      }
      continue;
    }
    if (!canWiden(source.type, field.type))
      problems.push(`field "${field.name}": ${schemaId(writer)} writes ${source.type}, ${schemaId(reader)} reads ${field.type}`);
    if (field.required && !source.required && field.default === undefined) {
      problems.push(`field "${field.name}": optional in ${schemaId(writer)}, required without a default in ${schemaId(reader)}`);
    }
  }
  return problems;
}

/** Whether a value written as `from` reads as `to`: the same type, or an integer read as a number. */
function canWiden(from: FieldType, to: FieldType): boolean {
  if (from === to) return true;
  const widen = (a: string, b: string) => a === "integer" && b === "number";
  const [fk, fv] = from.split(":");
  const [tk, tv] = to.split(":");
  if (fv !== undefined && tv !== undefined) return fk === tk && (fv === tv || widen(fv, tv));
  return widen(from, to);
}

/** The problems that keep `candidate` from joining `history` (oldest first) under `mode`. */
export function compatibilityProblems(candidate: SchemaDescriptor, history: readonly SchemaDescriptor[], mode: CompatibilityMode): string[] {
  if (mode === "none" || history.length === 0) return [];
  const against = mode.endsWith("-transitive") ? history : history.slice(-1);
  const backward = mode.startsWith("backward") || mode.startsWith("full");
  const forward = mode.startsWith("forward") || mode.startsWith("full");
  return against.flatMap((old) => [
    ...(backward ? readProblems(candidate, old).map((p) => `backward: ${p}`) : []),
    ...(forward ? readProblems(old, candidate).map((p) => `forward: ${p}`) : []),
  ]);
}

export type Registry = ReadonlyMap<string, readonly SchemaDescriptor[]>;

/** Registers a new version (the next number) or refuses with every offending field. */
export function register(registry: Registry, candidate: SchemaDescriptor, mode: CompatibilityMode = DEFAULT_MODE): { registry: Registry; problems: string[] } {
  const history = registry.get(candidate.name) ?? [];
  const expected = (history[history.length - 1]?.version ?? 0) + 1;
  if (candidate.version !== expected) return { registry, problems: [`version ${candidate.version} of ${candidate.name}: the next version is ${expected}`] };
  const duplicate = candidate.fields.find((f: Field, i) => candidate.fields.findIndex((g) => g.name === f.name) !== i);
  if (duplicate !== undefined) return { registry, problems: [`field "${duplicate.name}" appears twice`] };
  const problems = compatibilityProblems(candidate, history, mode);
  if (problems.length > 0) return { registry, problems };
  return { registry: new Map([...registry, [candidate.name, [...history, candidate]]]), problems: [] };
}
