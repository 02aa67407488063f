import type { CatoptEvent } from "./event.ts";
import { refuse as reject } from "./refusal.ts";

/** What both folds keep of a delta until a round takes it: `base` is the round of the plan it answers. */
export type Pending = { readonly agent: string; readonly round: number; readonly base: number };

export type RoundEvent = CatoptEvent<"round/1"> | CatoptEvent<"round/2">;

/**
 * What decides whether a delta is still good: how many plans back it may answer, and the round
 * that last changed each agent's values (undefined: the agent takes no part yet).
 */
export type RoundRules = { readonly maxStaleness: number; readonly committedAt: (agent: string) => number | undefined };

/** Synchronous rounds (cluster problems): every round takes every agent, so each one's values changed in the last round. */
export const synchronousRules = (lastRound: number): RoundRules => ({ maxStaleness: 0, committedAt: () => lastRound });

/**
 * Whether round `lastRound + 1` may still take a delta, and why not. A delta's entries are
 * relative to its agent's values as plan `base` committed them, so it is good only while those
 * values stand (no round since `base` took another delta of the agent: `committedAt` is the
 * round that last did), and only within the bounded staleness of asynchronous rounds.
 */
export function staleReason(d: Pending, lastRound: number, rules: RoundRules): string | undefined {
  const { maxStaleness } = rules;
  const committedAt = rules.committedAt(d.agent) ?? lastRound;
  if (d.base > lastRound) return `it answers plan ${d.base}, which is not out (last closed round: ${lastRound})`;
  if (d.base < committedAt) return `it answers plan ${d.base}, but round ${committedAt} changed ${d.agent}'s values since`;
  if (d.base < lastRound - maxStaleness) return `it answers plan ${d.base}, older than the ${maxStaleness} round(s) of staleness allowed after round ${lastRound}`;
  return undefined;
}

/**
 * The deltas a round event takes, in its order, each checked: delivered, not stale (above), at
 * most one per agent. Refuses otherwise. Shared by the QP problem's fold and the cluster fold,
 * so both read `took` alike.
 */
export function takenDeltas<D extends Pending>(
  pending: Readonly<Record<string, D>>,
  event: RoundEvent,
  lastRound: number,
  rules: RoundRules,
): D[] {
  const taken = new Set<string>();
  return event.body.took.map((id) => {
    const d = pending[id] ?? reject(`round ${event.round} took ${id}, which the stream has not delivered`);
    const stale = staleReason(d, lastRound, rules);
    if (stale !== undefined) reject(`round ${event.round} took ${id}, but ${stale}`);
    if (taken.has(d.agent)) reject(`round ${event.round} took two deltas from ${d.agent}`);
    taken.add(d.agent);
    return d;
  });
}

/** The deltas a round may still take after round `lastRound` closed: the others are dropped from pending. */
export function stillPending<D extends Pending>(pending: Readonly<Record<string, D>>, lastRound: number, rules: RoundRules): Record<string, D> {
  return Object.fromEntries(Object.entries(pending).filter(([, d]) => staleReason(d, lastRound, rules) === undefined));
}
