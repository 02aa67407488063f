import { and, assign, setup } from "xstate";
import { agentsOf, apply, emptyReplayState, problemKey, type AnyProblemState, type ReplayState, type StreamMessage } from "../replay/reducer.ts";

/**
 * The coordinator. Its only state is the fold of the stream (`replay`, through the same
 * reducer replay uses); it never applies its own decisions before they come back from the
 * stream, so the live state and a replay of the stream are the same by construction.
 *
 * opening -> collecting -> closing -> planning -> collecting ... -> done | failed
 *
 * It closes a round when every agent's delta for it is in (round 0: every join), publishes
 * which events it took, then the plan the reducer derives, until the plan is final. Time
 * arrives only as `now` on events; the round deadline is checked on ticks.
 *
 * A coordinator restarted on a problem the stream already holds starts from that fold
 * (`replay`): it does not open the problem again, and resumes where the stream left off:
 * publishing the plan of a round that has none yet, else collecting the next round.
 */
export type CoordinatorInput = {
  readonly tenant: string;
  readonly problem: string;
  readonly roundTimeoutMs: number;
  /** The governance DID whose admissions decide whose events count (see governance/admission.ts). */
  readonly trustRoot: string;
  readonly now: number;
  /** The fold of what the stream already holds, for a coordinator that resumes a problem. */
  readonly replay?: ReplayState;
};

export type CoordinatorContext = Omit<CoordinatorInput, "replay"> & {
  readonly replay: ReplayState;
  readonly roundOpenedAt: number;
  readonly error: string | null;
};

export type CoordinatorEvent =
  | { readonly type: "message"; readonly message: StreamMessage; readonly now: number }
  | { readonly type: "published"; readonly now: number }
  | { readonly type: "publishFailed"; readonly reason: string; readonly now: number }
  | { readonly type: "tick"; readonly now: number }
  | { readonly type: "stop"; readonly reason: string; readonly now: number };

export function problemOf(context: Pick<CoordinatorContext, "replay" | "tenant" | "problem">): AnyProblemState | undefined {
  return context.replay.problems[problemKey(context.tenant, context.problem)];
}

/** The events that close the next round, once every agent has sent its part; else undefined. */
export function roundQuorum(problem: AnyProblemState): string[] | undefined {
  const agents = agentsOf(problem);
  if (problem.phase === "joining") {
    const joins = agents.map((a) => problem.joined[a]?.id);
    return joins.every((id) => id !== undefined) ? (joins as string[]) : undefined;
  }
  if (problem.phase !== "running") return undefined;
  const next = problem.round + 1;
  const pending: Readonly<Record<string, { readonly agent: string; readonly round: number; readonly base: number }>> = problem.pending;
  const took = agents.map((a) => Object.entries(pending).find(([, d]) => d.agent === a && d.round === next && d.base === problem.round)?.[0]);
  return took.every((id) => id !== undefined) ? (took as string[]) : undefined;
}

/** Agents whose part of the next round is still missing, for the timeout message. */
export function missingAgents(problem: AnyProblemState): string[] {
  const next = problem.round + 1;
  return agentsOf(problem).filter((a) =>
    problem.phase === "joining"
      ? problem.joined[a] === undefined
      : !Object.values<{ readonly agent: string; readonly round: number }>(problem.pending).some((d) => d.agent === a && d.round === next),
  );
}

export const coordinatorMachine = setup({
  types: { input: {} as CoordinatorInput, context: {} as CoordinatorContext, events: {} as CoordinatorEvent },
  actions: {
    // Effects: the runner provides these (machine.provide); here they do nothing.
    publishOpen: () => {},
    publishRound: () => {},
    publishPlan: () => {},
    fold: assign({ replay: ({ context, event }) => (event.type === "message" ? apply(context.replay, event.message) : context.replay) }),
    openRound: assign({ roundOpenedAt: ({ event }) => event.now }),
    recordFailure: assign({
      error: ({ event }) => (event.type === "publishFailed" ? `publish failed: ${event.reason}` : event.type === "stop" ? `stopped: ${event.reason}` : null),
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
      return problem !== undefined && roundQuorum(problem) !== undefined;
    },
    /** The round we published has come back through the stream (its plan is derived). */
    roundFolded: ({ context }) => {
      const problem = problemOf(context);
      return problem !== undefined && problem.round > problem.planRound;
    },
    planFolded: ({ context }) => {
      const problem = problemOf(context);
      return problem !== undefined && problem.planRound === problem.round;
    },
    isFinished: ({ context }) => {
      const phase = problemOf(context)?.phase;
      return phase === "converged" || phase === "max-rounds";
    },
    overdue: ({ context, event }) => event.now - context.roundOpenedAt > context.roundTimeoutMs,
  },
}).createMachine({
  id: "coordinator",
  context: ({ input }) => ({ ...input, replay: input.replay ?? emptyReplayState(input.trustRoot), roundOpenedAt: input.now, error: null }),
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
      always: [
        { guard: and(["planFolded", "isFinished"]), target: "done" },
        { guard: "roundFolded", target: "planning" },
        { target: "collecting" },
      ],
    },
    opening: {
      entry: "publishOpen",
      always: { guard: "isOpen", target: "collecting" },
    },
    collecting: {
      entry: "openRound",
      always: { guard: "hasQuorum", target: "closing" },
      on: { tick: { guard: "overdue", target: "failed", actions: "recordTimeout" } },
    },
    closing: {
      entry: "publishRound",
      always: { guard: "roundFolded", target: "planning" },
    },
    planning: {
      entry: "publishPlan",
      always: [
        { guard: and(["planFolded", "isFinished"]), target: "done" },
        { guard: "planFolded", target: "collecting" },
      ],
    },
    done: { type: "final" },
    failed: { type: "final" },
  },
});
