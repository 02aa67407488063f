import type { JetStreamClient } from "@nats-io/jetstream";
import { readStream } from "../bus/read.ts";
import { belongsTo } from "./filter.ts";
import { apply, emptyReplayState, type ReplayState, type StreamMessage } from "./reducer.ts";

/**
 * Rebuilds state offline by folding messages through the reducer: from a recording, or from a
 * live stream read to its current end with an ordered consumer. With a problem filter, only
 * that problem's messages and its tenant's governance events count (the coordinator folds
 * exactly those). `trustRoot` is the governance DID whose admissions decide whose events count.
 */
export type ProblemFilter = { readonly tenant: string; readonly problem: string };

export function replayMessages(messages: Iterable<StreamMessage>, trustRoot: string | null, filter?: ProblemFilter): ReplayState {
  let state = emptyReplayState(trustRoot);
  for (const message of messages) {
    if (filter === undefined || belongsTo(message, filter.tenant, filter.problem)) state = apply(state, message);
  }
  return state;
}

/** Reads a stream from its start to its end as of now; reports progress every `every` messages. */
export async function readToEnd(
  js: JetStreamClient,
  stream: string,
  options: { filter?: string; onProgress?: (read: number) => void; every?: number } = {},
): Promise<StreamMessage[]> {
  const messages: StreamMessage[] = [];
  const every = options.every ?? 1000;
  for await (const m of await readStream(js, stream, { filter: options.filter, untilEnd: true })) {
    messages.push(m);
    if (messages.length % every === 0) options.onProgress?.(messages.length);
  }
  return messages;
}
