import { readFile } from "node:fs/promises";
import { catalogRegistry } from "../contracts/catalog.ts";
import { COMPATIBILITY_MODES, DEFAULT_MODE, register, type CompatibilityMode } from "../contracts/compatibility.ts";
import { checkAdapters, checkWireSchemas } from "../contracts/conformance.ts";
import { schemaFromJson } from "../contracts/schema.ts";
import type { SchemaDescriptor } from "../core/wire-schema.ts";
import { eventKindOf, familyOfSchema, isSchemaId } from "../families/registry.ts";
import { catoptError } from "../core/errors.ts";
import * as v from "../core/validate.ts";
import { stringOption, type Command } from "../core/command.ts";

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
      // A wire schema says what kind of event it is and whose body: the engine's, or a family's.
      const rows = [...registry.values()].flat().map((s) => {
        const id = `${s.name}/${s.version}`;
        const wire = isSchemaId(id) ? { event: eventKindOf(id), family: familyOfSchema(id)?.name ?? "engine" } : {};
        return { schema: id, ...wire, fields: s.fields.map((f) => `${f.name}${f.required ? "" : "?"}: ${f.type}`) };
      });
      if (args.values.json === true) io.out(`${JSON.stringify(rows)}\n`);
      else for (const r of rows) io.out(`${r.schema.padEnd(22)} ${("event" in r ? `${r.event} (${r.family})` : "").padEnd(36)} ${r.fields.join(", ")}\n`);
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
      if (args.values.json === true)
        io.out(`${JSON.stringify({ schema: `${candidate.name}/${candidate.version}`, mode, compatible: problems.length === 0, problems })}\n`);
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

/** A schema version from a JSON file, or one line naming the field. */
export async function readSchema(file: string): Promise<SchemaDescriptor> {
  try {
    return schemaFromJson(JSON.parse(await readFile(file, "utf8")));
  } catch (err) {
    if (err instanceof v.ValidationError || err instanceof SyntaxError) throw catoptError("INPUT_INVALID", `${file}: ${err.message}`, err);
    throw catoptError("INPUT_INVALID", `${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, err);
  }
}
