import { readFile, writeFile } from "node:fs/promises";
import type { JetStreamClient } from "@nats-io/jetstream";
import { decodeSequence, encode, SequenceError } from "../core/codec.ts";
import { catoptError } from "../core/errors.ts";
import * as v from "../core/validate.ts";
import { decodeRecording } from "../replay/recording.ts";
import { readStream } from "../bus/read.ts";
import { readToEnd } from "../replay/replay.ts";
import { emptyAdmission } from "./admission.ts";
import { parseCheckpointText, parseVerifierKey, verifierKey } from "./checkpoint.ts";
import { publicKeyFromDid } from "./did-key.ts";
import { decodeBatch, encodeEntry, judge, ledgerVerifier, LEDGER_CHECKPOINT_SUBJECT, LEDGER_ENTRY_SUBJECT, LEDGER_STREAM, type LedgerReport } from "./ledger.ts";

/**
 * A ledger to verify or prove from, wherever it lives: the live ledger stream, a ledger export
 * file ("catopt-ledger/1": a header, then { entry } maps, then { checkpoint } maps, plain
 * msgpack), or a recorded scenario stream, whose accepted events are re-judged into entries.
 */
export type LedgerSource = {
  readonly entries: readonly Uint8Array[];
  readonly checkpoints: readonly string[];
  /** The governance DID it was written under, and the checkpoints' verifier key, where known. */
  readonly governance: string | null;
  readonly vkey: string | null;
  readonly origin: string | null;
};

export const LEDGER_FILE_FORMAT = "catopt-ledger/1";

/** Verifies the live ledger stream as it reads it, holding one batch at a time rather than every entry. */
export async function verifyLedgerStream(js: JetStreamClient, trustRoot: string, vkey: string): Promise<LedgerReport> {
  const verifier = ledgerVerifier(trustRoot);
  for await (const m of await readStream(js, LEDGER_STREAM, { filter: LEDGER_ENTRY_SUBJECT, untilEnd: true })) {
    for (const entry of decodeBatch(m.data)) verifier.add(entry);
  }
  const checkpoints = (await readToEnd(js, LEDGER_STREAM, { filter: LEDGER_CHECKPOINT_SUBJECT })).map((m) => new TextDecoder().decode(m.data));
  return verifier.finish(checkpoints, vkey);
}

export async function ledgerFromStream(js: JetStreamClient): Promise<LedgerSource> {
  const entries = (await readToEnd(js, LEDGER_STREAM, { filter: LEDGER_ENTRY_SUBJECT })).flatMap((m) => decodeBatch(m.data));
  const checkpoints = (await readToEnd(js, LEDGER_STREAM, { filter: LEDGER_CHECKPOINT_SUBJECT })).map((m) => new TextDecoder().decode(m.data));
  const origin = checkpoints.length > 0 ? parseCheckpointText(checkpoints[0].slice(0, checkpoints[0].lastIndexOf("\n\n") + 1)).origin : null;
  return { entries, checkpoints, governance: null, vkey: null, origin };
}

export async function ledgerFromFile(file: string): Promise<LedgerSource> {
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
  if (format === LEDGER_FILE_FORMAT) return parseLedgerFile(values, file);
  return ledgerFromRecording(bytes, file);
}

/** The ledger a governance consumer writes for a recorded run: its accepted events, in order. */
function ledgerFromRecording(bytes: Uint8Array, file: string): LedgerSource {
  const { header, messages } = decodeRecording(bytes, file);
  const entries: Uint8Array[] = [];
  let admission = emptyAdmission(header.governance);
  for (const m of messages) {
    const verdict = judge(admission, m.seq, m.subject, m.data);
    admission = verdict.admission;
    if (verdict.refused === undefined) entries.push(encodeEntry({ index: entries.length, seq: m.seq, subject: m.subject, data: m.data }));
  }
  const origin = header.vkey === null ? null : parseVerifierKey(header.vkey).name;
  return { entries, checkpoints: header.checkpoint === null ? [] : [header.checkpoint], governance: header.governance, vkey: header.vkey, origin };
}

function parseLedgerFile(values: unknown[], file: string): LedgerSource {
  try {
    const h = v.record(values[0], "header");
    const entries: Uint8Array[] = [];
    const checkpoints: string[] = [];
    values.slice(1).forEach((value, i) => {
      const item = v.record(value, `item[${i}]`);
      if (item.entry !== undefined) entries.push(v.bytes(item.entry, `item[${i}].entry`));
      else checkpoints.push(v.string(item.checkpoint, `item[${i}].checkpoint`));
    });
    return {
      entries,
      checkpoints,
      governance: v.string(h.governance, "header.governance"),
      vkey: v.string(h.vkey, "header.vkey"),
      origin: v.string(h.origin, "header.origin"),
    };
  } catch (err) {
    if (err instanceof v.ValidationError) throw catoptError("RECORDING_INVALID", `${file}: ${err.message}`, err);
    throw err;
  }
}

export async function writeLedgerFile(file: string, source: LedgerSource & { governance: string; vkey: string; origin: string }): Promise<void> {
  const parts = [
    encode({ format: LEDGER_FILE_FORMAT, origin: source.origin, governance: source.governance, vkey: source.vkey, entries: source.entries.length, checkpoints: source.checkpoints.length }),
    ...source.entries.map((entry) => encode({ entry })),
    ...source.checkpoints.map((checkpoint) => encode({ checkpoint })),
  ];
  await writeFile(file, Buffer.concat(parts));
}

/** The verifier key of a ledger's checkpoints: recorded with it, or made from the governance DID and the origin. */
export function vkeyOf(source: LedgerSource, governance: string): string {
  if (source.vkey !== null) return source.vkey;
  if (source.origin === null) throw catoptError("USAGE", "the ledger has no checkpoint yet, so there is nothing signed to verify against");
  return verifierKey(source.origin, publicKeyFromDid(governance));
}
