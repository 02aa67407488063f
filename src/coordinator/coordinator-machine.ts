import { and, assign, setup } from "xstate";
import type { ClosedBy } from "../core/schemas.ts";
import { agentsOf, apply, emptyReplayState, problemKey, roundRules, type AnyProblemState, type ReplayState } from "../replay/reducer.ts";
import { familyOf } from "../families/registry.ts";
import type { StreamMessage } from "../core/stream-message.ts";
import { staleReason } from "../core/round-rules.ts";

/**
 * The coordinator. Its only state is the fold of the stream (`replay`, through the same
 * reducer replay uses); it never applies its own decisions before they come back from the
 * stream, so the live state and a replay of the stream are the same by construction.
 *
 * opening -> collecting -> closing -> planning -> collecting ... -> done | failed
 *
 * A secure round (src/secure) closes on masked contributions and waits, in closing, for the
 * agents' reveals; should an agent of its roster leave, or not answer within the round timeout,
 * the round is tried again without it (retrying: an attempt/1 event), if enough agents are left.
 *
 * It closes a round when every agent's delta is in (round 0: every join), or as soon as
 * `quorum` agents' are, or at `deadlineMs` with whatever is in (asynchronous rounds; a delta
 * that misses its round counts in a later one, within the problem's maxStaleness). It
 * publishes which events it took and why it closed, then the plan the reducer derives, until
 * the plan is final. Time arrives only as `now` on events; deadlines are checked on ticks.
 *
 * A coordinator restarted on a problem the stream already holds starts from that fold
 * (`replay`): it does not open the problem again, and resumes where the stream left off:
 * publishing the plan of a round that has none yet, else collecting the next round.
 */
export type CoordinatorInput = {
  readonly tenant: string;
  readonly problem: string;
  /** A round with nothing to take for this long fails the run. */
  readonly roundTimeoutMs: number;
  /**
   * How long an event the coordinator published may take to come back through its read before
   * it gives up (default roundTimeoutMs): the runner allows for a read that restarts elsewhere
   * after a server's loss.
   */
  readonly echoTimeoutMs?: number;
  /** How many agents' deltas close a round before all are in (default: all of them: synchronous rounds). */
  readonly quorum?: number;
  /** A round closes this long after it opened with whatever is in (default: never). */
  readonly deadlineMs?: number;
  /** The governance DID whose admissions decide whose events count (see governance/admission.ts). */
  readonly trustRoot: string;
  readonly now: number;
  /** The fold of what the stream already holds, for a coordinator that resumes a problem. */
  readonly replay?: ReplayState;
};

export type CoordinatorContext = Omit<CoordinatorInput, "replay"> & {
  readonly replay: ReplayState;
  readonly roundOpenedAt: number;
  /** When the coordinator published the event it now waits to see come back (its round, or its plan). */
  readonly echoSince: number;
  /** Why the round being closed closes. */
  readonly closedBy: ClosedBy;
  /** Where the stream stored the round event being closed, once its publish is acknowledged. */
  readonly roundSeq: number | null;
  /** The agents a new attempt of a secure round leaves out for not answering in time (retrying). */
  readonly missing: readonly string[];
  /** Whether it asked for the seeds of the round's taken agents that did not reveal (recover/1). */
  readonly askedRecovery: boolean;
  readonly error: string | null;
};

export type CoordinatorEvent =
  | { readonly type: "message"; readonly message: StreamMessage; readonly now: number }
  | { readonly type: "published"; readonly seq?: number; readonly now: number }
  | { readonly type: "publishFailed"; readonly reason: string; readonly now: number }
  | { readonly type: "tick"; readonly now: number }
  | { readonly type: "stop"; readonly reason: string; readonly now: number };

/**
 * The time of the event being handled; a state entered right at the start (a resumed
 * coordinator) is entered on xstate's own start event, which has none: the input's `now` then.
 */
const nowOf = (context: CoordinatorContext, event: { readonly now?: number }): number => event.now ?? context.now;

