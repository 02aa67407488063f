#!/usr/bin/env node
// Runs the uvu suites (test/**/*.test.ts) under tsx and ends with the line CI reads:
// "N passed, N failed". uvu itself prints Total/Passed/Skipped per run.
//
// The suites run in as many uvu processes as the machine has cores (at most JOBS_LIMIT;
// CATOPT_TEST_JOBS overrides): most of a suite's time is real servers and real runs, which
// wait on timers and sockets as much as they compute. On 2 cores: 4 min in one process, about
// 2.3 in two, 2.1 in three; but with four, the kill-server fault run once stalled under the
// load, so more processes than cores is left to CATOPT_TEST_JOBS. Files are dealt out longest first by the
// seconds each took here (SECONDS below: a new slow suite goes there), and each process's output
// is printed whole when it ends, so it never interleaves.
import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import { availableParallelism } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const pattern = new RegExp(process.argv[2] ?? "\\.test\\.ts$");
const JOBS_LIMIT = 3;

/** Seconds each slow suite took on the 2-core machine, alone (the rest take about one). */
const SECONDS = {
  "e2e/faults.test.ts": 69,
  "e2e/deployment.test.ts": 58,
  "e2e/access.test.ts": 22,
  "e2e/cli.test.ts": 28,
  "e2e/failover.test.ts": 42,
  "e2e/governance.test.ts": 19,
  "e2e/hostile.test.ts": 17,
  "e2e/cluster.test.ts": 16,
  "e2e/churn.test.ts": 18,
  "e2e/secure.test.ts": 32,
  "secure/discrete-gaussian.test.ts": 6,
  "adapters/accelerators.test.ts": 4,
  "allocation/allocation.test.ts": 3,
  "e2e/node-restart.test.ts": 3,
  "e2e/restart.test.ts": 2,
};

async function testFiles(dir, prefix = "") {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? testFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`])));
  return nested.flat().filter((f) => f.endsWith(".test.ts") && pattern.test(f));
}

/** The files dealt into `jobs` groups, longest first, each to the group with the least so far. */
function deal(files, jobs) {
  const groups = Array.from({ length: Math.min(jobs, files.length) }, () => ({ files: [], seconds: 0 }));
  for (const file of [...files].sort((a, b) => (SECONDS[b] ?? 1) - (SECONDS[a] ?? 1))) {
    const lightest = groups.reduce((min, g) => (g.seconds < min.seconds ? g : min));
    lightest.files.push(file);
    lightest.seconds += SECONDS[file] ?? 1;
  }
  return groups.filter((g) => g.files.length > 0);
}

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** One uvu process over `files`; resolves with its output and exit code. */
function runGroup(files) {
  return new Promise((resolve) => {
    const only = `^(${files.map(escapeRegExp).join("|")})$`;
    const child = spawn(process.execPath, ["--import", "tsx", "node_modules/uvu/bin.js", "test", only], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    child.on("close", (code) => resolve({ output, code }));
  });
}

const files = await testFiles(path.join(root, "test"));
const asked = Number(process.env.CATOPT_TEST_JOBS);
const jobs = Number.isInteger(asked) && asked >= 1 ? asked : Math.min(JOBS_LIMIT, availableParallelism());
const groups = deal(files, jobs);
console.log(`${files.length} suites in ${groups.length} process${groups.length === 1 ? "" : "es"}`);
const started = performance.now();
const results = await Promise.all(
  groups.map(async (group, i) => {
    const result = await runGroup(group.files);
    process.stdout.write(
      `${result.output}\nprocess ${i + 1} of ${groups.length} (${group.files.length} suites) done after ${((performance.now() - started) / 1000).toFixed(0)} s\n`,
    );
    return result;
  }),
);
let [passed, failed, skipped] = [0, 0, 0];
for (const { output, code } of results) {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: uvu colours its summary with ANSI escapes, which this strips
  const plain = output.replace(/\u001b\[[0-9;]*m/g, "");
  // uvu's last summary: Total leaves out skipped tests, which Skipped counts.
  const last = (label) => Number([...plain.matchAll(new RegExp(`${label}:\\s+(\\d+)`, "g"))].at(-1)?.[1] ?? 0);
  const [total, ran, skip] = [last("Total"), last("Passed"), last("Skipped")];
  // A failed test, a process that failed without saying which test (a crash), or one that ran nothing, each count.
  failed += Math.max(total - ran, code !== 0 || total === 0 ? 1 : 0);
  [passed, skipped] = [passed + ran, skipped + skip];
}
console.log(`\nall suites in ${((performance.now() - started) / 1000).toFixed(0)} s`);
console.log(`\n${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
process.exit(failed === 0 && passed > 0 && results.every((r) => r.code === 0) ? 0 : 1);
