import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtemp, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileJournal } from "../../src/agent/agent-journal.ts";
import { eventId, type CatoptEvent } from "../../src/core/event.ts";

// An agent's journal on disk: what it saves, a fresh process reads back, in a file only its owner reads.
const masked: CatoptEvent<"masked/1"> = {
  schema: "masked/1",
  id: eventId("t", "p", "masked", 3, "a"),
  tenant: "t",
  problem: "p",
  round: 3,
  base: 2,
  body: {
    attempt: 1,
    words: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
    commitment: new Uint8Array(32).fill(7),
    shares: { b: new Uint8Array(82) },
    shareDigests: { b: new Uint8Array(32) },
  },
};

test("a journal saved is read back by a fresh process, from a file only its owner may read", async () => {
  const dir = path.join(await mkdtemp(path.join(tmpdir(), "catopt-journal-")), "journal");
  fileJournal(dir, "t", "p", "a").save([{ round: 3, attempt: 1, event: masked, seed: new Uint8Array(32).fill(9), values: { r1: 1.5 } }]);
  const [entry] = fileJournal(dir, "t", "p", "a").entries();
  assert.is(entry.round, 3);
  assert.equal(Uint8Array.from(entry.event.body.words), masked.body.words);
  assert.equal(Uint8Array.from(entry.seed), new Uint8Array(32).fill(9));
  assert.equal(entry.values, { r1: 1.5 });
  assert.is((await stat(path.join(dir, "t.p.a.journal"))).mode & 0o777, 0o600);
  assert.equal(fileJournal(dir, "t", "p", "b").entries(), [], "another agent's is its own");
});

test("a journal that cannot be read is a usage error naming the file, not a stack trace", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "catopt-journal-"));
  await writeFile(path.join(dir, "t.p.a.journal"), new Uint8Array([0xc1]));
  const journal = fileJournal(dir, "t", "p", "a"); // read only when needed: a plain problem's agent never is
  assert.throws(() => journal.entries(), /journal .*t\.p\.a\.journal cannot be read/);
  // A link planted at a journal's name is not followed.
  await symlink(path.join(dir, "t.p.a.journal"), path.join(dir, "t.p.b.journal"));
  assert.throws(() => fileJournal(dir, "t", "p", "b").entries(), /cannot be read/);
});

test.run();
