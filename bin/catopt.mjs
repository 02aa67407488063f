#!/usr/bin/env node
// The `catopt` command. tsx runs the TypeScript sources directly (Node 20 cannot strip types).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
const io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  isTTY: process.stdout.isTTY === true,
};
try {
  process.exitCode = await main(process.argv.slice(2), io);
} catch (err) {
  // Not a user error: a bug. Keep the stack for the report.
  console.error(err);
  process.exitCode = 70;
}
