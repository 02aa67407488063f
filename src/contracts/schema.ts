import * as v from "../core/validate.ts";
import type { FieldType, ScalarType, SchemaDescriptor } from "../core/wire-schema.ts";

// Descriptors (name, version, typed fields) are declared beside the wire schemas (core/wire-schema.ts); here: reading one from JSON, and checking a value against one.

export const schemaId = (s: Pick<SchemaDescriptor, "name" | "version">): string => `${s.name}/${s.version}`;

const TYPES: readonly string[] = ["string", "number", "integer", "boolean", "bytes", "object"];

/** A descriptor from its JSON form ({ name, version, fields: [{ name, type, required?, default? }] }); throws a ValidationError naming the field. */
export function schemaFromJson(json: unknown): SchemaDescriptor {
  const s = v.record(json, "schema");
  return {
    name: v.string(s.name, "schema.name"),
    version: v.integer(s.version, "schema.version", 1),
    fields: v.array(s.fields, "schema.fields").map((f, i) => {
      const field = v.record(f, `schema.fields[${i}]`);
      const type = v.string(field.type, `schema.fields[${i}].type`);
      const [kind, inner] = type.split(":");
      if (!(inner === undefined ? TYPES.includes(kind) : ["map", "array"].includes(kind) && TYPES.includes(inner))) {
        throw new v.ValidationError(`schema.fields[${i}].type`, `"${type}" is not a type (${TYPES.join(", ")}, map:<type>, array:<type>)`);
      }
      return {
        name: v.string(field.name, `schema.fields[${i}].name`),
        type: type as FieldType,
        required: field.required === true,
        ...(field.default === undefined ? {} : { default: field.default }),
      };
    }),
  };
}

/** Problems of `value` against `schema`, each naming the field; empty when it conforms. */
export function conformance(schema: SchemaDescriptor, value: unknown, path = schema.name): string[] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return [`${path}: expected an object`];
  const record = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const field of schema.fields) {
    const item = record[field.name];
    if (item === undefined) {
      if (field.required && field.default === undefined) problems.push(`${path}.${field.name}: required, missing`);
      continue;
    }
    if (!hasType(item, field.type)) problems.push(`${path}.${field.name}: expected ${field.type}`);
  }
  const known = new Set(schema.fields.map((f) => f.name));
  for (const key of Object.keys(record)) if (!known.has(key)) problems.push(`${path}.${key}: not in ${schemaId(schema)}`);
  return problems;
}

function hasType(value: unknown, type: FieldType): boolean {
  if (type.startsWith("map:")) {
    if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array) return false;
    return Object.values(value).every((v) => hasType(v, type.slice(4) as ScalarType));
  }
  if (type.startsWith("array:")) return Array.isArray(value) && value.every((v) => hasType(v, type.slice(6) as ScalarType));
  switch (type) {
    case "string":
      return typeof value === "string";
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "boolean":
      return typeof value === "boolean";
    case "bytes":
      return value instanceof Uint8Array;
    default:
      return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
  }
}
