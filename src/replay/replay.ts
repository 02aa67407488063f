import type { JetStreamClient } from "@nats-io/jetstream";
import { readStream } from "../bus/read.ts";
import { signatureVerdict } from "../governance/admission.ts";
import { belongsTo } from "./filter.ts";
import { apply, emptyReplayState, type ReplayState } from "./reducer.ts";
import type { StreamMessage } from "../core/stream-message.ts";

/**
 * Rebuilds state offline by folding messages through the reducer: from a recording, or from a
 * live stream read to its current end with an ordered consumer. With a problem filter, only
 * that problem's messages and its tenant's governance events count (the coordinator folds
 * exactly those). `trustRoot` is the governance DID whose admissions decide whose events count.
 */
export type ProblemFilter = {
  readonly tenant: string;
  readonly problem: string;
  /** A cluster problem's job tenants, whose tenant plans belong to it (see filter.ts). */
  readonly planTenants?: readonly string[];
  /** Messages after this stream sequence do not count (a live fold that stopped there). */
  readonly untilSeq?: number;
};

const counts = (f: ProblemFilter, message: StreamMessage): boolean =>
  (f.untilSeq === undefined || message.seq <= f.untilSeq) && belongsTo(message, f.tenant, f.problem, f.planTenants);

export function replayMessages(messages: Iterable<StreamMessage>, trustRoot: string | null, filter?: ProblemFilter): ReplayState {
  let state = emptyReplayState(trustRoot);
  for (const message of messages) {
    if (filter === undefined || counts(filter, message)) state = apply(state, message);
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

/**
 * Folds a stream, read to its current end, once per filter, in one read and without holding
 * its messages (a cluster run's stream can be large); `onMessage` receives every message read,
 * after any fold it belongs to (`folded`), so that a caller recording the stream reads it once.
 */
export async function replayStream(
  js: JetStreamClient,
  stream: string,
  trustRoot: string | null,
  filters: readonly ProblemFilter[],
  onMessage?: (message: StreamMessage, folded: boolean) => void,
): Promise<ReplayState[]> {
  const states = filters.map(() => emptyReplayState(trustRoot));
  for await (const message of await readStream(js, stream, { untilEnd: true })) {
    const folds = filters.flatMap((f, i) => (counts(f, message) ? [i] : []));
    // Ed25519 verification is most of a fold's cost: once per message, however many folds read it.
    const verdict = folds.length > 1 ? signatureVerdict(message.data) : undefined;
    for (const i of folds) states[i] = apply(states[i], message, verdict);
    onMessage?.(message, folds.length > 0);
  }
  return states;
}
