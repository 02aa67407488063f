import type { AnyEvent } from "../core/event.ts";
import type { FamilyProblem, ProblemFamily } from "../core/family.ts";
import type { SchemaId } from "../core/schemas.ts";
import type { SubjectKind } from "../core/subjects.ts";
import { acceleratorAllocation } from "./accelerator-allocation/cluster-fold.ts";
import { energyQp } from "./energy-qp/fold.ts";

/**
 * Every problem family the engine knows, and the only door from the engine to them
 * (scripts/check-layers.mjs holds the engine to it). A new family is a folder beside this file
 * that exports a ProblemFamily (core/family.ts), and one line here.
 */
export const FAMILIES: readonly ProblemFamily[] = [energyQp, acceleratorAllocation];

const bySchema = new Map<SchemaId, ProblemFamily>(FAMILIES.flatMap((f) => Object.keys(f.subjects).map((s) => [s as SchemaId, f] as const)));

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

/** The subject kind a family's event travels on. */
export const familySubjectOf = (schema: SchemaId): SubjectKind | undefined => familyOfSchema(schema)?.subjects[schema];

/** The tenant of the problem an event belongs to: its own, except where its family says otherwise (a tenant plan). */
export const problemTenantOf = (event: AnyEvent): string => familyOfSchema(event.schema)?.problemTenant?.(event) ?? event.tenant;
