import { decode, encode } from "../core/codec.ts";
import { Refusal } from "../core/refusal.ts";
import { isCatoptError } from "../core/errors.ts";
import { parseSubject } from "../core/subjects.ts";
import * as v from "../core/validate.ts";
import { applyGovernance, emptyAdmission, isGovernanceEvent, signerProblem, verifyMessage, type AdmissionState } from "./admission.ts";
import { verifyCheckpoint, type Checkpoint } from "./checkpoint.ts";
import { MerkleLog, toHex, verifyConsistency } from "./merkle.ts";

/**
 * The ledger: every accepted event of the event stream, in stream order, as entries of an
 * RFC 6962 Merkle log, with C2SP signed checkpoints. An entry is the msgpack map
 * { index, seq, subject, data } (data: the message bytes, i.e. the signed envelope); its leaf
 * is SHA-256(0x00 || entry bytes). On catopt.ledger.entry each message is a batch: a msgpack
 * array of consecutive entries' bytes, published atomically by the single writer.
 */
export const LEDGER_STREAM = "CATOPT_LEDGER";
export const LEDGER_ENTRY_SUBJECT = "catopt.ledger.entry";
export const LEDGER_CHECKPOINT_SUBJECT = "catopt.ledger.checkpoint";

export type LedgerEntry = { readonly index: number; readonly seq: number; readonly subject: string; readonly data: Uint8Array };

export const encodeBatch = (entries: readonly Uint8Array[]): Uint8Array => encode(entries);

/**
 * Entries grouped so that each group, encoded, stays within `budget` bytes: a batch of large
 * events (a cluster's deltas, its open event) would otherwise exceed the ledger stream's
 * max_msg_size (1 MiB). An entry larger than the budget goes alone.
 */
export function splitBatch(entries: readonly Uint8Array[], budget = LEDGER_BATCH_BYTES): Uint8Array[][] {
  const groups: Uint8Array[][] = [];
  let size = Infinity;
  for (const entry of entries) {
    const cost = entry.length + 5; // msgpack bin header
    if (size + cost > budget) {
      groups.push([]);
      size = 5; // array header
    }
    groups[groups.length - 1].push(entry);
    size += cost;
  }
  return groups;
}

export const LEDGER_BATCH_BYTES = 768 * 1024;

export function decodeBatch(bytes: Uint8Array): Uint8Array[] {
  return v.array(decode(bytes), "batch").map((e, i) => v.bytes(e, `batch[${i}]`));
}

export const encodeEntry = (e: LedgerEntry): Uint8Array => encode({ index: e.index, seq: e.seq, subject: e.subject, data: e.data });

export function decodeEntry(bytes: Uint8Array): LedgerEntry {
  const e = v.record(decode(bytes), "entry");
  return { index: v.integer(e.index, "entry.index"), seq: v.integer(e.seq, "entry.seq", 1), subject: v.string(e.subject, "entry.subject"), data: v.bytes(e.data, "entry.data") };
}

/**
 * What the governance consumer decides for one event: why it is refused, or undefined to accept
 * it. `signatureValid`: a verdict on the signature already reached for these bytes, if any.
 */
export function judge(admission: AdmissionState, seq: number, subject: string, data: Uint8Array, signatureValid?: boolean): { admission: AdmissionState; refused?: string } {
  try {
    const parsed = parseSubject(subject);
    if (parsed === undefined) return { admission, refused: `subject ${subject} is not a catopt event subject` };
    const { event, author } = verifyMessage(data, signatureValid);
    if (event.tenant !== parsed.tenant) return { admission, refused: `event of tenant ${event.tenant} on ${subject}` };
    if (isGovernanceEvent(event)) return { admission: applyGovernance(admission, event, author, seq) };
    if (event.schema === "quarantine/1") return { admission, refused: "a quarantine notice is not an event to append" };
    const problem = signerProblem(admission, parsed, author);
    return problem === undefined ? { admission } : { admission, refused: problem };
  } catch (err) {
    if (err instanceof Refusal || isCatoptError(err, "EVENT_INVALID")) return { admission, refused: err.message };
    throw err;
  }
}

