import { readFile } from "node:fs/promises";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { problemKey } from "../../src/replay/reducer.ts";
import { readRecording } from "../../src/replay/recording.ts";
import { replayMessages } from "../../src/replay/replay.ts";
import { stateHash } from "../../src/replay/state-hash.ts";
import { summarize } from "../../src/replay/summary.ts";

// Runs recorded by earlier releases, fed through today's code as `catopt replay` feeds them:
// both families, synchronous and asynchronous rounds, an agent that left, and round/1 and
// join/1 events. Each must replay to the outcome its run printed. How each was made is in
// AGENTS.md ("Regenerate the replay fixtures"); never regenerate one to make this pass.
const fixtures = path.join(import.meta.dirname, "..", "fixtures");
type Outcome = { status: string; rounds: number; objective: number; allocations: unknown; rejected: number; state_hash: string };
const expected = JSON.parse(await readFile(path.join(fixtures, "recordings.expected.json"), "utf8")) as Record<string, Outcome>;

for (const [file, outcome] of Object.entries(expected)) {
  test(`${file} replays to the status, rounds, objective, allocations, refusals and state hash its run printed`, async () => {
    const { header, messages } = await readRecording(path.join(fixtures, file));
    const replay = replayMessages(messages, header.governance, { tenant: header.tenant, problem: header.problem });
    const problem = replay.problems[problemKey(header.tenant, header.problem)];
    const summary = summarize(replay, problem, {
      scenario: header.scenario,
      tenant: header.tenant,
      problem: header.problem,
      referenceObjective: header.referenceObjective,
    });
    assert.equal(
      {
        status: summary.status,
        rounds: summary.rounds,
        objective: summary.objective,
        allocations: summary.allocations,
        rejected: summary.rejected,
        state_hash: stateHash(replay),
      },
      outcome,
    );
  });
}

test.run();
