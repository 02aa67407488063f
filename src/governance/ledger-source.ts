import { readFile, writeFile } from "node:fs/promises";
import type { JetStreamClient } from "@nats-io/jetstream";
import { decodeSequence, encode, SequenceError } from "../core/codec.ts";
import { catoptError } from "../core/errors.ts";
import { Refusal } from "../core/refusal.ts";
import * as v from "../core/validate.ts";
import { decodeRecording, type Recording } from "../replay/recording.ts";
import { readStream } from "../bus/read.ts";
import { EVENTS_STREAM } from "../bus/streams.ts";
import { parseCheckpointText, verifierKey, verifyCheckpoint } from "./checkpoint.ts";
import { publicKeyFromDid } from "./did-key.ts";
import {
  encodeEntry,
  isAccepted,
  ledgerJudge,
  ledgerVerifier,
  messageDigest,
  openBatch,
  LEDGER_CHECKPOINT_SUBJECT,
  LEDGER_ENTRY_SUBJECT,
  LEDGER_STREAM,
  type CheckpointNote,
  type LedgerReport,
  type RefusedLedgerMessage,
} from "./ledger.ts";
import { leafHash } from "./merkle.ts";

/**
 * A ledger to verify or prove from, wherever it lives: the live ledger stream, a ledger export
 * file ("catopt-ledger/2": a header, then { entry } maps, then { checkpoint } maps, plain
 * msgpack), or a recorded scenario stream, whose messages are judged again into leaves. What a
 * file says about its own keys (`claimedGovernance`, `claimedVkey`) is only reported: every
 * check runs against the trust root the user pinned.
 */
export type LedgerSource = {
  readonly entries: readonly Uint8Array[];
  readonly checkpoints: readonly CheckpointNote[];
  /** Ledger messages passed over (not signed by the pinned writer, not a batch). */
  readonly refused: readonly RefusedLedgerMessage[];
  readonly claimedGovernance: string | null;
  readonly claimedVkey: string | null;
  readonly origin: string | null;
  /** A recording's rebuilt leaves against the leaf hashes it carries: the first message whose leaf differs. */
  readonly firstDifference?: { readonly seq: number; readonly reason: string };
};

export const LEDGER_FILE_FORMAT = "catopt-ledger/2";

/** Reads the ledger stream's batches, passing over (and naming) every message not signed by `writer`. */
export async function* leavesOf(js: JetStreamClient, writer: string, refused: RefusedLedgerMessage[]): AsyncGenerator<Uint8Array> {
  for await (const m of await readStream(js, LEDGER_STREAM, { filter: LEDGER_ENTRY_SUBJECT, untilEnd: true })) {
    let leaves: Uint8Array[];
    try {
      leaves = openBatch(m.data, writer);
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      refused.push({ what: `ledger stream seq ${m.seq}`, reason: err.message });
      continue;
    }
    yield* leaves;
  }
}

async function checkpointsOf(js: JetStreamClient): Promise<CheckpointNote[]> {
  const notes: CheckpointNote[] = [];
  for await (const m of await readStream(js, LEDGER_STREAM, { filter: LEDGER_CHECKPOINT_SUBJECT, untilEnd: true })) {
    notes.push({ note: new TextDecoder().decode(m.data), where: `checkpoint at ledger stream seq ${m.seq}` });
  }
  return notes;
}

/**
 * Verifies the live ledger as it reads it, holding a digest per leaf rather than every entry,
 * then reads the event stream and checks that each of its messages up to the ledger's last
 * leaf is the one its leaf accounts for: a message in no leaf, or another than its leaf says,
 * is named by its sequence. Messages after the last leaf are not judged yet (`pending`).
 */
export async function verifyLedgerStream(js: JetStreamClient, trustRoot: string, vkey: string): Promise<LedgerReport & { pending: number }> {
  // Checkpoints first: one published while the leaves are read then covers no more than they hold.
  const checkpoints = await checkpointsOf(js);
  const verifier = ledgerVerifier(trustRoot);
  const refused: RefusedLedgerMessage[] = [];
  const digests: Uint8Array[] = [];
  for await (const entry of leavesOf(js, trustRoot, refused)) {
    const leaf = verifier.add(entry);
    if (leaf !== undefined) digests.push(isAccepted(leaf) ? messageDigest(leaf.data) : leaf.digest);
  }
  for (const r of refused) verifier.refuse(r);
  let pending = 0;
  let expected = 1;
  for await (const m of await readStream(js, EVENTS_STREAM, { untilEnd: true })) {
    if (m.seq > digests.length) {
      pending++;
      continue;
    }
    if (m.seq !== expected)
      verifier.fail({ index: expected - 1, seq: expected, reason: `the ledger has an entry for stream message ${expected}, which the stream does not hold` });
    expected = m.seq + 1;
    if (Buffer.compare(messageDigest(m.data), digests[m.seq - 1]) !== 0)
      verifier.fail({ index: m.seq - 1, seq: m.seq, reason: `stream message ${m.seq} (${m.subject}) is not the message its ledger entry accounts for` });
  }
  if (expected <= digests.length)
    verifier.fail({
      index: expected - 1,
      seq: expected,
      reason: `the ledger has entries up to stream message ${digests.length}; the stream ends at ${expected - 1}`,
    });
  return { ...verifier.finish(checkpoints, vkey), pending };
}

/** The live ledger's origin, from its checkpoints alone (see originOf). */
export async function streamOrigin(js: JetStreamClient, governance: string): Promise<string | null> {
  return originOf(await checkpointsOf(js), governance);
}

