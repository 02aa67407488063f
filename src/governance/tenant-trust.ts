import type { JetStreamClient } from "@nats-io/jetstream";
import { readStream } from "../bus/read.ts";
import { EVENTS_STREAM } from "../bus/streams.ts";
import { governanceSubject } from "../core/subjects.ts";
import type { ParsedSubject } from "../core/subjects.ts";
import { applyGovernance, emptyAdmission, isGovernanceEvent, signerProblem, verifyMessage, type AdmissionState } from "./admission.ts";

/**
 * Who may say what in one tenant, for a reader that is not a fold (an agent deciding whose
 * plans steer it, `catopt watch` deciding what to print): the admissions of the pinned trust
 * root (the governance DID), folded from the tenant's governance events exactly as the
 * coordinator's fold and replay do. A signer it does not know makes its reader `refresh` (read
 * the governance events published since), so a signer admitted after the reader started counts,
 * and a revoked one stops counting, in stream order.
 */
export type TenantTrust = {
  isCoordinator(did: string): boolean;
  /** Why `author` may not publish on this subject, or undefined when it may (admission.ts). */
  problem(subject: ParsedSubject, author: string): string | undefined;
  /** Folds the governance events published since the last read. */
  refresh(): Promise<void>;
};

export async function tenantTrust(js: JetStreamClient, tenant: string, trustRoot: string): Promise<TenantTrust> {
  let admission: AdmissionState = emptyAdmission(trustRoot);
  let nextSeq = 1;
  const refresh = async (): Promise<void> => {
    for await (const m of await readStream(js, EVENTS_STREAM, { filter: governanceSubject(tenant, ">"), fromSeq: nextSeq, untilEnd: true })) {
      nextSeq = m.seq + 1;
      try {
        const { event, author } = verifyMessage(m.data);
        if (isGovernanceEvent(event) && event.tenant === tenant) admission = applyGovernance(admission, event, author, m.seq);
      } catch {
        // refused governance events change nothing: the ledger quarantines them
      }
    }
  };
  await refresh();
  return {
    isCoordinator: (did) => admission.admitted[tenant]?.[did]?.role === "coordinator" && admission.revoked[tenant]?.[did] === undefined,
    problem: (subject, author) => signerProblem(admission, subject, author),
    refresh,
  };
}
