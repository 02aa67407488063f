import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { catoptError } from "../core/errors.ts";
import { didYouMean } from "../core/suggest.ts";
import { formatOf, scenarioParse } from "../core/scenario-fields.ts";
import type { ScenarioBase, ScenarioFormat } from "../core/scenario-format.ts";
import { familyOfFormat, type ScenarioFamily } from "../families/registry.ts";

// Scenario files: found by path or by name under scenarios/, read, and parsed by the format of the family they declare.

/** A scenario read from its file, with the family whose format it declares. */
export type LoadedScenario = { readonly family: ScenarioFamily; readonly scenario: ScenarioBase };

/** Finds a scenario by path (a file or a folder holding scenario.json) or by name under scenarios/. */
export async function resolveScenarioPath(reference: string, root: string): Promise<string> {
  const candidates = [reference, path.join(root, "scenarios", reference)];
  for (const candidate of candidates) {
    const info = await stat(candidate).catch(() => undefined);
    if (info?.isFile()) return candidate;
    if (info?.isDirectory()) {
      const inside = path.join(candidate, "scenario.json");
      if ((await stat(inside).catch(() => undefined))?.isFile()) return inside;
    }
  }
  const known = await readdir(path.join(root, "scenarios")).catch(() => [] as string[]);
  throw catoptError(
    "SCENARIO_NOT_FOUND",
    `scenario "${reference}" not found${didYouMean(reference, known)} (looked for ${candidates.join(" and ")}, a file or a folder with scenario.json)`,
  );
}

/** Reads and parses a scenario of any family, by its "format". */
export async function loadScenario(reference: string, root: string): Promise<LoadedScenario> {
  const { file, json } = await readScenarioJson(reference, root);
  return parseAnyScenario(json, file);
}

/** Parses a scenario's JSON by the format it declares (SCENARIO_INVALID naming the file and field). */
export function parseAnyScenario(json: unknown, file: string): LoadedScenario {
  const family = scenarioParse(file, () => familyOfFormat(formatOf(json)));
  return { family, scenario: family.scenarios.parse(json, file) };
}

/** Finds a scenario file and parses its JSON (any format: the caller looks at its "format"). */
export async function readScenarioJson(reference: string, root: string): Promise<{ file: string; json: unknown }> {
  const file = await resolveScenarioPath(reference, root);
  const text = await readFile(file, "utf8");
  try {
    return { file, json: JSON.parse(text) };
  } catch (err) {
    throw catoptError("SCENARIO_INVALID", `${file}: not valid JSON (${(err as Error).message})`, err);
  }
}

/** Reads a scenario of the format given, as that family's own type (for tests and benchmarks that read its fields). */
export async function loadScenarioOf<S extends ScenarioBase>(format: ScenarioFormat<S>, reference: string, root: string): Promise<S> {
  const { file, json } = await readScenarioJson(reference, root);
  return format.parse(json, file);
}

/** A family's scenario as a run takes it, with the family its format belongs to. */
export const withFamily = <S extends ScenarioBase>(format: ScenarioFormat<S>, scenario: S): LoadedScenario => ({
  family: familyOfFormat(format.format),
  scenario,
});
