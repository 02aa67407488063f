import type { NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy,
  DeliverPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type PushConsumer,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { StreamMessage } from "../core/stream-message.ts";
import { isPermanent, retrying } from "./retry.ts";

/**
 * Reads a stream in order through a consumer of its own (one filter subject at most: nats-server
 * 2.9 takes no more). `untilEnd` stops at the last message present when the read started,
 * for replay; without it the read follows the stream live until `stop()`, through server
 * failures: a read that breaks off starts again after the last message it delivered.
 */
export type StreamReader<M extends StreamMessage = ReadMessage> = AsyncIterable<M> & { stop(): void };

/** A message as read, with how many more the stream held for this read when it came. */
export type ReadMessage = StreamMessage & { readonly pending: number };

export type ReadOptions = {
  readonly filter?: string;
  readonly untilEnd?: boolean;
  /** Only messages stored from now on (a live subscription), instead of from the start. */
  readonly onlyNew?: boolean;
  /** From this stream sequence on (a reader that already folded what came before). */
  readonly fromSeq?: number;
  /**
   * The reader's connection: when it reconnects (a link back after a cut, a renewed credential),
   * the read starts again at once after its last message, since what its consumer pushed
   * meanwhile is lost.
   */
  readonly connection?: NatsConnection;
};

/** How long a read keeps trying to get going again before it gives up (the caller then stops with the reason). */
export const READ_PATIENCE_MS = 60_000;

export async function readStream(js: JetStreamClient, stream: string, options: ReadOptions = {}): Promise<StreamReader> {
  const consumerOptions = (after: number): Partial<ConsumerConfig> => ({
    ...(after > 0
      ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 }
      : options.fromSeq !== undefined
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: options.fromSeq }
        : options.onlyNew === true
          ? { deliver_policy: DeliverPolicy.New }
          : {}),
  });
  const untilEnd = options.untilEnd === true;
  let stopped = false;
  let current: ConsumerMessages | undefined;
  let read: OrderedRead | undefined;
  if (options.connection !== undefined) {
    void (async () => {
      for await (const status of (options.connection as NatsConnection).status()) {
        if (stopped) break;
        if (status.type === "reconnect") current?.stop();
      }
    })().catch(() => undefined);
  }
  return {
    stop: () => {
      stopped = true;
      current?.stop();
      read?.drop();
    },
    async *[Symbol.asyncIterator]() {
      let last = 0;
      let lastProgress = Date.now();
      while (!stopped) {
        try {
          read?.drop();
          read = await orderedRead(js, stream, options.filter, consumerOptions(last));
          if (stopped) return read.drop(); // stop() came while the consumer was being made
          // Only new messages: from where the first consumer began, should it break off before its first message.
          if (last === 0 && options.onlyNew === true) last = read.startedAfter;
          if (untilEnd && read.pending === 0) return read.drop();
          current = await read.consumer.consume();
          if (stopped) current.stop(); // stop() came while the consumer was being made: it had nothing to stop yet
          lastProgress = Date.now(); // going again: patience counts from the next break
          let delivered = 0;
          watchServer(
            current,
            () => lastProgress,
            () => delivered,
            () => stopped,
          );
          for await (const m of current) {
            // A message lost on the way (a slow reader's drop) leaves a gap: start again after the last one.
            if (m.info.deliverySequence !== ++delivered) break;
            last = m.seq;
            lastProgress = Date.now();
            yield { subject: m.subject, seq: m.seq, data: m.data, pending: m.info.pending };
            if (untilEnd && m.info.pending === 0) {
              current.stop();
              return read.drop();
            }
          }
        } catch (err) {
          if (!(err instanceof Error) || isPermanent(err) || Date.now() - lastProgress > READ_PATIENCE_MS) throw err;
        }
        if (!stopped) await sleep(250); // broke off: go on after the last message delivered
      }
    },
  };
}

