import { createHash } from "node:crypto";
import { decode, encode, type Wire } from "../core/codec.ts";
import { decodeEnvelope, encodeEnvelope } from "../core/envelope.ts";
import { Refusal } from "../core/refusal.ts";
import { isCatoptError } from "../core/errors.ts";
import { parseSubject } from "../core/subjects.ts";
import * as v from "../core/validate.ts";
import { applyGovernance, emptyAdmission, isGovernanceEvent, signerProblem, verifyMessage, type AdmissionState } from "./admission.ts";
import { verifyCheckpoint, type Checkpoint } from "./checkpoint.ts";
import { signBytes, verifyBytes, type Identity } from "./identity.ts";
import { MerkleLog, toHex, verifyConsistency } from "./merkle.ts";

/**
 * The ledger accounts for every message of the event stream, in stream order, as the leaves of
 * an RFC 6962 Merkle log with C2SP signed checkpoints: leaf k is stream message k + 1. A leaf is
 * the msgpack map { index, seq, subject, data } for an accepted event (data: the message bytes,
 * i.e. the signed envelope) or { index, seq, subject, refused, digest } for a refused one
 * (refused: the reason; digest: SHA-256 of the message bytes, whose copy the quarantine notice
 * carries). The governance identity's own quarantine notices are accepted events like any other.
 * So a verifier that holds the stream can check that nothing the stream holds is missing, and
 * one that holds only the ledger can check that no sequence was skipped.
 *
 * On catopt.ledger.entry each message is a batch of consecutive leaves, signed by the governance
 * identity (the writer): anyone else's message there is refused by its sequence and reason, and
 * readers carry on past it.
 */
export const LEDGER_STREAM = "CATOPT_LEDGER";
export const LEDGER_ENTRY_SUBJECT = "catopt.ledger.entry";
export const LEDGER_CHECKPOINT_SUBJECT = "catopt.ledger.checkpoint";

export type LedgerEntry = { readonly index: number; readonly seq: number; readonly subject: string; readonly data: Uint8Array };
export type LedgerRefusal = { readonly index: number; readonly seq: number; readonly subject: string; readonly refused: string; readonly digest: Uint8Array };
export type LedgerLeaf = LedgerEntry | LedgerRefusal;

export const isAccepted = (leaf: LedgerLeaf): leaf is LedgerEntry => "data" in leaf;

/** The SHA-256 of a message's bytes: what a refusal leaf keeps of it, and what a verifier compares with the stream. */
export const messageDigest = (data: Uint8Array): Uint8Array => createHash("sha256").update(data).digest();

/** A refusal's reason as the leaf and the notice keep it (the same text in both). */
export const MAX_REASON = 1024;

/**
 * The largest message the ledger takes as an entry: a leaf of it, in a signed batch, and its
 * quarantine notice must each stay under the servers' 1 MiB max_payload. The event stream
 * stores up to 1 MiB, so a message past this is refused as too large (its leaf keeps the digest).
 */
export const MAX_LEDGER_MESSAGE = 1024 * 1024 - 8 * 1024;

/** A catopt subject has five tokens of at most 64 characters: a refusal keeps at most this much of a longer one. */
const MAX_SUBJECT = 512;

export function encodeEntry(leaf: LedgerLeaf): Uint8Array {
  return isAccepted(leaf)
    ? encode({ index: leaf.index, seq: leaf.seq, subject: leaf.subject, data: leaf.data })
    : encode({ index: leaf.index, seq: leaf.seq, subject: leaf.subject, refused: leaf.refused, digest: leaf.digest });
}

export function decodeEntry(bytes: Uint8Array): LedgerLeaf {
  const e = v.record(decode(bytes), "entry");
  const head = { index: v.integer(e.index, "entry.index"), seq: v.integer(e.seq, "entry.seq", 1), subject: v.string(e.subject, "entry.subject") };
  if (e.data !== undefined) return { ...head, data: v.bytes(e.data, "entry.data") };
  const digest = v.bytes(e.digest, "entry.digest");
  if (digest.length !== 32) throw new v.ValidationError("entry.digest", `expected 32 bytes, got ${digest.length}`);
  return { ...head, refused: v.string(e.refused, "entry.refused"), digest };
}

