import { spawnSync } from "node:child_process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PROJECT_ROOT } from "../../src/bus/embedded-server.ts";

const bench = (args: readonly string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "bench/churn.ts", ...args], { cwd: PROJECT_ROOT, encoding: "utf8", timeout: 60_000 });

test("bench:churn refuses a share or a count of events it cannot run, in one line, before any solve", () => {
  for (const [args, reason] of [
    [["--share", "5"], /--share: a share of the jobs in \(0, 0\.5\], not 5/],
    [["--share", "1e300"], /--share: a share of the jobs in \(0, 0\.5\], not 1e300/],
    [["--events", "abc"], /--events: a whole number of events from 1 to 1000, not abc/],
    [["--events", "0"], /--events: a whole number of events from 1 to 1000, not 0/],
  ] as const) {
    const run = bench(args);
    assert.is(run.status, 1, `${args.join(" ")}: ${run.stderr}`);
    assert.is(run.stderr.trim().split("\n").length, 1, `one line, no stack trace: ${run.stderr}`);
    assert.match(run.stderr, reason);
  }
});

test.run();
