#!/usr/bin/env node
// The `catopt` command. tsx runs the TypeScript sources directly (Node 20 cannot strip types).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
const { isConnectionLoss } = await import("../src/bus/connection.ts");
// A reader that stops early (`catopt contracts list | head`) closes the pipe: what is left to
// print is dropped, the way a Unix tool's is, and the command still finishes (a run still stops
// its servers) with its own exit status, not a stack trace. A command that would go on
// forever (watch, agent) is told as by Ctrl-C, and stops the way it does then.
let outputClosed = false;
const onClosedPipe = (err) => {
  if (err.code !== "EPIPE") throw err;
  if (outputClosed) return;
  outputClosed = true;
  process.emit("SIGINT", "SIGINT");
};
process.stdout.on("error", onClosedPipe);
process.stderr.on("error", onClosedPipe);
const io = {
  out: (text) => outputClosed || process.stdout.write(text),
  err: (text) => outputClosed || process.stderr.write(text),
  isTTY: process.stdout.isTTY === true,
};
// A connection that dies under a command (its server killed, the network gone) can surface in a
// publish or read nobody awaits any more: that is the deployment failing, not a bug, so it gets
// one line (one awaited by the command gets its line in main.ts). Anything else unhandled is a
// bug and keeps its stack.
process.on("unhandledRejection", (err) => {
  if (isConnectionLoss(err)) {
    process.stderr.write(`catopt: lost the connection to NATS (${err.message})\n`);
    process.exit(1);
  }
  console.error(err);
  process.exit(70);
});
try {
  process.exitCode = await main(process.argv.slice(2), io);
} catch (err) {
  // Not a user error: a bug. Keep the stack for the report.
  console.error(err);
  process.exitCode = 70;
}