/** A batch of leaves, signed by the writer: the envelope of the event stream, around { leaves }. */
export function encodeBatch(leaves: readonly Uint8Array[], writer: Identity): Uint8Array {
  const body = encode(new Map<string, Wire>([["leaves", leaves]]));
  return encodeEnvelope({ event: body, author: writer.did, sig: signBytes(writer, body) });
}

/** The leaves of a batch signed by `writer` (a DID); a Refusal with the reason for anything else. */
export function openBatch(bytes: Uint8Array, writer: string): Uint8Array[] {
  try {
    const envelope = decodeEnvelope(bytes);
    if (envelope.author !== writer) throw new Refusal(`signed by ${envelope.author.slice(0, 80)}, not by the governance identity`);
    if (!verifyBytes(writer, envelope.event, envelope.sig)) throw new Refusal("its signature does not verify");
    const body = v.record(decode(envelope.event), "batch");
    return v.array(body.leaves, "batch.leaves").map((e, i) => v.bytes(e, `batch.leaves[${i}]`));
  } catch (err) {
    if (err instanceof Refusal) throw err;
    throw new Refusal(`not a ledger batch: ${(err as Error).message}`);
  }
}

/**
 * Leaves grouped so that each batch, encoded and signed, stays within `budget` bytes: a batch of
 * large events (a cluster's deltas, its open event) would otherwise exceed the ledger stream's
 * max_msg_size (1 MiB). A leaf larger than the budget goes alone.
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

/**
 * Decides, message by message in stream order, what the ledger makes of each: accepted, or
 * refused with the reason. It folds the governance events (whose events count) and remembers
 * every accepted event id, so a copy of an event republished under another Nats-Msg-Id is
 * refused as a duplicate rather than counted twice. `signatureValid`: a verdict on the
 * signature already reached for these bytes, if any.
 */
export type LedgerJudge = {
  judge(seq: number, subject: string, data: Uint8Array, signatureValid?: boolean): string | undefined;
  /** The leaf for this message at `index`, judged. */
  leaf(index: number, seq: number, subject: string, data: Uint8Array, signatureValid?: boolean): LedgerLeaf;
  /** Whose events count, as of the last message judged: what the NATS permissions derive from. */
  admission(): AdmissionState;
};

export function ledgerJudge(trustRoot: string | null): LedgerJudge {
  let admission = emptyAdmission(trustRoot);
  const seen = new Map<string, number>();
  const judge = (seq: number, subject: string, data: Uint8Array, signatureValid?: boolean): string | undefined => {
    const refused = judgeOne(seq, subject, data, signatureValid);
    return refused === undefined ? undefined : refused.slice(0, MAX_REASON);
  };
  const judgeOne = (seq: number, subject: string, data: Uint8Array, signatureValid?: boolean): string | undefined => {
    if (data.length > MAX_LEDGER_MESSAGE) return `message of ${data.length} bytes is too large for the ledger (at most ${MAX_LEDGER_MESSAGE})`;
    if (subject.length > MAX_SUBJECT) return `subject of ${subject.length} characters is not a catopt event subject`;
    try {
      const parsed = parseSubject(subject);
      if (parsed === undefined) return `subject ${subject} is not a catopt event subject`;
      const { event, author } = verifyMessage(data, signatureValid);
      if (event.tenant !== parsed.tenant) return `event of tenant ${event.tenant} on ${subject}`;
      const first = seen.get(event.id);
      if (first !== undefined) return `duplicate of event ${event.id} (accepted at seq ${first})`;
      if (isGovernanceEvent(event)) admission = applyGovernance(admission, event, author, seq);
      else if (event.schema === "quarantine/1") {
        if (author !== trustRoot) return "a quarantine notice not by the governance identity";
      } else {
        const problem = signerProblem(admission, parsed, author);
        if (problem !== undefined) return problem;
      }
      seen.set(event.id, seq);
      return undefined;
    } catch (err) {
      if (err instanceof Refusal || isCatoptError(err, "EVENT_INVALID")) return err.message;
      throw err;
    }
  };
  return {
    judge,
    admission: () => admission,
    leaf: (index, seq, subject, data, signatureValid) => {
      const refused = judge(seq, subject, data, signatureValid);
      return refused === undefined
        ? { index, seq, subject, data }
        : { index, seq, subject: subject.slice(0, MAX_SUBJECT), refused, digest: messageDigest(data) };
    },
  };
}