/** The refusal of the round event this coordinator published, if the fold refused it. */
function refusalOf(context: CoordinatorContext): { readonly reason: string } | undefined {
  const seq = context.roundSeq;
  const { rejected } = context.replay;
  // Refusals are in stream order: look back only as far as our round event's sequence (a flood of hostile refusals before it costs nothing here).
  for (let i = rejected.length - 1; seq !== null && i >= 0 && rejected[i].seq >= seq; i--) if (rejected[i].seq === seq) return rejected[i];
  return undefined;
}

export function problemOf(context: Pick<CoordinatorContext, "replay" | "tenant" | "problem">): AnyProblemState | undefined {
  return context.replay.problems[problemKey(context.tenant, context.problem)];
}

/**
 * What the next round can take now: round 0, the joins delivered; later, per agent, its
 * freshest delta that is not stale (core/round-rules.ts).
 */
export function roundCandidates(problem: AnyProblemState): Map<string, string> {
  const picks = new Map<string, string>();
  if (problem.phase === "joining") {
    const expected = agentsOf(problem);
    for (const [agent, join] of Object.entries(problem.joined)) if (expected.includes(agent)) picks.set(agent, join.id);
    return picks;
  }
  if (problem.phase !== "running") return picks;
  const rules = roundRules(problem);
  // Only the agents rounds wait for: one that left keeps its pending deltas until the next round
  // closes (a round decided before the leave may take one), but no round decided after does.
  const active = new Set(agentsOf(problem));
  const best = new Map<string, number>();
  const pending: Readonly<Record<string, { readonly agent: string; readonly round: number; readonly base: number }>> = problem.pending;
  for (const [id, d] of Object.entries(pending)) {
    if (!active.has(d.agent) || staleReason(d, problem.round, rules) !== undefined) continue;
    if ((best.get(d.agent) ?? -Infinity) >= d.base) continue;
    best.set(d.agent, d.base);
    picks.set(d.agent, id);
  }
  return picks;
}

/**
 * Whether the next round can close without waiting longer, and why: every agent's part is in,
 * or a quorum and no agent left out would fall beyond the staleness bound (such a laggard is
 * waited for, up to the deadline: the bounded delay that asynchronous ADMM needs to converge).
 */
export function readyToClose(problem: AnyProblemState, quorum: number | undefined): ClosedBy | undefined {
  const picks = roundCandidates(problem);
  if (picks.size === agentsOf(problem).length) return "all";
  if (quorum === undefined || picks.size < quorum) return undefined;
  if (problem.phase !== "running") return "quorum";
  const { maxStaleness, committedAt } = roundRules(problem);
  const laggard = agentsOf(problem).some((a) => !picks.has(a) && problem.round + 1 - (committedAt(a) ?? Infinity) > maxStaleness);
  return laggard ? undefined : "quorum";
}

/** The events the next round takes, in the problem's agent order. */
export function roundTakes(problem: AnyProblemState): string[] {
  const picks = roundCandidates(problem);
  return agentsOf(problem).flatMap((a) => picks.get(a) ?? []);
}

/** Agents whose part of the next round is still missing, for the timeout message. */
export function missingAgents(problem: AnyProblemState): string[] {
  const picks = roundCandidates(problem);
  return agentsOf(problem).filter((a) => !picks.has(a));
}

/** The request for missing seeds of a secure round the coordinator would publish now (core/family.ts recover). */
export function recoveryOf(problem: AnyProblemState | undefined) {
  return problem === undefined ? undefined : familyOf(problem).recover?.(problem);
}

/** The new attempt of a secure round the coordinator would publish now, leaving out `missing` and the agents that left (core/family.ts retry). */
export function retryOf(problem: AnyProblemState | undefined, missing: readonly string[]) {
  return problem === undefined ? undefined : familyOf(problem).retry?.(problem, missing);
}