export async function ledgerFromStream(js: JetStreamClient, writer: string): Promise<LedgerSource> {
  const checkpoints = await checkpointsOf(js); // first: see verifyLedgerStream
  const refused: RefusedLedgerMessage[] = [];
  const entries: Uint8Array[] = [];
  for await (const entry of leavesOf(js, writer, refused)) entries.push(entry);
  return { entries, checkpoints, refused, claimedGovernance: null, claimedVkey: null, origin: originOf(checkpoints, writer) };
}

/**
 * The ledger's origin (its checkpoints' key name): that of the first checkpoint that verifies
 * under the pinned governance key. A stranger's note, with another origin, must not decide it.
 */
function originOf(checkpoints: readonly CheckpointNote[], governance: string): string | null {
  for (const { note } of checkpoints) {
    try {
      const origin = parseCheckpointText(note.slice(0, note.lastIndexOf("\n\n") + 1)).origin;
      verifyCheckpoint(note, verifierKey(origin, publicKeyFromDid(governance)));
      return origin;
    } catch {
      // not a checkpoint signed by the pinned key: the verifier names it
    }
  }
  return null;
}

export async function ledgerFromFile(file: string, trustRoot: string): Promise<LedgerSource> {
  const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw catoptError("RECORDING_INVALID", `${file}: cannot read (${err.code ?? err.message})`, err);
  });
  let values: unknown[];
  try {
    values = decodeSequence(bytes);
  } catch (err) {
    throw catoptError("RECORDING_INVALID", `${file}: ${err instanceof SequenceError ? err.message : (err as Error).message}`, err);
  }
  const format = (values[0] as { format?: unknown } | undefined)?.format;
  if (format === LEDGER_FILE_FORMAT) return parseLedgerFile(values, file, trustRoot);
  return ledgerFromRecording(decodeRecording(bytes, file), trustRoot);
}

/**
 * The ledger a governance consumer writes for a recorded run: a leaf for each of its messages,
 * judged under the pinned trust root. Where the recording carries the ledger's leaf hashes, the
 * first message whose rebuilt leaf differs is named.
 */
export function ledgerFromRecording({ header, messages }: Recording, trustRoot: string): LedgerSource {
  const judge = ledgerJudge(trustRoot);
  const leaves = messages.map((m, i) => judge.leaf(i, m.seq, m.subject, m.data));
  const entries = leaves.map(encodeEntry);
  let firstDifference: LedgerSource["firstDifference"];
  const recorded = header.leafHashes;
  if (recorded !== null) {
    const size = recorded.length / 32;
    const at = entries.findIndex((e, i) => i < size && Buffer.compare(leafHash(e), recorded.subarray(i * 32, i * 32 + 32)) !== 0);
    if (at >= 0) {
      const leaf = leaves[at];
      const now = isAccepted(leaf) ? "is accepted" : `is refused (${leaf.refused})`;
      firstDifference = { seq: leaf.seq, reason: `message seq ${leaf.seq} (${leaf.subject}) is not the one the ledger recorded: it ${now} now` };
    } else if (entries.length < size) {
      firstDifference = { seq: messages.length + 1, reason: `the recording ends at message ${messages.length}; its ledger holds ${size}` };
    }
  }
  const checkpoints = header.checkpoint === null ? [] : [{ note: header.checkpoint, where: "the recording's checkpoint" }];
  return {
    entries,
    checkpoints,
    refused: [],
    claimedGovernance: header.governance,
    claimedVkey: header.vkey,
    origin: originOf(checkpoints, trustRoot),
    firstDifference,
  };
}

function parseLedgerFile(values: unknown[], file: string, trustRoot: string): LedgerSource {
  try {
    const h = v.record(values[0], "header");
    const entries: Uint8Array[] = [];
    const checkpoints: CheckpointNote[] = [];
    values.slice(1).forEach((value, i) => {
      const item = v.record(value, `item[${i}]`);
      if (item.entry !== undefined) entries.push(v.bytes(item.entry, `item[${i}].entry`));
      else checkpoints.push({ note: v.string(item.checkpoint, `item[${i}].checkpoint`), where: `checkpoint ${checkpoints.length} of ${file}` });
    });
    return {
      entries,
      checkpoints,
      refused: [],
      claimedGovernance: v.string(h.governance, "header.governance"),
      claimedVkey: v.string(h.vkey, "header.vkey"),
      origin: originOf(checkpoints, trustRoot) ?? v.string(h.origin, "header.origin"),
    };
  } catch (err) {
    if (err instanceof v.ValidationError) throw catoptError("RECORDING_INVALID", `${file}: ${err.message}`, err);
    throw err;
  }
}

export async function writeLedgerFile(file: string, source: LedgerSource, governance: string, vkey: string, origin: string): Promise<void> {
  const parts = [
    encode({ format: LEDGER_FILE_FORMAT, origin, governance, vkey, entries: source.entries.length, checkpoints: source.checkpoints.length }),
    ...source.entries.map((entry) => encode({ entry })),
    ...source.checkpoints.map(({ note }) => encode({ checkpoint: note })),
  ];
  await writeFile(file, Buffer.concat(parts));
}

/** The verifier key of a ledger's checkpoints, made from the pinned governance DID and the ledger's origin: never the file's own. */
export function pinnedVkey(source: Pick<LedgerSource, "origin">, governance: string): string {
  if (source.origin === null)
    throw catoptError(
      "LEDGER_INVALID",
      `the ledger has no checkpoint signed by the pinned governance ${governance} yet, so there is nothing signed to verify against`,
    );
  return verifierKey(source.origin, publicKeyFromDid(governance));
}
