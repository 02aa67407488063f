import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PROJECT_ROOT } from "../../src/bus/embedded-server.ts";
import { FAMILIES } from "../../src/families/registry.ts";

// The engine reaches families only through the registry (scripts/check-layers.mjs holds its
// imports to that); this holds its text to it too: no engine file names a family, one of its
// schemas or its scenario format, so a branch on a family cannot hide in a string compare.
const ENGINE = ["core", "solver", "bus", "governance", "contracts", "replay", "agent", "coordinator", "run", "cli"];

async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : [path.join(dir, e.name)])));
  return nested.flat().filter((f) => f.endsWith(".ts"));
}

/** What names a family: its name, its schemas' ids and its scenario format, each as a quoted string or a word. */
function familyMarks(): { readonly family: string; readonly mark: string; readonly pattern: RegExp }[] {
  const quoted = (s: string) => new RegExp(`["'\`]${s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}["'\`]`);
  return FAMILIES.flatMap((f) => [
    { family: f.name, mark: f.name, pattern: new RegExp(`\\b${f.name}\\b`) },
    ...Object.keys(f.schemas).map((id) => ({ family: f.name, mark: id, pattern: quoted(id) })),
    ...(f.scenarios === undefined ? [] : [{ family: f.name, mark: f.scenarios.format, pattern: quoted(f.scenarios.format) }]),
  ]);
}

test("no engine file names a family, a family's schema or its scenario format", async () => {
  const marks = familyMarks();
  assert.ok(marks.some((m) => m.mark === "node-delta/1") && marks.some((m) => m.mark === "energy-qp"), "the marks include both families'");
  const found: string[] = [];
  for (const folder of ENGINE) {
    for (const file of await sources(path.join(PROJECT_ROOT, "src", folder))) {
      const lines = (await readFile(file, "utf8")).split("\n");
      lines.forEach((line, i) => {
        for (const m of marks) if (m.pattern.test(line)) found.push(`${path.relative(PROJECT_ROOT, file)}:${i + 1}: ${m.mark} (${m.family})`);
      });
    }
  }
  assert.equal(found, []);
});

test.run();
