import type { Clock } from "../core/clock.ts";
import type { StreamMessage } from "../core/stream-message.ts";
import type { StreamReader } from "./read.ts";

/** What drive() needs of an xstate actor whose machine takes `tick` and `stop` events. */
export type DrivenActor<Snapshot> = {
  send(event: { type: "tick"; now: number } | { type: "stop"; reason: string; now: number }): void;
  subscribe(observer: { next: (snapshot: Snapshot) => void; error: (err: unknown) => void }): unknown;
  start(): unknown;
};

export type DriveOptions<Snapshot> = {
  readonly clock: Clock;
  /** Turns a stream message into the machine's events (or none). */
  readonly route: (message: StreamMessage) => void;
  readonly onSnapshot?: (snapshot: Snapshot) => void;
  /** Stops the machine (it fails with the abort's reason). */
  readonly signal?: AbortSignal;
  /** How often the clock ticks, in ms: fine enough for the machine's shortest deadline. */
  readonly tickMs?: number;
};

const TICK_MS = 200;

/**
 * Runs an actor off a stream until it reaches a final state: stream messages go to `route`,
 * the clock arrives as `tick` events, and an abort or a broken read becomes a `stop` event
 * with the reason, so the machine, not an exception, decides how the run ends.
 */
export async function drive<Snapshot extends { status: string }>(
  actor: DrivenActor<Snapshot>,
  reader: StreamReader<StreamMessage>,
  options: DriveOptions<Snapshot>,
): Promise<void> {
  const { clock } = options;
  const stop = (reason: string): void => actor.send({ type: "stop", reason, now: clock() });
  const onAbort = (): void => stop(String(options.signal?.reason ?? "aborted"));
  const finished = new Promise<void>((resolve, reject) => {
    actor.subscribe({
      next: (snapshot) => {
        options.onSnapshot?.(snapshot);
        if (snapshot.status === "done") resolve();
      },
      error: reject,
    });
  });
  const ticker = setInterval(() => actor.send({ type: "tick", now: clock() }), options.tickMs ?? TICK_MS);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  actor.start();
  if (options.signal?.aborted) onAbort();
  const feeding = (async () => {
    for await (const message of reader) options.route(message);
  })().catch((err: unknown) => stop(`lost the event stream: ${(err as Error).message}`));
  try {
    await finished;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    clearInterval(ticker);
    reader.stop();
    await feeding;
  }
}
