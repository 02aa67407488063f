import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { catoptError } from "../core/errors.ts";
import { didYouMean } from "../core/suggest.ts";
import { parseScenario, type Scenario } from "../families/energy-qp/scenario.ts";
import { parseClusterScenario, type ClusterScenario } from "../families/accelerator-allocation/cluster-scenario.ts";

// Scenario files: found by path or by name under scenarios/, read, and parsed by their family's format.

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
  throw catoptError("SCENARIO_NOT_FOUND", `scenario "${reference}" not found${didYouMean(reference, known)} (looked for ${candidates.join(" and ")}, a file or a folder with scenario.json)`);
}

export async function loadScenario(reference: string, root: string): Promise<Scenario> {
  const { file, json } = await readScenarioJson(reference, root);
  return parseScenario(json, file);
}

export async function loadClusterScenario(reference: string, root: string): Promise<ClusterScenario> {
  const { file, json } = await readScenarioJson(reference, root);
  return parseClusterScenario(json, file);
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
