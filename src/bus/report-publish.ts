import type { PubAck } from "@nats-io/jetstream";
import type { Clock } from "../core/clock.ts";

/** Feeds the outcome of a publish back to the machine that asked for it, as an event. */
export type PublishFeedback =
  | { readonly type: "published"; readonly now: number }
  | { readonly type: "publishFailed"; readonly reason: string; readonly now: number };

export function reportPublish(publishing: Promise<PubAck>, send: (event: PublishFeedback) => void, clock: Clock): void {
  publishing.then(
    () => send({ type: "published", now: clock() }),
    (err: unknown) => send({ type: "publishFailed", reason: err instanceof Error ? err.message : String(err), now: clock() }),
  );
}