/** A consumer made for one read: what it holds for the reader when made, and how to remove it. */
type OrderedRead = { readonly consumer: PushConsumer; readonly pending: number; readonly startedAfter: number; drop(): void };

/**
 * A consumer that delivers in order into the reader's own inbox, made by its create request
 * alone. Not nats.js's ordered consumers: they first ask for the stream's info, a right only
 * governance and auditors have (it can list every subject with its count). A push consumer,
 * because pulling (MSG.NEXT) is a right that would let a party pull through anyone's consumer
 * whose name it knows; messages pushed to an inbox reach only the inbox's owner. A random
 * name; without acks it is an in-order read (flow control keeps the server from running
 * ahead), and the server removes it after five idle minutes should its reader vanish.
 */
async function orderedRead(js: JetStreamClient, stream: string, filter: string | undefined, start: Partial<ConsumerConfig>): Promise<OrderedRead> {
  const name = randomBytes(12).toString("hex");
  const config: Partial<ConsumerConfig> = {
    name,
    ...(filter === undefined ? {} : { filter_subject: filter }),
    ...start,
    deliver_subject: `${js.getOptions().watcherPrefix ?? "_INBOX"}.${name}`,
    ack_policy: AckPolicy.None,
    max_deliver: 1,
    mem_storage: true,
    num_replicas: 1,
    flow_control: true,
    idle_heartbeat: nanos(HEARTBEAT_MS),
    inactive_threshold: nanos(5 * 60_000),
  };
  const jsm = await managerOf(js);
  const info = await jsm.consumers.add(stream, config);
  let dropped = false;
  return {
    consumer: await js.consumers.getBoundPushConsumer({ ...info.config, deliver_subject: info.config.deliver_subject ?? "" }),
    pending: info.num_pending,
    startedAfter: info.delivered.stream_seq,
    drop: () => {
      if (dropped) return;
      dropped = true;
      void jsm.consumers.delete(stream, name).catch(() => undefined);
    },
  };
}

/** The first message of a one-off read (undefined: none yet). */
async function firstOf(js: JetStreamClient, stream: string, filter: string, start: Partial<ConsumerConfig>): Promise<StreamMessage | undefined> {
  const read = await orderedRead(js, stream, filter, start);
  try {
    if (read.pending === 0) return undefined;
    const messages = await read.consumer.consume();
    const timer = setTimeout(() => messages.stop(), QUIET_MS);
    try {
      for await (const m of messages) return { subject: m.subject, seq: m.seq, data: m.data };
    } finally {
      clearTimeout(timer);
      messages.stop();
    }
    throw new Error(`no message on ${filter} came back within ${QUIET_MS} ms`);
  } finally {
    read.drop();
  }
}

const managers = new WeakMap<JetStreamClient, Promise<JetStreamManager>>();

/** The client's manager, without its account-info check (a right few parties have). */
export function managerOf(js: JetStreamClient): Promise<JetStreamManager> {
  let jsm = managers.get(js);
  if (jsm === undefined) {
    jsm = js.jetstreamManager(false);
    managers.set(js, jsm);
  }
  return jsm;
}

// Heartbeats every 2.5 s from an idle consumer notice a dead server within seconds instead of
// the 30 s default.
const HEARTBEAT_MS = 2500;

/**
 * Ends a read that lost messages or whose server has gone quiet, so that it starts again after
 * its last message (elsewhere, on a cluster). Lost: what a consumer pushed while its reader was
 * away (a reconnect: a cut link, a renewed credential) is gone, and the next idle heartbeat says
 * how many it pushed; a second look a moment later tells a loss from messages still queued here.
 * Quiet: nothing from the server (a message, a heartbeat, a flow-control request) for QUIET_MS;
 * the client's own missed-heartbeat notice does not always come when the server that held the
 * consumer died.
 */
