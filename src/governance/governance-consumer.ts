import type { AdmissionState } from "./admission.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { jetstreamOf } from "../bus/connection.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import { EVENTS_STREAM } from "../bus/streams.ts";
import { publishDurably } from "../bus/publish.ts";
import { envelopeBytes } from "./signed-publish.ts";
import { readStream, type StreamReader } from "../bus/read.ts";
import { retrying } from "../bus/retry.ts";
import { systemClock, type Clock } from "../core/clock.ts";
import { eventId } from "../core/event.ts";
import { decodeEvent } from "../families/registry.ts";
import { isToken } from "../core/subjects.ts";
import { availableParallelism } from "node:os";
import { decodeEnvelope } from "../core/envelope.ts";
import { publicKeyFromDid } from "./did-key.ts";
import { startVerifyPool, type VerifyItem } from "./verify-pool.ts";
import { signCheckpoint, verifierKey } from "./checkpoint.ts";
import { verifyBytes, type Identity } from "./identity.ts";
import { leavesOf } from "./ledger-source.ts";
import {
  decodeEntry,
  encodeBatch,
  encodeEntry,
  isAccepted,
  ledgerJudge,
  MAX_LEDGER_MESSAGE,
  LEDGER_CHECKPOINT_SUBJECT,
  LEDGER_ENTRY_SUBJECT,
  quarantineReason,
  splitBatch,
  type RefusedLedgerMessage,
} from "./ledger.ts";
import { MerkleLog, toHex } from "./merkle.ts";

/**
 * The governance consumer: the ledger's single writer. It reads the event stream in order and
 * gives every message a leaf (ledger.ts): an accepted event, or a refusal with its reason, for
 * which it also publishes a quarantine notice (catopt.<tenant>.quarantine.<reason>). It works
 * in batches: everything delivered until the read has nothing pending (at most `batch`
 * messages) is judged and its leaves published as one signed message (or a few, under the
 * stream's message size), its notices after. Every `every` entries or `everyMs` ms it
 * publishes a C2SP checkpoint signed by the governance identity (also the trust root).
 *
 * Exactly once across crashes: the ledger is its own cursor. On start the consumer rebuilds
 * the log from the ledger stream, reads on from the message after its last leaf (an ordered
 * read: no acknowledgements, no redeliveries out of order), and publishes the notices that a
 * crash between a batch and its notices left owed (those the stream does not hold yet).
 */
export type GovernanceOptions = {
  readonly nc: NatsConnection;
  readonly signer: Identity;
  /** The log's origin line and its checkpoint key name, e.g. "catopt.example/ledger". */
  readonly origin: string;
  readonly every?: number;
  readonly everyMs?: number;
  readonly clock?: Clock;
  /** At most this many events per batch (one ledger message); default 256. */
  readonly batch?: number;
  /** Worker threads that verify signatures; default: one per core (0: verify on the main thread). */
  readonly verifiers?: number;
  readonly onCheckpoint?: (note: string, size: number) => void;
  /** Called for each message of the ledger stream passed over while rebuilding (not ours, not a batch). */
  readonly onRefusedLedgerMessage?: (refused: RefusedLedgerMessage) => void;
};

export type GovernanceSummary = {
  readonly size: number;
  readonly root: string;
  readonly checkpoints: number;
  readonly quarantined: number;
  readonly lastCheckpoint: string | null;
  readonly vkey: string;
  readonly processedSeq: number;
  /** Ledger stream messages passed over on start. */
  readonly refusedLedgerMessages: readonly RefusedLedgerMessage[];
  /** Notices a crash had left owed, published on start. */
  readonly owedNotices: number;
};

export type GovernanceConsumer = {
  /** Resolves once every event up to `seq` of the event stream has been judged. */
  caughtUp(seq: number): Promise<void>;
  /** Publishes a checkpoint of everything so far (if anything is new) and stops; rejects with the failure if one stopped it. */
  stop(): Promise<GovernanceSummary>;
  /** Resolves with the failure that stopped the consumer (a publish that failed past every retry), if one does. */
  readonly failed: Promise<Error>;
  summary(): GovernanceSummary;
  /** The hash of every leaf so far, 32 bytes each, in order (what a recording carries to name a changed message). */
  leafHashes(): Uint8Array;
  /** Whose events count, as of the last event judged: what each party's NATS permissions derive from. */
  admission(): AdmissionState;
};

