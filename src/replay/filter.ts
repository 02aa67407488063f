import { parseSubject } from "../core/subjects.ts";
import type { StreamMessage } from "./reducer.ts";

/** Whether a message is one of the problem's own events (delta, round or plan subjects). */
export function belongsTo(message: Pick<StreamMessage, "subject">, tenant: string, problem: string): boolean {
  const subject = parseSubject(message.subject);
  return subject !== undefined && subject.tenant === tenant && subject.problem === problem && ["delta", "round", "plan"].includes(subject.kind);
}
