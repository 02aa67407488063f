import { readFile } from "node:fs/promises";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { signCheckpoint, verifierKey } from "../../src/governance/checkpoint.ts";
import { decodeBatch, decodeEntry, encodeBatch, encodeEntry, judge, splitBatch, verifyLedger } from "../../src/governance/ledger.ts";
import { emptyAdmission } from "../../src/governance/admission.ts";
import { MerkleLog } from "../../src/governance/merkle.ts";
import { readRecording } from "../../src/replay/recording.ts";
import { fixtureIdentities } from "../helpers/messages.ts";

// The ledger the governance consumer would write for the recorded run, built with the same judge.
const keys = await fixtureIdentities();
const recording = await readRecording(path.join(import.meta.dirname, "..", "fixtures", "cosmos-3asset.catrec"));
const expected = JSON.parse(await readFile(path.join(import.meta.dirname, "..", "fixtures", "cosmos-3asset.expected.json"), "utf8")) as { governance: string };
const origin = "catopt.test/ledger";
const vkey = verifierKey(origin, keys.governance.publicKey);

const entries: Uint8Array[] = [];
let admission = emptyAdmission(expected.governance);
for (const m of recording.messages) {
  const verdict = judge(admission, m.seq, m.subject, m.data);
  admission = verdict.admission;
  if (verdict.refused === undefined) entries.push(encodeEntry({ index: entries.length, seq: m.seq, subject: m.subject, data: m.data }));
}
const checkpointsOf = (list: readonly Uint8Array[], sizes: number[]): string[] => {
  const log = new MerkleLog();
  list.forEach((e) => log.append(e));
  return sizes.map((size) => signCheckpoint({ origin, size, root: log.root(size) }, origin, keys.governance));
};
const sizes = [100, 200, entries.length];
const notes = checkpointsOf(entries, sizes);

test("every recorded event is accepted, and the ledger with its checkpoints verifies", () => {
  assert.is(entries.length, recording.messages.length);
  const report = verifyLedger(entries, notes, expected.governance, vkey);
  assert.is(report.problem, null);
  assert.equal([report.size, report.checkpoints, report.lastCheckpoint?.size], [entries.length, 3, entries.length]);
});

test("a changed, dropped, reordered or inserted entry is named by its first bad index", () => {
  const changed = entries.map((e, i) => {
    if (i !== 150) return e;
    const entry = decodeEntry(e);
    const data = Uint8Array.from(entry.data);
    data[30] ^= 1; // inside the signed event bytes (the envelope's second field)
    return encodeEntry({ ...entry, data });
  });
  const dropped = entries.filter((_, i) => i !== 120);
  const reordered = entries.slice();
  [reordered[130], reordered[131]] = [reordered[131], reordered[130]];
  const inserted = [...entries.slice(0, 140), entries[139], ...entries.slice(140)];
  const cases: [Uint8Array[], number, string][] = [
    [changed, 150, "bad signature"],
    [dropped, 120, "says index 121 at position 120"],
    [reordered, 130, "says index 131 at position 130"],
    [inserted, 140, "says index 139 at position 140"],
  ];
  for (const [list, index, reason] of cases) {
    const report = verifyLedger(list, notes, expected.governance, vkey);
    assert.is(report.problem?.index, index, reason);
    assert.match(report.problem?.reason ?? "", reason);
  }
});

test("a re-numbered forgery still fails against the signed checkpoints; so does a checkpoint by another key", () => {
  // Re-index after dropping entry 120, so every entry looks in place: only the roots can tell.
  const renumbered = entries.filter((_, i) => i !== 120).map((e, i) => encodeEntry({ ...decodeEntry(e), index: i }));
  const report = verifyLedger(renumbered, notes, expected.governance, vkey);
  assert.match(report.problem?.reason ?? "", "checkpoint 1 (size 200) does not match the entries: one of 100..199 was changed");
  const stranger = verifyLedger(entries, notes, expected.governance, verifierKey(origin, keys.intruder.publicKey));
  assert.match(stranger.problem?.reason ?? "", "carries no signature by");
});

test("large entries are published in batches under the stream's message size, in order, none lost", () => {
  const sizes = [300_000, 18_000, 18_000, 900_000, 5, 700_000, 70_000, 1_200_000, 10];
  const entries = sizes.map((n, i) => new Uint8Array(n).fill(i));
  const groups = splitBatch(entries, 768 * 1024);
  assert.equal(groups.flat(), entries, "every entry once, in order");
  for (const group of groups) {
    const bytes = encodeBatch(group);
    assert.ok(bytes.length <= 768 * 1024 || group.length === 1, `a batch of ${group.length} is ${bytes.length} bytes`);
    const decoded = decodeBatch(bytes);
    assert.ok(decoded.length === group.length && decoded.every((d, i) => Buffer.from(d).equals(group[i])), "the batch decodes to its entries");
  }
  assert.is(groups.length, 5);
});

test.run();
