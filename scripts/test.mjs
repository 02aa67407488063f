#!/usr/bin/env node
// Runs the uvu suites (test/**/*.test.ts) under tsx and ends with the line CI reads:
// "N passed, N failed". uvu itself prints Total/Passed/Skipped per run.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const pattern = process.argv[2] ?? "\\.test\\.ts$";
const child = spawn(process.execPath, ["--import", "tsx", "node_modules/uvu/bin.js", "test", pattern], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
let output = "";
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  output += chunk;
});
child.on("exit", (code, signal) => {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: uvu colours its summary with ANSI escapes, which this strips
  const plain = output.replace(/\u001b\[[0-9;]*m/g, "");
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const failed = total - passed - skipped;
  const broken = code !== 0 && failed === 0 ? 1 : failed; // a crash before the summary counts as a failure
  console.log(`\n${passed} passed, ${broken} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
  process.exit(code === 0 && total > 0 ? 0 : 1);
  void signal;
});
