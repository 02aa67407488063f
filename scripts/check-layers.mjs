#!/usr/bin/env node
// The layer check `npm test` runs first: every relative import under src/ (type-only ones too)
// must go where the table below allows. Our own small tool rather than dependency-cruiser,
// which parses TypeScript through the compiler API that TypeScript 7 no longer has.
//
// Layers, bottom up: core (the wire and the contracts) <- solver (pure math), secure (secure
// aggregation's masks, shares and fixed point) <- families/<name>
// (one problem family each; never another family, never the engine) <- families/registry.ts
// (the only door from the engine to a family) <- bus <- governance, contracts, replay <- agent,
// coordinator <- run <- cli. Prints one line per broken rule and exits 1, or says how many
// imports it checked.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const src = path.join(root, "src");

/** What each layer may import besides itself (a family: only its own folder, core and solver). */
const ALLOWED = {
  core: [],
  solver: ["core"],
  secure: ["core"],
  family: ["core", "solver", "secure"],
  registry: ["core", "solver", "secure", "family"],
  bus: ["core"],
  governance: ["core", "solver", "secure", "registry", "bus", "contracts", "replay"],
  contracts: ["core", "registry"],
  replay: ["core", "solver", "secure", "registry", "bus", "governance"],
  agent: ["core", "solver", "secure", "registry", "bus", "governance", "replay"],
  coordinator: ["core", "solver", "secure", "registry", "bus", "governance", "replay"],
  run: ["core", "solver", "secure", "registry", "bus", "governance", "contracts", "replay", "agent", "coordinator"],
  cli: ["core", "solver", "secure", "registry", "bus", "governance", "contracts", "replay", "agent", "coordinator", "run"],
  // The public barrel exports everything, families included.
  index: ["core", "solver", "secure", "family", "registry", "bus", "governance", "contracts", "replay", "agent", "coordinator", "run"],
};

/** The layer of a file under `dir` (a src/ tree), and for a family its name. */
function layerOf(dir, file) {
  const [top, second] = path.relative(dir, file).split(path.sep);
  if (top === "index.ts") return { layer: "index" };
  if (top === "families") return second === "registry.ts" ? { layer: "registry" } : { layer: "family", family: second };
  return { layer: top };
}

async function sourceFiles(dir) {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : [path.join(dir, e.name)])));
  return nested.flat().filter((f) => /\.(ts|mts|mjs)$/.test(f));
}

/**
 * Relative specifiers of static and dynamic imports, re-exports and require() calls, with their
 * line numbers; and the lines of dynamic imports or require() calls whose path is computed, which
 * no check can follow (refused: write the path out).
 */
function importsOf(text) {
  const lineOf = (index) => text.slice(0, index).split("\n").length;
  const found = [];
  const literal = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["'](\.{1,2}\/[^"']+)["']/g;
  for (const match of text.matchAll(literal)) found.push({ spec: match[1], line: lineOf(match.index) });
  const computed = [];
  // A call (not a method: no `.` before it) whose argument is anything but one whole string literal.
  for (const match of text.matchAll(/(?<![.\w$])(?:import|require)\s*\(\s*(?!["'][^"'`]*["']\s*[),])/g)) computed.push(lineOf(match.index));
  return { found, computed };
}

/** Every import of the src/ tree at `dir` that breaks the rules. */
export async function checkLayers(dir = src) {
  const problems = [];
  let checked = 0;
  for (const file of await sourceFiles(dir)) {
    const from = layerOf(dir, file);
    const name = path.relative(path.dirname(dir), file).split(path.sep).join("/");
    if (!(from.layer in ALLOWED)) {
      problems.push(`${name}: folder src/${from.layer} is in no layer (add it to scripts/check-layers.mjs)`);
      continue;
    }
    const { found, computed } = importsOf(await readFile(file, "utf8"));
    for (const line of computed)
      problems.push(`${name}:${line}: an import or require() whose path is computed: the layer check cannot follow it (write the path out)`);
    for (const { spec, line } of found) {
      checked++;
      const target = path.resolve(path.dirname(file), spec);
      if (!target.startsWith(dir + path.sep)) continue;
      const to = layerOf(dir, target);
      const sameFamily = from.layer === "family" && to.layer === "family" && from.family === to.family;
      const ok = to.layer === from.layer ? from.layer !== "family" || sameFamily : ALLOWED[from.layer].includes(to.layer);
      if (!ok) {
        const what = to.layer === "family" ? `family ${to.family}` : to.layer;
        const why =
          from.layer === "family" && to.layer === "family"
            ? "a family never imports another"
            : to.layer === "family"
              ? "the engine reaches a family only through src/families/registry.ts"
              : `${from.layer} may not import ${what}`;
        problems.push(`${name}:${line}: imports ${spec} (${what}): ${why}`);
      }
    }
  }
  return { problems, checked };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { problems, checked } = await checkLayers(process.argv[2] ? path.resolve(process.argv[2]) : src);
  for (const p of problems) console.error(`layers: ${p}`);
  if (problems.length > 0) process.exit(1);
  console.log(`layers: ${checked} imports within their layers' rules`);
}
