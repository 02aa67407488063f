import { parseSubject } from "../core/subjects.ts";
import type { StreamMessage } from "../core/stream-message.ts";

/**
 * Whether a message belongs to a problem's fold: its own events (delta, round and plan
 * subjects) and its tenant's governance events, which decide whose events count. A cluster
 * problem also publishes tenant plans in its jobs' tenants (`planTenants`): their plan subjects
 * for this problem, and their governance events (which admit the coordinator there), count too.
 */
export function belongsTo(message: Pick<StreamMessage, "subject">, tenant: string, problem: string, planTenants: readonly string[] = []): boolean {
  const subject = parseSubject(message.subject);
  if (subject === undefined) return false;
  if (subject.tenant !== tenant)
    return planTenants.includes(subject.tenant) && (subject.kind === "gov" || (subject.kind === "plan" && subject.problem === problem));
  return subject.kind === "gov" || (subject.problem === problem && ["delta", "round", "plan"].includes(subject.kind));
}
