import type { JetStreamClient } from "@nats-io/jetstream";
import { lastSeqOf, readStream, type StreamReader } from "../bus/read.ts";
import { EVENTS_STREAM } from "../bus/streams.ts";
import { governanceSubject, type ParsedSubject } from "../core/subjects.ts";
import { decodeEnvelope } from "../core/envelope.ts";
import type { StreamMessage } from "../core/stream-message.ts";
import { applyGovernance, emptyAdmission, isGovernanceEvent, signerProblem, verifyMessage, type AdmissionState } from "./admission.ts";

/**
 * Who may say what in one tenant, for a reader that is not a fold (an agent deciding whose
 * plans steer it, `catopt watch` deciding what to print): the admissions of the pinned trust
 * root (the governance DID), folded from the tenant's governance events exactly as the
 * coordinator's fold and replay do, and followed live, so a revocation counts as it lands.
 * A message whose signer it does not know, from past what it has read, makes its reader
 * `catchUp` first: the admission of a signer comes before the signer's message in the stream,
 * so nothing is refused for arriving just after its admission, and a flood of strangers costs
 * one read per delivery, not one per message: a catch-up covers every message of the reader's
 * own filter (`readerFilter`) that the stream held when it began.
 */
export type TenantTrust = {
  isCoordinator(did: string): boolean;
  /** Why `author` may not publish on this subject, or undefined when it may (admission.ts). */
  problem(subject: ParsedSubject, author: string): string | undefined;
  /** Before judging `message` by an unknown signer: reads the governance events up to it, if not read yet. */
  catchUp(message: StreamMessage): Promise<void>;
  /** Reads the governance events up to `message`, whoever signed it (an open, judged against the grant that came before it). */
  upTo(message: StreamMessage): Promise<void>;
  /** What governance granted `problem` of the tenant's privacy budget (privacy-grant/1), as zCDP rho, and the budget's delta. */
  privacyGrant(problem: string): { readonly rho: number; readonly delta: number } | undefined;
  close(): void;
};

export async function tenantTrust(js: JetStreamClient, tenant: string, trustRoot: string, readerFilter?: string): Promise<TenantTrust> {
  let admission: AdmissionState = emptyAdmission(trustRoot);
  let nextSeq = 1; // the next governance message to fold
  let coveredSeq = 0; // every governance message up to this stream sequence is folded
  const filter = governanceSubject(tenant, ">");
  const fold = (m: StreamMessage): void => {
    if (m.seq < nextSeq) return; // the live read and a catch-up may both deliver it
    nextSeq = m.seq + 1;
    coveredSeq = Math.max(coveredSeq, m.seq);
    try {
      const { event, author } = verifyMessage(m.data);
      if (isGovernanceEvent(event) && event.tenant === tenant) admission = applyGovernance(admission, event, author, m.seq);
    } catch {
      // refused governance events change nothing: the ledger quarantines them
    }
  };
  const readUp = async (): Promise<void> => {
    const end = await lastSeqOf(js, EVENTS_STREAM, readerFilter ?? filter);
    for await (const m of await readStream(js, EVENTS_STREAM, { filter, fromSeq: nextSeq, untilEnd: true })) fold(m);
    coveredSeq = Math.max(coveredSeq, end);
  };
  await readUp();
  let live: StreamReader | undefined = await readStream(js, EVENTS_STREAM, { filter, fromSeq: nextSeq });
  void (async () => {
    for await (const m of live ?? []) fold(m);
  })().catch(() => undefined); // a live read that fails leaves catchUp to read on demand
  const known = (did: string) => admission.admitted[tenant]?.[did] !== undefined;
  return {
    isCoordinator: (did) => admission.admitted[tenant]?.[did]?.role === "coordinator" && admission.revoked[tenant]?.[did] === undefined,
    problem: (subject, author) => signerProblem(admission, subject, author),
    catchUp: async (message) => {
      // Only the author it claims: its reader verifies the signature (once) when it judges it.
      let author: string;
      try {
        author = decodeEnvelope(message.data).author;
      } catch {
        return; // unreadable: its reader refuses it
      }
      if (!known(author) && message.seq > coveredSeq) {
        await readUp();
        // Every governance message before this one was stored before it, so that read had them all.
        coveredSeq = Math.max(coveredSeq, message.seq);
      }
    },
    upTo: async (message) => {
      if (message.seq <= coveredSeq) return;
      await readUp();
      coveredSeq = Math.max(coveredSeq, message.seq);
    },
    privacyGrant: (problem) => {
      const budget = admission.budgets?.[tenant];
      const rho = budget?.grants[problem];
      return budget === undefined || rho === undefined ? undefined : { rho, delta: budget.delta };
    },
    close: () => {
      live?.stop();
      live = undefined;
    },
  };
}