type Notice = { readonly seq: number; readonly subject: string; readonly reason: string };

export async function startGovernance(options: GovernanceOptions): Promise<GovernanceConsumer> {
  const { nc, signer, origin } = options;
  const clock = options.clock ?? systemClock;
  const every = options.every ?? 1000;
  const everyMs = options.everyMs ?? 5000;
  const js = jetstreamOf(nc);
  const vkey = verifierKey(origin, signer.publicKey);

  // Rebuild from the ledger itself: the stream is the source of truth, and the ledger the cursor.
  const log = new MerkleLog();
  const judge = ledgerJudge(signer.did);
  const refusedLedgerMessages: RefusedLedgerMessage[] = [];
  const owed = new Map<number, Notice>();
  let lastSeq = 0;
  for await (const bytes of leavesOf(js, signer.did, refusedLedgerMessages)) {
    const leaf = decodeEntry(bytes);
    log.append(bytes);
    lastSeq = leaf.seq;
    if (!isAccepted(leaf)) owed.set(leaf.seq, { seq: leaf.seq, subject: leaf.subject, reason: leaf.refused });
    else if (judge.judge(leaf.seq, leaf.subject, leaf.data) === undefined) settleNotice(owed, leaf.data, signer.did);
  }
  for (const r of refusedLedgerMessages) options.onRefusedLedgerMessage?.(r);
  // Notices published after the last batch, before a crash, are in the event stream already.
  for await (const m of await readStream(js, EVENTS_STREAM, { filter: "catopt.*.quarantine.>", fromSeq: lastSeq + 1, untilEnd: true }))
    settleNotice(owed, m.data, signer.did);

  let processedSeq = lastSeq;
  let checkpointed = log.size;
  let checkpoints = 0;
  let quarantined = 0;
  let lastCheckpoint: string | null = null;
  let lastCheckpointAt = clock();
  const waiters: { seq: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  let messages: StreamReader | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;

  const jsm = await jetstreamManager(nc);
  const publishNotice = async (notice: Notice, data: Uint8Array): Promise<void> => {
    const tenantToken = notice.subject.split(".")[1] ?? "";
    const tenant = isToken(tenantToken) ? tenantToken : "unknown";
    const reason = quarantineReason(notice.reason);
    // The copy of the message is what a tenant inspects; one too large for the ledger is left in the stream (its leaf has the digest).
    const copy = data.length <= MAX_LEDGER_MESSAGE ? data : new Uint8Array(0);
    const event = {
      schema: "quarantine/1",
      id: eventId(tenant, "quarantine", reason, notice.seq),
      tenant,
      problem: "quarantine",
      round: 0,
      base: -1,
      body: { seq: notice.seq, subject: notice.subject, reason: notice.reason, data: copy },
    } as const;
    await publishDurably(js, `catopt.${tenant}.quarantine.${reason}`, envelopeBytes(event, signer), { msgID: event.id });
    quarantined++;
  };
  for (const notice of owed.values()) {
    const stored = await retrying(() => jsm.streams.getMessage(EVENTS_STREAM, { seq: notice.seq }));
    await publishNotice(notice, stored?.data ?? new Uint8Array(0));
  }
  const owedNotices = owed.size;
  owed.clear();

  // One queue for every publish: entries, notices and checkpoints never interleave. The first
  // failure (a server gone past every retry) stops it for good: a batch after a failed one would
  // leave the failed one's messages in no leaf. A restarted consumer resumes from the ledger.
  let failure: Error | undefined;
  let onFailure: (err: Error) => void = () => {};
  const failed = new Promise<Error>((resolve) => (onFailure = resolve));
  const fail = (err: unknown): void => {
    if (failure !== undefined) return;
    failure = err instanceof Error ? err : new Error(String(err));
    messages?.stop();
    clearInterval(ticker); // nothing more will be checkpointed: let the process end
    void pool?.close();
    for (const w of waiters.splice(0)) w.reject(failure);
    onFailure(failure);
  };
  let serial: Promise<unknown> = Promise.resolve();
  const inOrder = <T>(work: () => Promise<T>): Promise<T> => {
    const next = serial.then(() => {
      if (failure !== undefined) throw failure;
      return work();
    });
    next.catch(fail);
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

  /** Judges a batch, publishes its leaves (one signed message, or a few) and then its notices, then checkpoints if due. */
  const flush = async (batch: readonly Delivered[], verdicts: Promise<(boolean | undefined)[]>): Promise<void> => {
    const leaves: Uint8Array[] = [];
    const notices: { notice: Notice; data: Uint8Array }[] = [];
    const signatures = await verdicts;
    for (const [i, { seq, subject, data }] of batch.entries()) {
      if (seq <= lastSeq) continue; // a read that started again delivers nothing twice, but the ledger is the judge
      const leaf = judge.leaf(log.size + leaves.length, seq, subject, data, signatures[i]);
      lastSeq = seq;
      leaves.push(encodeEntry(leaf));
      if (!isAccepted(leaf)) notices.push({ notice: { seq, subject: leaf.subject, reason: leaf.refused }, data });
    }
    for (const group of splitBatch(leaves)) {
      await publishDurably(js, LEDGER_ENTRY_SUBJECT, encodeBatch(group, signer), { msgID: `leaves-${log.size}` });
      for (const e of group) log.append(e);
    }
    for (const { notice, data } of notices) await publishNotice(notice, data);
    processedSeq = Math.max(processedSeq, lastSeq);
    if (log.size - checkpointed >= every || clock() - lastCheckpointAt >= everyMs) await checkpoint();
    for (const w of waiters.filter((w) => w.seq <= processedSeq)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };

  const batchLimit = options.batch ?? 256;
  messages = await readStream(js, EVENTS_STREAM, { fromSeq: lastSeq + 1, connection: nc });
  const reader = messages;
  // Batches are pipelined: the next batches' signatures are verified on the pool while the
  // current one is judged and published, so the workers never wait for the main thread.
  const pipelineDepth = 4;
  const loop = (async () => {
    let batch: Delivered[] = [];
    const inFlight: Promise<void>[] = [];
    for await (const m of reader) {
      batch.push({ seq: m.seq, subject: m.subject, data: m.data });
      if (batch.length < batchLimit && m.pending > 0) continue;
      const done = batch;
      batch = [];
      const verdicts = preverify(done);
      verdicts.catch(() => undefined); // awaited by flush, which reports a failure
      const flushed = inOrder(() => flush(done, verdicts));
      flushed.catch(() => undefined); // its failure surfaces where it is awaited, not as an unhandled rejection
      inFlight.push(flushed);
      if (inFlight.length >= pipelineDepth) await inFlight.shift();
    }
    await Promise.all(inFlight);
  })().catch(fail);
  ticker = setInterval(
    () => {
      if (clock() - lastCheckpointAt >= everyMs) inOrder(checkpoint).catch(() => undefined); // a failure is latched by inOrder
    },
    Math.min(1000, everyMs),
  );

  const summary = (): GovernanceSummary => ({
    size: log.size,
    root: toHex(log.root()),
    checkpoints,
    quarantined,
    lastCheckpoint,
    vkey,
    processedSeq,
    refusedLedgerMessages,
    owedNotices,
  });
  return {
    summary,
    leafHashes: () => Buffer.concat(Array.from({ length: log.size }, (_, i) => log.leaf(i))),
    admission: () => judge.admission(),
    caughtUp: (seq) =>
      failure !== undefined
        ? Promise.reject(failure)
        : seq <= processedSeq
          ? Promise.resolve()
          : new Promise((resolve, reject) => waiters.push({ seq, resolve, reject })),
    failed,
    stop: async () => {
      clearInterval(ticker);
      reader.stop();
      await loop;
      try {
        await inOrder(checkpoint);
      } finally {
        await pool?.close();
      }
      return summary();
    },
  };
}

/** A notice of ours in the stream pays what a refusal leaf owed. */
function settleNotice(owed: Map<number, Notice>, data: Uint8Array, governance: string): void {
  try {
    const envelope = decodeEnvelope(data);
    if (envelope.author !== governance || !verifyBytes(governance, envelope.event, envelope.sig)) return; // a forged notice settles nothing
    const event = decodeEvent(envelope.event);
    if (event.schema === "quarantine/1") owed.delete(event.body.seq);
  } catch {
    // not a notice of ours: the ledger judges it like any other message
  }
}
