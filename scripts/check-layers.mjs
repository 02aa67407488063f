#!/usr/bin/env node
// The layer check `npm test` runs first: every relative import under src/ (type-only ones too)
// must go where the table below allows. Our own small tool rather than dependency-cruiser,
// which parses TypeScript through the compiler API that TypeScript 7 no longer has.
//
// Layers, bottom up: core (the wire and the contracts) <- solver (pure math) <- families/<name>
// (one problem family each; never another family, never the engine) <- families/registry.ts
// (the only door from the engine to a family) <- bus <- governance, contracts, replay <- agent,
// coordinator <- run <- cli. Prints one line per broken rule and exits 1, or says how many
// imports it checked.
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const src = path.join(root, "src");

/** What each layer may import besides itself (a family: only its own folder, core and solver). */
const ALLOWED = {
  core: [],
  solver: ["core"],
  family: ["core", "solver"],
  registry: ["core", "solver", "family"],
  bus: ["core"],
  governance: ["core", "solver", "registry", "bus", "contracts", "replay"],
  contracts: ["core", "registry"],
  replay: ["core", "solver", "registry", "bus", "governance"],
  agent: ["core", "solver", "registry", "bus", "governance", "replay"],
  coordinator: ["core", "solver", "registry", "bus", "governance", "replay"],
  run: ["core", "solver", "registry", "bus", "governance", "contracts", "replay", "agent", "coordinator"],
  cli: ["core", "solver", "registry", "bus", "governance", "contracts", "replay", "agent", "coordinator", "run"],
  // The public barrel exports everything, families included.
  index: ["core", "solver", "family", "registry", "bus", "governance", "contracts", "replay", "agent", "coordinator", "run"],
};

/**
 * Engine files that still reach a family directly, each with what is left to do: issue 14's
 * remaining work (one run orchestration and one CLI for every family, through the registry).
 * The check fails when a listed file no longer needs its place here, so the list only shrinks.
 */
export const PENDING = new Map([
  ["src/run/run-scenario.ts", "the energy QP's run; to become the one run orchestration with run-cluster.ts"],
  ["src/run/run-cluster.ts", "the cluster's run; to become the one run orchestration with run-scenario.ts"],
  ["src/run/scenario-files.ts", "loads each family's scenario format by name; to go through the registry (a family's format and parser)"],
  ["src/cli/run.ts", "picks the run by the scenario's format"],
  ["src/cli/run-cluster.ts", "prints a cluster run"],
  ["src/cli/agent.ts", "starts a QP agent or a node agent"],
  ["src/cli/coordinator.ts", "opens a QP or a cluster problem"],
  ["src/cli/allocate.ts", "the cluster's in-process solve"],
  ["src/cli/render.ts", "the QP plan's picture; to become the family's renderer"],
  ["src/cli/replay.ts", "checks a cluster's tenant plans"],
  ["src/contracts/conformance.ts", "checks the energy QP's adapters; adapters to come through the registry"],
]);

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

/** Relative specifiers of static and dynamic imports and re-exports, with their line numbers. */
function importsOf(text) {
  const found = [];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g;
  for (const match of text.matchAll(pattern)) found.push({ spec: match[1], line: text.slice(0, match.index).split("\n").length });
  return found;
}

/** Every import of the src/ tree at `dir` that breaks the rules (files in `pending` excepted, as long as they still need it). */
export async function checkLayers(dir = src, pending = PENDING) {
  const problems = [];
  const stillPending = new Set();
  let checked = 0;
  for (const file of await sourceFiles(dir)) {
    const from = layerOf(dir, file);
    const name = path.relative(path.dirname(dir), file).split(path.sep).join("/");
    if (!(from.layer in ALLOWED)) {
      problems.push(`${name}: folder src/${from.layer} is in no layer (add it to scripts/check-layers.mjs)`);
      continue;
    }
    for (const { spec, line } of importsOf(await readFile(file, "utf8"))) {
      checked++;
      const target = path.resolve(path.dirname(file), spec);
      if (!target.startsWith(dir + path.sep)) continue;
      const to = layerOf(dir, target);
      const sameFamily = from.layer === "family" && to.layer === "family" && from.family === to.family;
      const ok = to.layer === from.layer ? from.layer !== "family" || sameFamily : ALLOWED[from.layer].includes(to.layer);
      if (!ok && pending.has(name)) stillPending.add(name);
      else if (!ok) {
        const what = to.layer === "family" ? `family ${to.family}` : to.layer;
        const why = from.layer === "family" && to.layer === "family" ? "a family never imports another" : to.layer === "family" ? "the engine reaches a family only through src/families/registry.ts" : `${from.layer} may not import ${what}`;
        problems.push(`${name}:${line}: imports ${spec} (${what}): ${why}`);
      }
    }
  }
  for (const name of pending.keys()) if (!stillPending.has(name) && existsSync(path.join(path.dirname(dir), name))) problems.push(`${name} keeps to its layer now: take it off PENDING in scripts/check-layers.mjs`);
  return { problems, checked };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { problems, checked } = await checkLayers(process.argv[2] ? path.resolve(process.argv[2]) : src);
  for (const p of problems) console.error(`layers: ${p}`);
  if (problems.length > 0) process.exit(1);
  console.log(`layers: ${checked} imports within their layers' rules (${PENDING.size} engine files still reach a family directly: PENDING)`);
}
