import { AckPolicy, DeliverPolicy, JetStreamApiError, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { EVENTS_STREAM } from "../bus/streams.ts";
import { envelopeBytes, publishDurably } from "../bus/publish.ts";
import { readToEnd } from "../replay/replay.ts";
import { systemClock, type Clock } from "../core/clock.ts";
import { eventId } from "../core/event.ts";
import { parseSubject } from "../core/subjects.ts";
import { availableParallelism } from "node:os";
import { decodeEnvelope } from "../core/envelope.ts";
import { emptyAdmission, type AdmissionState } from "./admission.ts";
import { publicKeyFromDid } from "./did-key.ts";
import { startVerifyPool, type VerifyItem } from "./verify-pool.ts";
import { signCheckpoint, verifierKey } from "./checkpoint.ts";
import type { Identity } from "./identity.ts";
import { decodeBatch, decodeEntry, encodeBatch, encodeEntry, judge, LEDGER_CHECKPOINT_SUBJECT, LEDGER_ENTRY_SUBJECT, LEDGER_STREAM, quarantineReason, splitBatch } from "./ledger.ts";
import { MerkleLog, toHex } from "./merkle.ts";

/**
 * The governance consumer: the ledger's single writer. A durable consumer reads the event
 * stream in order; each event that is validly signed by an admitted signer becomes the next
 * ledger entry, each other one a quarantine notice (catopt.<tenant>.quarantine.<reason>) with
 * its reason. It works in batches: everything delivered until the consumer has nothing
 * pending (at most `batch` events) is judged, its entries published as one message (or a few,
 * under the stream's message size), its
 * notices after, and only then is the batch acknowledged (AckPolicy.All: the last ack covers it). Every `every` entries or `everyMs` ms it
 * publishes a C2SP checkpoint signed by the governance identity (also the trust root).
 * On start it rebuilds the log from the ledger stream and skips events already in it, so a
 * restart neither loses nor duplicates an entry, whatever the server's duplicate window.
 */
export type GovernanceOptions = {
  readonly nc: NatsConnection;
  readonly signer: Identity;
  /** The log's origin line and its checkpoint key name, e.g. "catopt.example/ledger". */
  readonly origin: string;
  readonly every?: number;
  readonly everyMs?: number;
  readonly clock?: Clock;
  readonly durable?: string;
  /** At most this many events per batch (one ledger message); default 256. */
  readonly batch?: number;
  /** Worker threads that verify signatures; default: one per core (0: verify on the main thread). */
  readonly verifiers?: number;
  readonly onCheckpoint?: (note: string, size: number) => void;
};

export type GovernanceSummary = {
  readonly size: number;
  readonly root: string;
  readonly checkpoints: number;
  readonly quarantined: number;
  readonly lastCheckpoint: string | null;
  readonly vkey: string;
  readonly processedSeq: number;
};

export type GovernanceConsumer = {
  /** Resolves once every event up to `seq` of the event stream has been judged. */
  caughtUp(seq: number): Promise<void>;
  /** Publishes a checkpoint of everything so far (if anything is new) and stops. */
  stop(): Promise<GovernanceSummary>;
  summary(): GovernanceSummary;
};

export const GOVERNANCE_DURABLE = "catopt-governance";

export async function startGovernance(options: GovernanceOptions): Promise<GovernanceConsumer> {
  const { nc, signer, origin } = options;
  const clock = options.clock ?? systemClock;
  const every = options.every ?? 1000;
  const everyMs = options.everyMs ?? 5000;
  const js = jetstream(nc);
  const vkey = verifierKey(origin, signer.publicKey);

  // Rebuild from the ledger itself: the stream is the source of truth.
  const log = new MerkleLog();
  let admission: AdmissionState = emptyAdmission(signer.did);
  let lastSeq = 0;
  for (const m of await readToEnd(js, LEDGER_STREAM, { filter: LEDGER_ENTRY_SUBJECT })) {
    for (const bytes of decodeBatch(m.data)) {
      const entry = decodeEntry(bytes);
      log.append(bytes);
      admission = judge(admission, entry.seq, entry.subject, entry.data).admission;
      lastSeq = entry.seq;
    }
  }
  let processedSeq = lastSeq;
  let checkpointed = log.size;
  let checkpoints = 0;
  let quarantined = 0;
  let lastCheckpoint: string | null = null;
  let lastCheckpointAt = clock();
  const waiters: { seq: number; resolve: () => void }[] = [];

  // One queue for every publish: entries, notices and checkpoints never interleave.
  let serial: Promise<unknown> = Promise.resolve();
  const inOrder = <T>(work: () => Promise<T>): Promise<T> => {
    const next = serial.then(work);
    serial = next.catch(() => undefined);
    return next;
  };

  const checkpoint = async (): Promise<void> => {
    if (log.size === checkpointed) return;
    const note = signCheckpoint({ origin, size: log.size, root: log.root() }, origin, signer);
    await publishDurably(js, LEDGER_CHECKPOINT_SUBJECT, new TextEncoder().encode(note), { msgID: `checkpoint-${log.size}` });
    [checkpointed, lastCheckpoint, lastCheckpointAt] = [log.size, note, clock()];
    checkpoints++;
    options.onCheckpoint?.(note, log.size);
  };

  type Delivered = { readonly seq: number; readonly subject: string; readonly data: Uint8Array };

  const pool = (options.verifiers ?? availableParallelism()) > 0 ? startVerifyPool(options.verifiers) : undefined;

  /** Signature verdicts for a batch, reached in parallel; undefined where the message cannot even be read (judge says why). */
  const preverify = async (batch: readonly Delivered[]): Promise<(boolean | undefined)[]> => {
    if (pool === undefined) return batch.map(() => undefined);
    const items: VerifyItem[] = [];
    const at = batch.map(({ data }) => {
      try {
        const envelope = decodeEnvelope(data);
        if (envelope.sig.length !== 64) return -1;
        items.push({ key: publicKeyFromDid(envelope.author), data: envelope.event, sig: envelope.sig });
        return items.length - 1;
      } catch {
        return -1;
      }
    });
    const results = await pool.verify(items);
    return at.map((i) => (i < 0 ? undefined : results[i]));
  };

  /** Judges a batch, publishes its entries (one message) and notices, then checkpoints if due. */
  const flush = async (batch: readonly Delivered[], verdicts: Promise<(boolean | undefined)[]>): Promise<void> => {
    const entries: Uint8Array[] = [];
    const notices: (() => Promise<unknown>)[] = [];
    const signatures = await verdicts;
    for (const [i, { seq, subject, data }] of batch.entries()) {
      if (seq <= lastSeq || parseSubject(subject)?.kind === "quarantine") continue; // already in the ledger, or our own notice
      const verdict = judge(admission, seq, subject, data, signatures[i]);
      admission = verdict.admission;
      lastSeq = seq;
      if (verdict.refused === undefined) {
        entries.push(encodeEntry({ index: log.size + entries.length, seq, subject, data }));
        continue;
      }
      const tenant = subject.split(".")[1] ?? "unknown";
      const reason = quarantineReason(verdict.refused);
      const notice = { schema: "quarantine/1", id: eventId(tenant, "quarantine", reason, seq), tenant, problem: "quarantine", round: 0, base: -1, body: { seq, subject, reason: verdict.refused, data } } as const;
      notices.push(() => publishDurably(js, `catopt.${tenant}.quarantine.${reason}`, envelopeBytes(notice, signer), { msgID: notice.id }));
    }
    for (const group of splitBatch(entries)) {
      await publishDurably(js, LEDGER_ENTRY_SUBJECT, encodeBatch(group), { msgID: `entries-${log.size}` });
      for (const e of group) log.append(e);
    }
    for (const publish of notices) await publish();
    quarantined += notices.length;
    processedSeq = Math.max(processedSeq, batch[batch.length - 1]?.seq ?? 0);
    if (log.size - checkpointed >= every || clock() - lastCheckpointAt >= everyMs) await checkpoint();
    for (const w of waiters.filter((w) => w.seq <= processedSeq)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };

  const consumer = await durableConsumer(nc, options.durable ?? GOVERNANCE_DURABLE);
  const batchLimit = options.batch ?? 256;
  const messages = await consumer.consume({ max_messages: Math.max(256, batchLimit) });
  // Batches are pipelined: the next batches' signatures are verified on the pool while the
  // current one is judged and published, so the workers never wait for the main thread.
  const pipelineDepth = 4;
  const loop = (async () => {
    let batch: Delivered[] = [];
    const inFlight: Promise<void>[] = [];
    for await (const m of messages) {
      batch.push({ seq: m.seq, subject: m.subject, data: m.data });
      if (batch.length < batchLimit && m.info.pending > 0) continue;
      const done = batch;
      batch = [];
      const verdicts = preverify(done);
      verdicts.catch(() => undefined); // awaited by flush, which reports a failure
      const flushed = inOrder(() => flush(done, verdicts)).then(() => m.ack()); // AckPolicy.All: acknowledges the whole batch
      flushed.catch(() => undefined); // its failure surfaces where it is awaited, not as an unhandled rejection
      inFlight.push(flushed);
      if (inFlight.length >= pipelineDepth) await inFlight.shift();
    }
    await Promise.all(inFlight);
  })();
  const ticker = setInterval(() => {
    if (clock() - lastCheckpointAt >= everyMs) void inOrder(checkpoint);
  }, Math.min(1000, everyMs));

  const summary = (): GovernanceSummary => ({ size: log.size, root: toHex(log.root()), checkpoints, quarantined, lastCheckpoint, vkey, processedSeq });
  return {
    summary,
    caughtUp: (seq) => (seq <= processedSeq ? Promise.resolve() : new Promise((resolve) => waiters.push({ seq, resolve }))),
    stop: async () => {
      clearInterval(ticker);
      messages.stop();
      await loop;
      await inOrder(checkpoint);
      await pool?.close();
      return summary();
    },
  };
}

async function durableConsumer(nc: NatsConnection, durable: string) {
  const jsm = await jetstreamManager(nc);
  const exists = await jsm.consumers.info(EVENTS_STREAM, durable).then(
    () => true,
    (err: unknown) => {
      if (err instanceof JetStreamApiError && err.code === 10014) return false; // consumer not found
      throw err;
    },
  );
  if (!exists) {
    await jsm.consumers.add(EVENTS_STREAM, { durable_name: durable, ack_policy: AckPolicy.All, deliver_policy: DeliverPolicy.All, max_ack_pending: 4096 });
  }
  return jetstream(nc).consumers.get(EVENTS_STREAM, durable);
}