export const coordinatorMachine = setup({
  types: { input: {} as CoordinatorInput, context: {} as CoordinatorContext, events: {} as CoordinatorEvent },
  actions: {
    // Effects: the runner provides these (machine.provide); here they do nothing.
    publishOpen: () => {},
    publishRound: () => {},
    publishPlan: () => {},
    publishAttempt: () => {},
    publishRecovery: () => {},
    markRecoveryAsked: assign({ askedRecovery: true }),
    forgetRecovery: assign({ askedRecovery: false }),
    recordMissing: assign({ missing: ({ context }) => missingAgents(problemOf(context) as AnyProblemState) }),
    forgetMissing: assign({ missing: [] as readonly string[] }),
    fold: assign({ replay: ({ context, event }) => (event.type === "message" ? apply(context.replay, event.message) : context.replay) }),
    openRound: assign({ roundOpenedAt: ({ context, event }) => nowOf(context, event) }),
    awaitEcho: assign({ echoSince: ({ context, event }) => nowOf(context, event) }),
    closeAtQuorum: assign({ closedBy: ({ context }) => readyToClose(problemOf(context) as AnyProblemState, context.quorum) ?? "all" }),
    closeAtDeadline: assign({ closedBy: "deadline" as const }),
    // The first acknowledgement in closing is its round event's (a recovery request may follow).
    rememberRoundSeq: assign({ roundSeq: ({ context, event }) => context.roundSeq ?? (event.type === "published" ? (event.seq ?? null) : null) }),
    forgetRoundSeq: assign({ roundSeq: null }),
    recordOpenRefused: assign({
      error: ({ context }) => `the fold refused this coordinator's own open event (seq ${context.roundSeq}): ${refusalOf(context)?.reason ?? "no reason"}`,
    }),
    recordRoundRefused: assign({
      error: ({ context }) => `the fold refused this coordinator's own round event (seq ${context.roundSeq}): ${refusalOf(context)?.reason ?? "no reason"}`,
    }),
    recordFailure: assign({
      error: ({ event }) => (event.type === "publishFailed" ? `publish failed: ${event.reason}` : event.type === "stop" ? `stopped: ${event.reason}` : null),
    }),
    recordLostEcho: assign({
      error: ({ context }) => {
        const problem = problemOf(context);
        const what =
          problem !== undefined && problem.round > problem.planRound ? `plan of round ${problem.round}` : `round ${(problem?.round ?? -1) + 1} event`;
        const unacknowledged = what.startsWith("round") && context.roundSeq === null ? " (its publish was never acknowledged)" : "";
        return `its ${what} did not come back from the stream within ${context.echoTimeoutMs ?? context.roundTimeoutMs} ms${unacknowledged}`;
      },
    }),
    recordTimeout: assign({
      error: ({ context }) => {
        const problem = problemOf(context);
        const round = problem === undefined ? 0 : problem.round + 1;
        const missing = problem === undefined ? ["(problem not opened)"] : missingAgents(problem);
        return `round ${round} timed out after ${context.roundTimeoutMs} ms waiting for: ${missing.join(", ")}`;
      },
    }),
  },
  guards: {
    isOpen: ({ context }) => problemOf(context) !== undefined,
    hasQuorum: ({ context }) => {
      const problem = problemOf(context);
      return problem !== undefined && readyToClose(problem, context.quorum) !== undefined;
    },
    /** Past the round's deadline, with something to take. */
    deadlinePassed: ({ context, event }) => {
      const problem = problemOf(context);
      return (
        context.deadlineMs !== undefined &&
        event.now - context.roundOpenedAt >= context.deadlineMs &&
        problem !== undefined &&
        roundCandidates(problem).size > 0
      );
    },
    /** The round we published has come back through the stream (its plan is derived). */
    roundFolded: ({ context }) => {
      const problem = problemOf(context);
      return problem !== undefined && problem.round > problem.planRound;
    },
    /** The round event we published came back refused (a race the fold decided otherwise): waiting for it would be forever. */
    roundRefused: ({ context }) => refusalOf(context) !== undefined,
    planFolded: ({ context }) => {
      const problem = problemOf(context);
      return problem !== undefined && problem.planRound === problem.round;
    },
    isFinished: ({ context }) => {
      const phase = problemOf(context)?.phase;
      return phase !== undefined && phase !== "joining" && phase !== "running";
    },
    overdue: ({ context, event }) => event.now - context.roundOpenedAt > context.roundTimeoutMs,
    /** A secure round's roster holds an agent that left: the round is tried again without it. */
    rosterLost: ({ context }) => retryOf(problemOf(context), []) !== undefined,
    /** Overdue, and a secure round can be tried again without the agents that did not answer. */
    overdueRetry: ({ context, event }) =>
      event.now - context.roundOpenedAt > context.roundTimeoutMs &&
      retryOf(problemOf(context), missingAgents(problemOf(context) as AnyProblemState)) !== undefined,
    /** Half a round timeout after its round event, a secure round still waits for reveals that a majority of shares could replace. */
    revealsOverdue: ({ context, event }) =>
      !context.askedRecovery && event.now - context.echoSince > context.roundTimeoutMs / 2 && recoveryOf(problemOf(context)) !== undefined,
    /** The attempt we published is folded: the roster no longer holds what it left out. */
    attemptFolded: ({ context }) => retryOf(problemOf(context), context.missing) === undefined,
    /** What we published has not come back for a whole round timeout: waiting longer would be forever. */
    echoOverdue: ({ context, event }) => event.now - context.echoSince > (context.echoTimeoutMs ?? context.roundTimeoutMs),
  },
}).createMachine({
  id: "coordinator",
  context: ({ input }) => ({
    ...input,
    replay: input.replay ?? emptyReplayState(input.trustRoot),
    roundOpenedAt: input.now,
    echoSince: input.now,
    closedBy: "all",
    roundSeq: null,
    missing: [],
    askedRecovery: false,
    error: null,
  }),
  initial: "starting",
  on: {
    message: { actions: "fold" },
    publishFailed: { target: ".failed", actions: "recordFailure" },
    stop: { target: ".failed", actions: "recordFailure" },
  },
  states: {
    starting: {
      always: [{ guard: "isOpen", target: "resuming" }, { target: "opening" }],
    },
    resuming: {
      always: [{ guard: and(["planFolded", "isFinished"]), target: "done" }, { guard: "roundFolded", target: "planning" }, { target: "collecting" }],
    },
    opening: {
      entry: "publishOpen",
      always: [
        { guard: "isOpen", target: "collecting" },
        // Its own fold refused the open (settings no round could meet): waiting for it would be forever.
        { guard: "roundRefused", target: "failed", actions: "recordOpenRefused" },
      ],
      on: { published: { actions: "rememberRoundSeq" } },
    },
    collecting: {
      entry: "openRound",
      always: [
        // A round closed without our closing it here: a secure round whose reveals came in after a restart.
        { guard: "roundFolded", target: "planning" },
        { guard: "rosterLost", target: "retrying", actions: "forgetMissing" },
        { guard: "hasQuorum", target: "closing", actions: "closeAtQuorum" },
      ],
      on: {
        tick: [
          { guard: "deadlinePassed", target: "closing", actions: "closeAtDeadline" },
          { guard: "overdueRetry", target: "retrying", actions: "recordMissing" },
          { guard: "overdue", target: "failed", actions: "recordTimeout" },
        ],
      },
    },
    // A secure round tried again with a smaller roster (attempt/1): collecting starts over once the fold has it.
    retrying: {
      entry: ["awaitEcho", "publishAttempt"],
      always: { guard: "attemptFolded", target: "collecting" },
      on: { tick: { guard: "echoOverdue", target: "failed", actions: "recordLostEcho" } },
    },
    closing: {
      entry: ["forgetRoundSeq", "forgetRecovery", "awaitEcho", "publishRound"],
      always: [
        { guard: "roundFolded", target: "planning" },
        { guard: "roundRefused", target: "failed", actions: "recordRoundRefused" },
      ],
      on: {
        published: { actions: "rememberRoundSeq" },
        tick: [
          // A secure round whose taken agents did not all reveal: their peers' shares of the missing seeds close it.
          { guard: "revealsOverdue", actions: ["markRecoveryAsked", "awaitEcho", "publishRecovery"] },
          { guard: "echoOverdue", target: "failed", actions: "recordLostEcho" },
        ],
      },
    },
    planning: {
      entry: ["awaitEcho", "publishPlan"],
      on: { tick: { guard: "echoOverdue", target: "failed", actions: "recordLostEcho" } },
      always: [
        { guard: and(["planFolded", "isFinished"]), target: "done" },
        { guard: "planFolded", target: "collecting" },
      ],
    },
    done: { type: "final" },
    failed: { type: "final" },
  },
});
