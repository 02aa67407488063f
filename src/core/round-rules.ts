import type { CatoptEvent } from "./event.ts";
import { refuse as reject } from "./refusal.ts";

/** What both folds keep of a delta until a round takes it: `base` is the round of the plan it answers. */
export type Pending = { readonly agent: string; readonly round: number; readonly base: number };

/** A round as every fold reads it (a round/1 reads as a round/2 closed by "all"). */
export type RoundEvent = CatoptEvent<"round/2">;

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
  if (d.base < lastRound - maxStaleness)
    return `it answers plan ${d.base}, older than the ${maxStaleness} round(s) of staleness allowed after round ${lastRound}`;
  return undefined;
}

/**
 * The deltas a round event takes, in its order, each checked: delivered, not stale (above), at
 * most one per agent. Refuses otherwise. Shared by the QP problem's fold and the cluster fold,
 * so both read `took` alike.
 */
export function takenDeltas<D extends Pending>(pending: Readonly<Record<string, D>>, event: RoundEvent, lastRound: number, rules: RoundRules): D[] {
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

/**
 * The plan each agent's values answer, where that is older than the plan before the round that
 * took them (a late delta); absent for every other agent, and absent altogether when there is
 * none, so that a state without late answers encodes as before they existed.
 */
export type LateAnswers = Readonly<Record<string, number>> | undefined;

/** `record` less `key`; undefined rather than an empty record (see LateAnswers). */
export function without(record: LateAnswers, key: string): LateAnswers {
  if (record === undefined || !Object.hasOwn(record, key)) return record;
  const { [key]: _dropped, ...rest } = record;
  return Object.keys(rest).length === 0 ? undefined : rest;
}

/** Round `round` took delta `d`: the plan the agent's values now answer, where it is late (and the steady rule counts it). */
export const answered = (late: LateAnswers, d: Pending, round: number, steady: boolean): LateAnswers =>
  d.base < round - 1 && steady ? { ...late, [d.agent]: d.base } : without(late, d.agent);

/**
 * Whether round `round`, whose residuals met their tolerances or not (`converged`), may end the
 * run. Small residuals say nothing of an agent whose values are older than the staleness bound
 * (or that has not joined), nor, under the steady rule (AdmmSettings.stop), of values that answer
 * a plan the rounds since have moved: a late value mixed into a quorum round can make one round's
 * residuals look converged while the plan is far off. So the run ends only when every agent's
 * part is recent and answers a plan from which every round since has met the tolerances. In
 * synchronous rounds every value answers the plan just before, so this is the residual rule
 * alone. `steadySince`: where the unbroken run of such rounds began, kept while the run goes on.
 */
export function settledRound(o: {
  readonly round: number;
  readonly converged: boolean;
  readonly agents: readonly string[];
  readonly committedAt: Readonly<Record<string, number>>;
  readonly late: LateAnswers;
  readonly steadySince: number | undefined;
  readonly maxStaleness: number;
  readonly steady: boolean;
}): { readonly settled: boolean; readonly steadySince: number | undefined } {
  const steadySince = o.converged && o.steady ? (o.steadySince ?? o.round) : undefined;
  const answeredPlan = (a: string): number => o.late?.[a] ?? (o.committedAt[a] ?? -Infinity) - 1;
  const settled =
    o.converged &&
    o.agents.every((a) => (o.committedAt[a] ?? -1) >= o.round - o.maxStaleness && (!o.steady || answeredPlan(a) >= (steadySince ?? o.round) - 1));
  return { settled, steadySince };
}
