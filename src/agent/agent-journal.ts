import { randomBytes } from "node:crypto";
import { closeSync, constants, fstatSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { decode, encode, type Wire } from "../core/codec.ts";
import { encodeEvent } from "../core/event.ts";
import type { AgentJournal, JournalEntry } from "../core/family.ts";
import { catoptError } from "../core/errors.ts";
import { decodeEvent } from "../families/registry.ts";

/** More than any journal of JOURNAL_ROUNDS contributions holds (each at most a message's bound). */
const MAX_JOURNAL_BYTES = 16 * 1024 * 1024;

/**
 * An agent's journal in a file only its owner may read (its values and self-mask seeds are its
 * own), rewritten whole into a fresh file (created exclusively, mode 0600), synced, and renamed over
 * the old, the folder synced too: a crash leaves the old or the new, never half of one. Read without
 * following a link planted at its name, and bounded. Read only when the agent finds contributions of
 * its own on the stream, and written only when it journals one: a plain problem's agent never
 * touches it. Synchronous: a contribution is journaled before it is sent.
 */
export function fileJournal(dir: string, tenant: string, problem: string, agent: string): AgentJournal {
  const file = path.join(dir, `${tenant}.${problem}.${agent}.journal`);
  let entries: readonly JournalEntry[] | undefined;
  return {
    entries: () => {
      entries ??= readJournal(file);
      return entries;
    },
    save: (next) => {
      entries = next;
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const fresh = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString("hex")}`);
        const bytes = encode(next.map((e) => ({ round: e.round, attempt: e.attempt, event: encodeEvent(e.event), seed: e.seed, values: e.values as Wire })));
        try {
          writeFileSync(fresh, bytes, { mode: 0o600, flag: "wx" });
          const fd = openSync(fresh, "r");
          try {
            fsyncSync(fd);
          } finally {
            closeSync(fd);
          }
          renameSync(fresh, file);
        } catch (err) {
          rmSync(fresh, { force: true });
          throw err;
        }
        const folder = openSync(dir, "r");
        try {
          fsyncSync(folder);
        } finally {
          closeSync(folder);
        }
      } catch (err) {
        throw catoptError("RUN_FAILED", `cannot write the journal ${file} (${(err as Error).message}): its contribution is not sent`, err);
      }
    },
  };
}

function readJournal(file: string): readonly JournalEntry[] {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw unreadable(file, err);
  }
  try {
    const info = fstatSync(fd);
    if (!info.isFile() || info.size > MAX_JOURNAL_BYTES) throw new Error(info.isFile() ? `${info.size} bytes, more than a journal holds` : "not a file");
    const bytes = Buffer.alloc(info.size);
    for (let at = 0; at < bytes.length; ) at += readSync(fd, bytes, at, bytes.length - at, at) || bytes.length;
    const read = decode(bytes);
    if (!Array.isArray(read)) throw new Error("not a list of journal entries");
    return read.map((raw, i) => entryOf(raw, i));
  } catch (err) {
    throw unreadable(file, err);
  } finally {
    closeSync(fd);
  }
}

/** An entry, checked: its event read through the masked/1 schema, as any on the wire is. */
function entryOf(raw: unknown, i: number): JournalEntry {
  const e = raw as { round?: unknown; attempt?: unknown; event?: unknown; seed?: unknown; values?: unknown } | null;
  if (
    typeof e !== "object" ||
    e === null ||
    !Number.isSafeInteger(e.round) ||
    !Number.isSafeInteger(e.attempt) ||
    !(e.seed instanceof Uint8Array) ||
    !(e.event instanceof Uint8Array)
  )
    throw new Error(`entry ${i} is not a journal entry`);
  const event = decodeEvent(e.event);
  if (event.schema !== "masked/1") throw new Error(`entry ${i} holds a ${event.schema}, not a masked/1`);
  return { round: e.round as number, attempt: e.attempt as number, event, seed: Uint8Array.from(e.seed), values: e.values };
}

const unreadable = (file: string, err: unknown) =>
  catoptError(
    "USAGE",
    `journal ${file} cannot be read (${(err as Error).message}): start the agent under a new --problem-id, or give it another --journal`,
    err,
  );