/** A stable subject token for a refusal reason: catopt.<tenant>.quarantine.<reason>. */
export function quarantineReason(reason: string): string {
  if (reason.startsWith("unsigned")) return "unsigned";
  if (reason.startsWith("bad signature") || reason.startsWith("author is not")) return "bad-signature";
  if (reason.includes("was revoked")) return "revoked-signer";
  if (reason.startsWith("unknown signer") || reason.includes("not by the governance identity")) return "unknown-signer";
  if (reason.includes("is not admitted as")) return "wrong-role";
  if (reason.includes("unknown schema")) return "unknown-schema";
  if (reason.includes("incompatible schema")) return "incompatible-schema";
  return "malformed";
}

export type LedgerProblem = { readonly index: number; readonly reason: string };

export type LedgerReport = {
  readonly size: number;
  readonly root: string;
  readonly checkpoints: number;
  readonly lastCheckpoint: Checkpoint | null;
  /** The first thing wrong, by entry index (or the checkpoint that does not match), or null when all holds. */
  readonly problem: LedgerProblem | null;
};

/**
 * Verifies a whole ledger: entries numbered 0, 1, 2, ... with strictly increasing stream
 * sequences; every entry a validly signed event by an admitted signer (admissions folded from
 * the ledger itself, under `trustRoot`); every checkpoint signed by `vkey`, matching the root
 * rebuilt at its size, and consistent with the previous one.
 */
export function verifyLedger(entries: readonly Uint8Array[], checkpointNotes: readonly string[], trustRoot: string, vkey: string): LedgerReport {
  const verifier = ledgerVerifier(trustRoot);
  for (const entry of entries) verifier.add(entry);
  return verifier.finish(checkpointNotes, vkey);
}

/** verifyLedger one entry at a time: a ledger of any size streams through it in constant memory (bar 32 bytes a leaf). */
export type LedgerVerifier = { add(entry: Uint8Array): void; finish(checkpointNotes: readonly string[], vkey: string): LedgerReport };

export function ledgerVerifier(trustRoot: string): LedgerVerifier {
  const log = new MerkleLog();
  let admission = emptyAdmission(trustRoot);
  let lastSeq = 0;
  let problem: LedgerProblem | null = null;
  const fail = (index: number, reason: string) => (problem ??= { index, reason });
  const add = (bytes: Uint8Array): void => {
    const position = log.size;
    log.append(bytes);
    if (problem !== null) return;
    let entry: LedgerEntry;
    try {
      entry = decodeEntry(bytes);
    } catch (err) {
      return void fail(position, `not a ledger entry: ${(err as Error).message}`);
    }
    if (entry.index !== position) return void fail(position, `entry says index ${entry.index} at position ${position} (dropped, inserted or reordered)`);
    if (entry.seq <= lastSeq) return void fail(position, `stream sequence ${entry.seq} after ${lastSeq} (reordered or duplicated)`);
    lastSeq = entry.seq;
    const verdict = judge(admission, entry.seq, entry.subject, entry.data);
    if (verdict.refused !== undefined) return void fail(position, verdict.refused);
    admission = verdict.admission;
  };
  return { add, finish: (checkpointNotes, vkey) => checkCheckpoints(log, checkpointNotes, vkey, problem) };
}

function checkCheckpoints(log: MerkleLog, checkpointNotes: readonly string[], vkey: string, entryProblem: LedgerProblem | null): LedgerReport {
  let problem = entryProblem;
  const fail = (index: number, reason: string) => (problem ??= { index, reason });
  let previous: Checkpoint | null = null;
  checkpointNotes.forEach((note, i) => {
    let checkpoint: Checkpoint;
    try {
      checkpoint = verifyCheckpoint(note, vkey);
    } catch (err) {
      return fail(-1, `checkpoint ${i}: ${(err as Error).message}`);
    }
    if (checkpoint.size > log.size) return fail(log.size, `checkpoint ${i} covers ${checkpoint.size} entries; the ledger holds ${log.size}`);
    if (toHex(log.root(checkpoint.size)) !== toHex(checkpoint.root)) return fail(Math.max(0, (previous?.size ?? 0)), `checkpoint ${i} (size ${checkpoint.size}) does not match the entries: one of ${previous?.size ?? 0}..${checkpoint.size - 1} was changed`);
    if (previous !== null && previous.size > 0 && !verifyConsistency(previous.size, checkpoint.size, log.consistencyProof(previous.size, checkpoint.size), previous.root, checkpoint.root)) {
      return fail(previous.size, `checkpoints ${i - 1} and ${i} are not consistent`);
    }
    previous = checkpoint;
  });
  return { size: log.size, root: toHex(log.root()), checkpoints: checkpointNotes.length, lastCheckpoint: previous, problem };
}
