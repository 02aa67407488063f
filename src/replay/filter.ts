import { parseSubject } from "../core/subjects.ts";
import type { StreamMessage } from "./reducer.ts";

/**
 * Whether a message belongs to a problem's fold: its own events (delta, round and plan
 * subjects) and its tenant's governance events, which decide whose events count.
 */
export function belongsTo(message: Pick<StreamMessage, "subject">, tenant: string, problem: string): boolean {
  const subject = parseSubject(message.subject);
  if (subject === undefined || subject.tenant !== tenant) return false;
  return subject.kind === "gov" || (subject.problem === problem && ["delta", "round", "plan"].includes(subject.kind));
}
