import type { AnyEvent } from "../core/event.ts";
import type { ScriptedEvent } from "../core/scenario-format.ts";

/** A scripted event (a cluster's churn) and when it went out: after which closed round, and when (null: the problem ended first). */
export type ScriptedTimeline = {
  readonly round: number | null;
  readonly afterMs: number | null;
  readonly describe: string;
  published_after: number | null;
  published_at_ms: number | null;
};

export type ScriptedPublisher = {
  /** Called with each round the coordinator closes, and whether the problem still runs after it. */
  onRound(round: number, running: boolean): void;
  /** Sends nothing more, stops the timers of what has not gone out, and waits for what has (idempotent). */
  settled(): Promise<void>;
  readonly timeline: readonly ScriptedTimeline[];
};

/**
 * Publishes a scenario's scripted events (ScriptedEvent) as rounds close or their time comes, in
 * the scenario's order (each was checked against the cluster the ones before it leave), one after
 * another, while the problem runs; keeps when each went out. Time enters through `clock` and the
 * timers it sets, from when it is made.
 */
export function scriptedPublisher(
  events: readonly ScriptedEvent[],
  publish: (event: AnyEvent) => Promise<unknown>,
  frame: { readonly tenant: string; readonly problem: string; readonly clock: () => number },
  note: (line: string) => void,
): ScriptedPublisher {
  const started = frame.clock();
  const timeline: ScriptedTimeline[] = events.map((e) => ({
    round: e.round ?? null,
    afterMs: e.afterMs ?? null,
    describe: e.describe,
    published_after: null,
    published_at_ms: null,
  }));
  let chain: Promise<void> = Promise.resolve();
  let lastRound = 0;
  let running = true;
  const send = (i: number): void => {
    const entry = events[i];
    [timeline[i].published_after, timeline[i].published_at_ms] = [lastRound, frame.clock() - started];
    note(`scripted: ${entry.describe}, after round ${lastRound}${entry.afterMs === undefined ? "" : ` (${entry.afterMs} ms into the run)`}`);
    // Each in turn; a failed one is said and does not stop the next.
    chain = chain
      .then(() => publish(entry.event(frame.tenant, frame.problem)))
      .then(
        () => undefined,
        (err: Error) => note(`scripted: could not publish "${entry.describe}": ${err.message}`),
      );
  };
  // An entry goes out once its round or time has come and every entry before it has gone out: the order the scenario was checked in.
  // A time that comes before the first round closed waits for it: the problem takes no change before it has started.
  const due = events.map(() => false);
  const flush = (): void => {
    if (!running || lastRound < 1) return;
    for (const [i, entry] of events.entries()) {
      if (timeline[i].published_at_ms !== null) continue;
      const reached = entry.round === undefined ? due[i] : lastRound >= entry.round;
      if (!reached) return;
      send(i);
    }
  };
  // Unref'd: a run that fails before settling is not kept alive by a change due in an hour.
  const timers = events.flatMap((entry, i) =>
    entry.afterMs === undefined
      ? []
      : [
          setTimeout(() => {
            due[i] = true;
            flush();
          }, entry.afterMs).unref(),
        ],
  );
  return {
    timeline,
    onRound: (round, stillRunning) => {
      lastRound = round;
      running = stillRunning;
      flush();
    },
    settled: () => {
      running = false;
      for (const timer of timers) clearTimeout(timer);
      return chain;
    },
  };
}
