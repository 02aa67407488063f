import { readFile, writeFile } from "node:fs/promises";
import { decodeSequence, encode, SequenceError } from "../core/codec.ts";
import { catoptError } from "../core/errors.ts";
import * as v from "../core/validate.ts";
import type { StreamMessage } from "../core/stream-message.ts";

/**
 * A recorded scenario stream: concatenated plain msgpack values, readable by any msgpack
 * library's streaming unpacker. First a header map, then one map per stream message:
 * { subject, seq (its stream sequence), data (the message bytes: the envelope) }.
 */
export const RECORDING_FORMAT = "catopt-recording/1";

export type RecordingHeader = {
  readonly format: typeof RECORDING_FORMAT;
  readonly stream: string;
  readonly tenant: string;
  readonly problem: string;
  /** The scenario the run came from and HiGHS's optimum for it, where known (not in the stream: local problems are private). */
  readonly scenario: string | null;
  readonly referenceObjective: number | null;
  /** The governance DID the run trusted; replay verifies admissions against it unless told another. */
  readonly governance: string | null;
  /** The run's last ledger checkpoint (a C2SP signed note) and its verifier key, where it wrote a ledger. */
  readonly checkpoint: string | null;
  readonly vkey: string | null;
  /**
   * The ledger's leaf hashes (32 bytes each, in order) up to that checkpoint, which its root
   * authenticates: a replay names the first message whose leaf is not the recorded one.
   */
  readonly leafHashes: Uint8Array | null;
  readonly messages: number;
};

export type Recording = { readonly header: RecordingHeader; readonly messages: readonly StreamMessage[] };

export function encodeRecording(recording: Recording): Uint8Array {
  const parts = [encode({ ...recording.header }), ...recording.messages.map((m) => encode({ subject: m.subject, seq: m.seq, data: m.data }))];
  return Buffer.concat(parts);
}

export function decodeRecording(bytes: Uint8Array, source: string): Recording {
  const fail = (what: string, cause?: unknown): never => {
    throw catoptError("RECORDING_INVALID", `${source}: ${what}`, cause);
  };
  let values: unknown[] = [];
  try {
    values = bytes.length === 0 ? [] : decodeSequence(bytes);
  } catch (err) {
    fail(err instanceof SequenceError ? err.message : `not msgpack (${(err as Error).message})`, err);
  }
  if (values.length === 0) fail("empty file, not a recording");
  try {
    const h = v.record(values[0], "header");
    if (h.format !== RECORDING_FORMAT) throw new v.ValidationError("header.format", `expected "${RECORDING_FORMAT}", got ${JSON.stringify(h.format)}`);
    const header: RecordingHeader = {
      format: RECORDING_FORMAT,
      stream: v.string(h.stream, "header.stream"),
      tenant: v.string(h.tenant, "header.tenant"),
      problem: v.string(h.problem, "header.problem"),
      scenario: h.scenario === null ? null : v.string(h.scenario, "header.scenario"),
      referenceObjective: h.referenceObjective === null ? null : v.finite(h.referenceObjective, "header.referenceObjective"),
      governance: optionalString(h.governance, "header.governance"),
      checkpoint: optionalString(h.checkpoint, "header.checkpoint"),
      vkey: optionalString(h.vkey, "header.vkey"),
      leafHashes: leafHashesOf(h.leafHashes),
      messages: v.integer(h.messages, "header.messages"),
    };
    const messages = values.slice(1).map((value, i): StreamMessage => {
      const at = `message[${i}]`;
      const m = v.record(value, at);
      return { subject: v.string(m.subject, `${at}.subject`), seq: v.integer(m.seq, `${at}.seq`, 1), data: v.bytes(m.data, `${at}.data`) };
    });
    if (messages.length !== header.messages) {
      throw new v.ValidationError("header.messages", `says ${header.messages} messages, the file holds ${messages.length}`);
    }
    return { header, messages };
  } catch (err) {
    if (err instanceof v.ValidationError) return fail(err.message, err);
    throw err;
  }
}

function leafHashesOf(value: unknown): Uint8Array | null {
  if (value === null || value === undefined) return null;
  const hashes = v.bytes(value, "header.leafHashes");
  if (hashes.length % 32 !== 0) throw new v.ValidationError("header.leafHashes", `expected 32 bytes a leaf, got ${hashes.length} bytes`);
  return hashes;
}

const optionalString = (value: unknown, path: string): string | null => (value === null || value === undefined ? null : v.string(value, path));

export async function writeRecording(file: string, recording: Recording): Promise<void> {
  await writeFile(file, encodeRecording(recording));
}

export async function readRecording(file: string): Promise<Recording> {
  const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw catoptError("RECORDING_INVALID", `${file}: cannot read (${err.code ?? err.message})`, err);
  });
  return decodeRecording(bytes, file);
}
