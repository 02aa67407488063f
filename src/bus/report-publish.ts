import type { PubAck } from "@nats-io/jetstream";
import type { Clock } from "../core/clock.ts";

/** Feeds the outcome of a publish back to the machine that asked for it, as an event. */
export type PublishFeedback =
  /** `seq`: where the stream stored it. */
  | { readonly type: "published"; readonly seq: number; readonly now: number }
  | { readonly type: "publishFailed"; readonly reason: string; readonly now: number };

export function reportPublish(publishing: Promise<PubAck>, send: (event: PublishFeedback) => void, clock: Clock): void {
  publishing.then(
    (ack) => send({ type: "published", seq: ack.seq, now: clock() }),
    (err: unknown) => send({ type: "publishFailed", reason: err instanceof Error ? err.message : String(err), now: clock() }),
  );
}
