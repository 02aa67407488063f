import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";
import type { StreamMessage } from "../replay/reducer.ts";

/**
 * Reads a stream in order through an ordered consumer (one filter subject at most: nats-server
 * 2.9 takes no more). `untilEnd` stops at the last message present when the read started,
 * for replay; without it the read follows the stream live until `stop()`.
 */
export type StreamReader = AsyncIterable<StreamMessage> & { stop(): void };

export type ReadOptions = {
  readonly filter?: string;
  readonly untilEnd?: boolean;
  /** Only messages stored from now on (a live subscription), instead of from the start. */
  readonly onlyNew?: boolean;
  /** From this stream sequence on (a reader that already folded what came before). */
  readonly fromSeq?: number;
};

export async function readStream(js: JetStreamClient, stream: string, options: ReadOptions = {}): Promise<StreamReader> {
  const consumer = await js.consumers.get(stream, {
    ...(options.filter === undefined ? {} : { filter_subjects: options.filter }),
    ...(options.onlyNew === true ? { deliver_policy: DeliverPolicy.New } : {}),
    ...(options.fromSeq === undefined ? {} : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: options.fromSeq }),
  });
  const empty = options.untilEnd === true && (await consumer.info()).num_pending === 0;
  const messages = empty ? undefined : await consumer.consume();
  return {
    stop: () => void messages?.stop(),
    async *[Symbol.asyncIterator]() {
      if (messages === undefined) return;
      for await (const m of messages) {
        yield { subject: m.subject, seq: m.seq, data: m.data };
        if (options.untilEnd === true && m.info.pending === 0) break;
      }
      messages.stop();
    },
  };
}