function watchServer(messages: ConsumerMessages, lastMessageAt: () => number, delivered: () => number, stopped: () => boolean): void {
  let lastSign = Date.now();
  const timer = setInterval(() => {
    // A reader stopped while nobody iterates it (its last message taken by hand, not by a loop) never sees its consumer close: nothing keeps the process.
    if (stopped()) clearInterval(timer);
    else if (Date.now() - Math.max(lastSign, lastMessageAt()) > QUIET_MS) messages.stop();
  }, 1000);
  void (async () => {
    for await (const status of messages.status()) {
      if (status.type === "heartbeat" || status.type === "debug" || status.type === "flow_control") lastSign = Date.now();
      if (status.type === "heartbeat" && status.lastConsumerSequence > delivered()) {
        const pushed = status.lastConsumerSequence;
        setTimeout(() => pushed > delivered() && messages.stop(), LOSS_CHECK_MS).unref();
      }
      if (status.type === "heartbeats_missed" && status.count >= 2) messages.stop();
    }
  })()
    .catch(() => undefined)
    .finally(() => clearInterval(timer));
  void messages.closed().finally(() => clearInterval(timer));
}

export const QUIET_MS = 4 * HEARTBEAT_MS + 1000;
const LOSS_CHECK_MS = 500;

/**
 * The stream sequence of the last message on `filter` (0: none yet), read through a consumer,
 * the only read a party without the right to the stream's info has (that info can list every
 * subject with its count).
 */
export async function lastSeqOf(js: JetStreamClient, stream: string, filter: string): Promise<number> {
  return retrying(async () => {
    return (await firstOf(js, stream, filter, { deliver_policy: DeliverPolicy.Last }))?.seq ?? 0;
  });
}

/**
 * The message at `seq` if it is on `subject` (undefined otherwise), read through a consumer on
 * that subject: getting a message by sequence is a right only governance and auditors have.
 */
export async function messageAt(js: JetStreamClient, stream: string, subject: string, seq: number): Promise<StreamMessage | undefined> {
  return retrying(async () => {
    const first = await firstOf(js, stream, subject, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: seq });
    return first?.seq === seq ? first : undefined;
  });
}

/**
 * Several filters read as one (nats-server 2.9 takes one filter a consumer): what the stream
 * holds on them now, in stream order, and a live read of each from after it. The held part
 * ends at the last message any of the filters had when the read began: every message up to it
 * was stored by then, so the reads that follow miss none, and the live reads start after it.
 * Live messages come as each filter delivers them, not necessarily in stream order.
 */
export async function readFilters(
  js: JetStreamClient,
  stream: string,
  filters: readonly string[],
  connection?: NatsConnection,
): Promise<{ readonly held: readonly StreamMessage[]; live(): Promise<StreamReader> }> {
  let end = 0;
  for (const filter of filters) end = Math.max(end, await lastSeqOf(js, stream, filter));
  const held: StreamMessage[] = [];
  for (const filter of filters) {
    for await (const m of await readStream(js, stream, { filter, untilEnd: true })) if (m.seq <= end) held.push(m);
  }
  held.sort((a, b) => a.seq - b.seq);
  return {
    held,
    live: async () =>
      mergeLive(
        await Promise.all(filters.map((filter) => readStream(js, stream, { filter, fromSeq: end + 1, ...(connection === undefined ? {} : { connection }) }))),
      ),
  };
}

/** The messages of several live reads, as they come. */
function mergeLive(readers: readonly StreamReader[]): StreamReader {
  return {
    stop: () => {
      for (const reader of readers) reader.stop();
    },
    async *[Symbol.asyncIterator]() {
      const iterators = readers.map((r) => r[Symbol.asyncIterator]());
      const pull = (i: number) => iterators[i].next().then((result) => ({ i, result }));
      const pending = new Map(iterators.map((_, i) => [i, pull(i)]));
      while (pending.size > 0) {
        const { i, result } = await Promise.race(pending.values());
        if (result.done === true) {
          pending.delete(i);
          continue;
        }
        pending.set(i, pull(i));
        yield result.value;
      }
    },
  };
}
