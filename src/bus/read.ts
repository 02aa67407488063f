import type { NatsConnection } from "@nats-io/transport-node";
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type OrderedConsumerOptions } from "@nats-io/jetstream";
import { setTimeout as sleep } from "node:timers/promises";
import type { StreamMessage } from "../core/stream-message.ts";
import { isPermanent } from "./retry.ts";

/**
 * Reads a stream in order through an ordered consumer (one filter subject at most: nats-server
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
   * The reader's connection: when it reconnects (a link back after a cut), the read starts again
   * at once from where it was, instead of when its lost pull request would have expired.
   */
  readonly connection?: NatsConnection;
};

/** How long a read keeps trying to get going again before it gives up (the caller then stops with the reason). */
export const READ_PATIENCE_MS = 60_000;

export async function readStream(js: JetStreamClient, stream: string, options: ReadOptions = {}): Promise<StreamReader> {
  const consumerOptions = (after: number): Partial<OrderedConsumerOptions> => ({
    ...(options.filter === undefined ? {} : { filter_subjects: options.filter }),
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
  if (options.connection !== undefined) {
    void (async () => {
      for await (const status of (options.connection as NatsConnection).status()) if (status.type === "reconnect" && !stopped) current?.stop();
    })().catch(() => undefined);
  }
  return {
    stop: () => {
      stopped = true;
      current?.stop();
    },
    async *[Symbol.asyncIterator]() {
      let last = 0;
      let lastProgress = Date.now();
      while (!stopped) {
        try {
          const consumer = await js.consumers.get(stream, consumerOptions(last));
          if (untilEnd && (await consumer.info()).num_pending === 0) return;
          current = await consumer.consume({ expires: PULL_EXPIRES_MS });
          if (stopped) current.stop(); // stop() came while the consumer was being made: it had nothing to stop yet
          watchServer(current, () => lastProgress);
          for await (const m of current) {
            last = m.seq;
            lastProgress = Date.now();
            yield { subject: m.subject, seq: m.seq, data: m.data, pending: m.info.pending };
            if (untilEnd && m.info.pending === 0) {
              current.stop();
              return;
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

// Pull requests that expire every 5 s (heartbeats every 2.5 s) notice a dead server within
// seconds instead of the 30 s default.
const PULL_EXPIRES_MS = 5000;

/**
 * Ends a read whose server has gone quiet, so that it starts again elsewhere: nothing from the
 * server (a message, an idle heartbeat, a pull's expiry) for QUIET_MS. The client's own
 * missed-heartbeat notice does not always come when the server that held the consumer died.
 */
function watchServer(messages: ConsumerMessages, lastMessageAt: () => number): void {
  let lastSign = Date.now();
  const timer = setInterval(() => {
    if (Date.now() - Math.max(lastSign, lastMessageAt()) > QUIET_MS) messages.stop();
  }, 1000);
  void (async () => {
    for await (const status of messages.status()) {
      if (status.type === "heartbeat" || status.type === "debug" || status.type === "flow_control") lastSign = Date.now();
      if (status.type === "heartbeats_missed" && status.count >= 2) messages.stop();
    }
  })()
    .catch(() => undefined)
    .finally(() => clearInterval(timer));
  void messages.closed().finally(() => clearInterval(timer));
}

export const QUIET_MS = 2 * PULL_EXPIRES_MS + 1000;