/** A stable subject token for a refusal reason: catopt.<tenant>.quarantine.<reason>. */
export function quarantineReason(reason: string): string {
  if (reason.startsWith("unsigned")) return "unsigned";
  if (reason.startsWith("duplicate of event")) return "duplicate";
  if (reason.startsWith("bad signature") || reason.startsWith("author is not")) return "bad-signature";
  if (reason.includes("was revoked")) return "revoked-signer";
  if (reason.startsWith("unknown signer") || reason.includes("not by the governance identity")) return "unknown-signer";
  if (reason.includes("is not admitted as")) return "wrong-role";
  if (reason.includes("unknown schema")) return "unknown-schema";
  if (reason.includes("incompatible schema")) return "incompatible-schema";
  return "malformed";
}

/** Where the ledger goes wrong: the leaf's index, the event stream sequence it stands for, and why. */
export type LedgerProblem = { readonly index: number; readonly seq?: number; readonly reason: string };

/**
 * A message of the ledger that no reader takes (not signed by the writer, or not a ledger
 * message at all): `what` says where it is ("ledger stream seq 12", "checkpoint 3").
 */
export type RefusedLedgerMessage = { readonly what: string; readonly reason: string };

export type LedgerReport = {
  readonly size: number;
  readonly root: string;
  readonly checkpoints: number;
  readonly lastCheckpoint: Checkpoint | null;
  /** The first thing wrong, by entry index (or the checkpoint that does not match), or null when all holds. */
  readonly problem: LedgerProblem | null;
  /** Ledger messages passed over, with their sequence and reason. */
  readonly refused: readonly RefusedLedgerMessage[];
};

/**
 * Verifies a whole ledger: leaves numbered 0, 1, 2, ... for stream sequences 1, 2, 3, ...
 * (nothing skipped, nothing twice); every accepted leaf a validly signed event by an admitted
 * signer (admissions folded from the ledger itself, under `trustRoot`) that the judge accepts
 * again; at least one checkpoint signed by `vkey`, each matching the root rebuilt at its size
 * and consistent with the previous one.
 */
export function verifyLedger(entries: readonly Uint8Array[], checkpointNotes: readonly CheckpointNote[], trustRoot: string, vkey: string): LedgerReport {
  const verifier = ledgerVerifier(trustRoot);
  for (const entry of entries) verifier.add(entry);
  return verifier.finish(checkpointNotes, vkey);
}

/** verifyLedger one leaf at a time: a ledger of any size streams through it in constant memory (bar 32 bytes a leaf). */
export type LedgerVerifier = {
  /** The leaf, decoded, or undefined once anything is wrong. */
  add(entry: Uint8Array): LedgerLeaf | undefined;
  /** Records a ledger message passed over. */
  refuse(message: RefusedLedgerMessage): void;
  /** Records a problem found outside the leaves (the stream does not match them). */
  fail(problem: LedgerProblem): void;
  finish(checkpointNotes: readonly CheckpointNote[], vkey: string): LedgerReport;
};

