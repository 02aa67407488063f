import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { decode, encode, type Wire } from "../core/codec.ts";
import type { AgentJournal, JournalEntry } from "../core/family.ts";
import { catoptError } from "../core/errors.ts";

/**
 * An agent's journal in a file only its owner may read (its values and self-mask seeds are its
 * own), rewritten whole, into a fresh file renamed over the old (a crash leaves the old or the new,
 * never half of one; a link planted at the name is never followed). Synchronous: a contribution is
 * journaled before it is sent. One file a tenant, problem and agent; what a run of another stream
 * left there is dropped when the agent resumes (secure/participant.ts keeps only what the stream holds).
 */
export function fileJournal(dir: string, tenant: string, problem: string, agent: string): AgentJournal {
  const file = path.join(dir, `${tenant}.${problem}.${agent}.journal`);
  let entries: readonly JournalEntry[] = [];
  try {
    const read = decode(readFileSync(file));
    if (!Array.isArray(read) || !read.every(isEntry)) throw new Error("not a list of journal entries");
    entries = read;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT")
      throw catoptError("USAGE", `journal ${file} cannot be read (${(err as Error).message}): move it away to start afresh`);
    entries = [];
  }
  return {
    entries: () => entries,
    save: (next) => {
      entries = next;
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const fresh = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString("hex")}`);
      try {
        writeFileSync(fresh, encode(next as unknown as Wire), { mode: 0o600, flag: "wx" });
        renameSync(fresh, file);
      } catch (err) {
        rmSync(fresh, { force: true });
        throw err;
      }
    },
  };
}

/** The shape of an entry, checked before anything reads one (the file is the agent's own, but a disk can hold anything). */
function isEntry(x: unknown): x is JournalEntry {
  const e = x as Partial<JournalEntry> | null;
  return (
    typeof e === "object" &&
    e !== null &&
    Number.isSafeInteger(e.round) &&
    Number.isSafeInteger(e.attempt) &&
    e.seed instanceof Uint8Array &&
    typeof e.event === "object" &&
    e.event !== null &&
    e.event.schema === "masked/1"
  );
}
