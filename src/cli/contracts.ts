import { readFile } from "node:fs/promises";
import { catalogRegistry } from "../contracts/catalog.ts";
import { COMPATIBILITY_MODES, DEFAULT_MODE, register, type CompatibilityMode } from "../contracts/compatibility.ts";
import { checkAdapters, checkWireSchemas } from "../contracts/conformance.ts";
import type { FieldType, SchemaDescriptor } from "../contracts/schema.ts";
import { catoptError } from "../core/errors.ts";
import * as v from "../core/validate.ts";
import { stringOption, type Command } from "./command.ts";

export const contractsCommand: Command = {
  name: "contracts",
  synopsis: "check|list|compat [options]",
  summary: "check adapters and wire parsers against the schema catalog, or a new schema version's compatibility",
  description:
    "The graph of contracts: every message type has a versioned schema in the catalog (src/contracts/catalog.ts). check: run every adapter's examples through it against the schemas it declares, and hold each wire parser to its descriptor. list: the catalog. compat <file>: would this new version of a schema be accepted under a compatibility mode? Refusals name the offending field.",
  options: {
    mode: { type: "string", value: "<mode>", description: `with compat: ${COMPATIBILITY_MODES.join(", ")} (default ${DEFAULT_MODE})` },
    json: { type: "boolean", description: "print one JSON object" },
  },
  details: ['A schema file is JSON: {"name": "telemetry", "version": 2, "fields": [{"name": "at", "type": "integer", "required": true}, ...]}'],
  run: async (args, io) => {
    const [action, file] = args.positionals;
    const registry = catalogRegistry();
    if (action === "list") {
      const rows = [...registry.values()].flat().map((s) => ({ schema: `${s.name}/${s.version}`, fields: s.fields.map((f) => `${f.name}${f.required ? "" : "?"}: ${f.type}`) }));
      if (args.values.json === true) io.out(`${JSON.stringify(rows)}\n`);
      else for (const r of rows) io.out(`${r.schema.padEnd(24)} ${r.fields.join(", ")}\n`);
      return 0;
    }
    if (action === "check") {
      const results = [...checkAdapters(registry), ...checkWireSchemas(registry)];
      const failed = results.filter((r) => r.problems.length > 0);
      if (args.values.json === true) io.out(`${JSON.stringify({ ok: failed.length === 0, results })}\n`);
      else for (const r of results) io.out(`${r.problems.length === 0 ? "ok  " : "FAIL"} ${r.subject}${r.problems.map((p) => `\n       ${p}`).join("")}\n`);
      if (failed.length > 0) io.err(`catopt contracts: ${failed.length} of ${results.length} contracts broken\n`);
      return failed.length === 0 ? 0 : 1;
    }
    if (action === "compat") {
      if (file === undefined) throw catoptError("USAGE", "compat needs a schema file");
      const mode = (stringOption(args, "mode") ?? DEFAULT_MODE) as CompatibilityMode;
      if (!COMPATIBILITY_MODES.includes(mode)) throw catoptError("USAGE", `--mode must be one of ${COMPATIBILITY_MODES.join(", ")}`);
      const candidate = await readSchema(file);
      const { problems } = register(registry, candidate, mode);
      if (args.values.json === true) io.out(`${JSON.stringify({ schema: `${candidate.name}/${candidate.version}`, mode, compatible: problems.length === 0, problems })}\n`);
      else if (problems.length === 0) io.out(`${candidate.name}/${candidate.version} is compatible (${mode})\n`);
      if (problems.length > 0) {
        io.err(`catopt contracts: ${candidate.name}/${candidate.version} is refused under ${mode}: ${problems.join("; ")}\n`);
        return 1;
      }
      return 0;
    }
    throw catoptError("USAGE", `contracts expects check, list or compat${action ? `, not "${action}"` : ""}`);
  },
};

const TYPES = ["string", "number", "integer", "boolean", "bytes", "object"];

async function readSchema(file: string): Promise<SchemaDescriptor> {
  try {
    const s = v.record(JSON.parse(await readFile(file, "utf8")), "schema");
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
  } catch (err) {
    if (err instanceof v.ValidationError || err instanceof SyntaxError) throw catoptError("USAGE", `${file}: ${err.message}`, err);
    throw catoptError("USAGE", `${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, err);
  }
}