/** A signed checkpoint note, and where it was found (for a refusal to name). */
export type CheckpointNote = { readonly note: string; readonly where: string };

export function ledgerVerifier(trustRoot: string): LedgerVerifier {
  const log = new MerkleLog();
  const judge = ledgerJudge(trustRoot);
  const refused: RefusedLedgerMessage[] = [];
  let lastSeq = 0;
  let problem: LedgerProblem | null = null;
  const fail = (p: LedgerProblem) => (problem ??= p);
  const add = (bytes: Uint8Array): LedgerLeaf | undefined => {
    const position = log.size;
    log.append(bytes);
    if (problem !== null) return undefined;
    let leaf: LedgerLeaf;
    try {
      leaf = decodeEntry(bytes);
    } catch (err) {
      return void fail({ index: position, reason: `not a ledger entry: ${(err as Error).message}` });
    }
    if (leaf.index !== position)
      return void fail({ index: position, seq: leaf.seq, reason: `entry says index ${leaf.index} at position ${position} (dropped, inserted or reordered)` });
    if (leaf.seq !== lastSeq + 1) {
      const reason =
        leaf.seq <= lastSeq
          ? `stream sequence ${leaf.seq} after ${lastSeq} (reordered or duplicated)`
          : `stream messages ${lastSeq + 1}..${leaf.seq - 1} are in no entry`;
      return void fail({ index: position, seq: leaf.seq <= lastSeq ? leaf.seq : lastSeq + 1, reason });
    }
    lastSeq = leaf.seq;
    if (isAccepted(leaf)) {
      const why = judge.judge(leaf.seq, leaf.subject, leaf.data);
      if (why !== undefined) return void fail({ index: position, seq: leaf.seq, reason: why });
    }
    return leaf;
  };
  return {
    add,
    refuse: (message) => void refused.push(message),
    fail,
    finish: (checkpointNotes, vkey) => ({ ...checkCheckpoints(log, checkpointNotes, vkey, problem, refused), refused }),
  };
}

function checkCheckpoints(
  log: MerkleLog,
  checkpointNotes: readonly CheckpointNote[],
  vkey: string,
  entryProblem: LedgerProblem | null,
  refused: RefusedLedgerMessage[],
): Omit<LedgerReport, "refused"> {
  let problem = entryProblem;
  const fail = (index: number, reason: string) => (problem ??= { index, reason });
  let previous: Checkpoint | null = null;
  let signed = 0;
  for (const [i, { note, where }] of checkpointNotes.entries()) {
    let checkpoint: Checkpoint;
    try {
      checkpoint = verifyCheckpoint(note, vkey);
    } catch (err) {
      // Not signed by the pinned key: a stranger's note proves nothing, and must not block the ledger.
      refused.push({ what: where, reason: (err as Error).message });
      continue;
    }
    signed++;
    if (checkpoint.size > log.size) {
      fail(log.size, `checkpoint ${i} covers ${checkpoint.size} entries; the ledger holds ${log.size}`);
      continue;
    }
    if (toHex(log.root(checkpoint.size)) !== toHex(checkpoint.root)) {
      fail(
        Math.max(0, previous?.size ?? 0),
        `checkpoint ${i} (size ${checkpoint.size}) does not match the entries: one of ${previous?.size ?? 0}..${checkpoint.size - 1} was changed`,
      );
      continue;
    }
    if (
      previous !== null &&
      previous.size > 0 &&
      !verifyConsistency(previous.size, checkpoint.size, log.consistencyProof(previous.size, checkpoint.size), previous.root, checkpoint.root)
    ) {
      fail(previous.size, `checkpoints ${i - 1} and ${i} are not consistent`);
      continue;
    }
    previous = checkpoint;
  }
  if (signed === 0 && log.size > 0) fail(0, "no checkpoint is signed by the pinned governance key");
  return { size: log.size, root: toHex(log.root()), checkpoints: signed, lastCheckpoint: previous, problem };
}
