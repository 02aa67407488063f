import type { CatoptEvent } from "../core/event.ts";
import { refuse as reject } from "../core/refusal.ts";

/** What both folds keep of a delta until a round takes it. */
export type Pending = { readonly agent: string; readonly round: number; readonly base: number };

/**
 * The deltas a round/1 event takes, in its order, each checked: delivered, for this round,
 * relative to the last closed round, at most one per agent. Refuses otherwise. Shared by the
 * QP problem's fold and the cluster fold, so both read `took` alike.
 */
export function takenDeltas<D extends Pending>(pending: Readonly<Record<string, D>>, event: CatoptEvent<"round/1">, lastRound: number): D[] {
  const taken = new Set<string>();
  return event.body.took.map((id) => {
    const d = pending[id] ?? reject(`round ${event.round} took ${id}, which the stream has not delivered`);
    if (d.round !== event.round) reject(`round ${event.round} took ${id}, a delta for round ${d.round}`);
    if (d.base !== lastRound) reject(`round ${event.round} took ${id}, relative to round ${d.base} instead of ${lastRound}`);
    if (taken.has(d.agent)) reject(`round ${event.round} took two deltas from ${d.agent}`);
    taken.add(d.agent);
    return d;
  });
}
