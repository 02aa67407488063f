import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { signCheckpoint, verifierKey } from "../../src/governance/checkpoint.ts";
import {
  decodeEntry,
  encodeBatch,
  encodeEntry,
  isAccepted,
  ledgerJudge,
  openBatch,
  splitBatch,
  verifyLedger,
  type LedgerEntry,
} from "../../src/governance/ledger.ts";
import { MerkleLog } from "../../src/governance/merkle.ts";
import { decodeEnvelope } from "../../src/core/envelope.ts";
import { decodeEvent } from "../../src/families/registry.ts";
import { Refusal } from "../../src/core/refusal.ts";
import { readRecording } from "../../src/replay/recording.ts";
import { fixtureIdentities } from "../helpers/messages.ts";

// The ledger the governance consumer would write for the recorded run, built with the same judge.
const keys = await fixtureIdentities();
const recording = await readRecording(path.join(import.meta.dirname, "..", "fixtures", "cosmos-3asset.catrec"));
const expected = JSON.parse(await readFile(path.join(import.meta.dirname, "..", "fixtures", "cosmos-3asset.expected.json"), "utf8")) as { governance: string };
const origin = "catopt.test/ledger";
const vkey = verifierKey(origin, keys.governance.publicKey);

const judge = ledgerJudge(expected.governance);
const entries = recording.messages.map((m, i) => encodeEntry(judge.leaf(i, m.seq, m.subject, m.data)));
const accepted = (bytes: Uint8Array): LedgerEntry => {
  const leaf = decodeEntry(bytes);
  if (!isAccepted(leaf)) throw new Error(`leaf ${leaf.index} is a refusal`);
  return leaf;
};
const checkpointsOf = (list: readonly Uint8Array[], sizes: number[]) => {
  const log = new MerkleLog();
  for (const e of list) log.append(e);
  return sizes.map((size, i) => ({ note: signCheckpoint({ origin, size, root: log.root(size) }, origin, keys.governance), where: `checkpoint ${i}` }));
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
    const entry = accepted(e);
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
  const renumbered = entries.filter((_, i) => i !== 120).map((e, i) => encodeEntry({ ...decodeEntry(e), index: i, ...(i >= 120 ? { seq: i + 1 } : {}) }));
  const report = verifyLedger(renumbered, notes, expected.governance, vkey);
  assert.match(report.problem?.reason ?? "", "checkpoint 1 (size 200) does not match the entries: one of 100..199 was changed");
  const stranger = verifyLedger(entries, notes, expected.governance, verifierKey(origin, keys.intruder.publicKey));
  assert.match(stranger.problem?.reason ?? "", "no checkpoint is signed by the pinned governance key");
  assert.is(stranger.refused.length, 3, "each stranger's checkpoint is refused by name");
});

test("the ledger accounts for every stream sequence: a leaf dropped and the rest renumbered is named by the missing sequence", () => {
  const renumbered = entries.filter((_, i) => i !== 120).map((e, i) => encodeEntry({ ...decodeEntry(e), index: i }));
  const report = verifyLedger(renumbered, [], expected.governance, vkey);
  assert.equal([report.problem?.index, report.problem?.seq], [120, recording.messages[120].seq]);
  assert.match(report.problem?.reason ?? "", `stream messages ${recording.messages[120].seq}..${recording.messages[120].seq} are in no entry`);
});

test("a refused message is a refusal leaf, and a copy of an accepted event (same event id, any Nats-Msg-Id) is refused as a duplicate", () => {
  const judge = ledgerJudge(expected.governance);
  const [first, second] = recording.messages;
  assert.is(judge.judge(first.seq, first.subject, first.data), undefined);
  assert.is(judge.judge(second.seq, second.subject, second.data), undefined);
  const copy = judge.leaf(2, 3, first.subject, first.data);
  assert.ok(!isAccepted(copy));
  assert.match(copy.refused, `duplicate of event ${decodeEvent(decodeEnvelope(first.data).event).id} (accepted at seq ${first.seq})`);
  assert.is(Buffer.from(copy.digest).toString("hex"), createHash("sha256").update(first.data).digest("hex"));
  assert.equal(decodeEntry(encodeEntry(copy)), copy, "a refusal leaf round-trips");
});

test("a ledger batch is opened only when signed by the writer: garbage and strangers' batches are refused with the reason", () => {
  const batch = encodeBatch(entries.slice(0, 3), keys.governance);
  assert.equal(openBatch(batch, keys.governance.did).length, 3);
  const cases: [Uint8Array, string][] = [
    [Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), "not a ledger batch"],
    [encodeBatch(entries.slice(0, 3), keys.intruder), `signed by ${keys.intruder.did}, not by the governance identity`],
    [Uint8Array.from(batch).fill(0, batch.length - 10), "its signature does not verify"],
  ];
  for (const [bytes, reason] of cases) {
    try {
      openBatch(bytes, keys.governance.did);
      assert.unreachable(reason);
    } catch (err) {
      assert.instance(err, Refusal);
      assert.match((err as Error).message, reason);
    }
  }
});

test("large entries are published in batches under the stream's message size, in order, none lost", () => {
  const sizes = [300_000, 18_000, 18_000, 900_000, 5, 700_000, 70_000, 1_200_000, 10];
  const entries = sizes.map((n, i) => new Uint8Array(n).fill(i));
  const groups = splitBatch(entries, 768 * 1024);
  assert.equal(groups.flat(), entries, "every entry once, in order");
  for (const group of groups) {
    const bytes = encodeBatch(group, keys.governance);
    assert.ok(bytes.length <= 768 * 1024 + 256 || group.length === 1, `a batch of ${group.length} is ${bytes.length} bytes`);
    const decoded = openBatch(bytes, keys.governance.did);
    assert.ok(decoded.length === group.length && decoded.every((d, i) => Buffer.from(d).equals(group[i])), "the batch decodes to its entries");
  }
  assert.is(groups.length, 5);
});

test.run();
