import { assign, setup } from "xstate";
import type { AgentPlan, LocalSolver } from "../core/family.ts";

/**
 * One agent: waits until its problem is opened (agents may start before the coordinator),
 * joins it, then for every new plan solves its local step and publishes the delta, until a
 * plan says the run is over. The machine decides; the runner performs the
 * effects (the `publishJoin` and `publishDelta` actions) and feeds back what happened. Time
 * arrives only as `now` on events, so `transition()` steps it purely in tests and replays.
 *
 * What an agent solves comes in as its LocalSolver (core/family.ts), from its problem's family.
 */
export type AgentInput = {
  readonly agent: string;
  readonly solver: LocalSolver<AgentPlan, unknown>;
  /** How long to wait for the coordinator's next plan before giving up, in ms. */
  readonly planTimeoutMs: number;
  readonly now: number;
};

export type AgentContext = AgentInput & {
  /** The last plan acted on, and its round (-1: none yet). */
  readonly plan: AgentPlan | null;
  readonly planRound: number;
  /** Our values as the coordinator committed them, and the step we computed from them. */
  readonly committed: unknown;
  readonly proposed: unknown;
  readonly waitingSince: number;
  /** A plan that arrived while our publish was still in flight; taken once it is acknowledged. */
  readonly queued: { readonly round: number; readonly body: AgentPlan } | null;
  readonly error: string | null;
};

export type AgentEvent =
  | { readonly type: "opened"; readonly agents: readonly string[]; readonly now: number }
  | { readonly type: "published"; readonly now: number }
  | { readonly type: "publishFailed"; readonly reason: string; readonly now: number }
  | { readonly type: "plan"; readonly round: number; readonly body: AgentPlan; readonly now: number }
  | { readonly type: "tick"; readonly now: number }
  | { readonly type: "stop"; readonly reason: string; readonly now: number }
  /** Leave the problem for good: publish a leave event, then end as "left". */
  | { readonly type: "leave"; readonly reason: string; readonly now: number }
  /** The leave event is on the stream. */
  | { readonly type: "leaveRecorded"; readonly now: number };

/** The plan this event brings (or the one queued earlier), if it is newer than the last one taken. */
function newPlan(context: AgentContext, event: AgentEvent): { round: number; body: AgentPlan } | undefined {
  const candidate = event.type === "plan" ? { round: event.round, body: event.body } : context.queued;
  return candidate !== null && candidate.round > context.planRound ? candidate : undefined;
}

export const agentMachine = setup({
  types: { input: {} as AgentInput, context: {} as AgentContext, events: {} as AgentEvent },
  actions: {
    // Effects: the runner provides these (machine.provide); here they do nothing.
    publishJoin: () => {},
    publishDelta: () => {},
    publishLeave: () => {},
    waitFromNow: assign({ waitingSince: ({ event }) => event.now }),
    takePlan: assign(({ context, event }) => {
      const next = newPlan(context, event);
      if (next === undefined) return {};
      return { plan: next.body, planRound: next.round, committed: context.solver.commit(next.body, context.proposed), queued: null };
    }),
    queuePlan: assign({ queued: ({ event }) => (event.type === "plan" ? { round: event.round, body: event.body } : null) }),
    solve: assign({
      proposed: ({ context }) => (context.plan === null ? context.proposed : context.solver.step(context.plan, context.committed)),
    }),
    recordFailure: assign({
      error: ({ context, event }) => {
        if (event.type === "publishFailed") return `publish failed: ${event.reason}`;
        if (event.type === "stop") return `stopped: ${event.reason}`;
        if (event.type === "opened") return `agent ${context.agent} is not part of the problem (its agents: ${event.agents.join(", ")})`;
        return "failed";
      },
    }),
    recordTimeout: assign({
      error: ({ context }) =>
        context.planRound < 0
          ? `the problem was not opened and started within ${context.planTimeoutMs} ms`
          : `no plan after round ${context.planRound} within ${context.planTimeoutMs} ms`,
    }),
  },
  guards: {
    isNewPlan: ({ context, event }) => newPlan(context, event) !== undefined,
    isFinalPlan: ({ context, event }) => {
      const next = newPlan(context, event);
      return next !== undefined && next.body.status !== "running";
    },
    timedOut: ({ context, event }) => event.now - context.waitingSince > context.planTimeoutMs,
    isMember: ({ context, event }) => event.type === "opened" && event.agents.includes(context.agent),
  },
}).createMachine({
  id: "agent",
  context: ({ input }) => ({
    ...input,
    plan: null,
    planRound: -1,
    committed: null,
    proposed: null,
    waitingSince: input.now,
    queued: null,
    error: null,
  }),
  initial: "joining",
  on: {
    stop: { target: ".failed", actions: "recordFailure" },
    leave: { target: ".leaving" },
  },
  states: {
    joining: {
      initial: "awaitingOpen",
      states: {
        awaitingOpen: {
          on: {
            leave: "#agent.left", // not joined yet: nothing to announce
            opened: [
              { guard: "isMember", target: "announcing" },
              { target: "#agent.failed", actions: "recordFailure" },
            ],
            tick: { guard: "timedOut", target: "#agent.failed", actions: "recordTimeout" },
          },
        },
        announcing: {
          entry: "publishJoin",
          on: {
            // A problem already under way (an agent restarted, or joining late) has plans out.
            plan: { guard: "isNewPlan", actions: "queuePlan" },
            published: { target: "#agent.awaitingPlan", actions: "waitFromNow" },
            publishFailed: { target: "#agent.failed", actions: "recordFailure" },
          },
        },
      },
    },
    awaitingPlan: {
      always: [
        { guard: "isFinalPlan", target: "converged", actions: "takePlan" },
        { guard: "isNewPlan", target: "solving", actions: "takePlan" },
      ],
      on: {
        plan: [
          { guard: "isFinalPlan", target: "converged", actions: "takePlan" },
          { guard: "isNewPlan", target: "solving", actions: "takePlan" },
        ],
        tick: { guard: "timedOut", target: "failed", actions: "recordTimeout" },
      },
    },
    solving: {
      entry: "solve",
      always: "publishing",
    },
    publishing: {
      entry: "publishDelta",
      on: {
        plan: { guard: "isNewPlan", actions: "queuePlan" },
        published: { target: "awaitingPlan", actions: "waitFromNow" },
        publishFailed: { target: "failed", actions: "recordFailure" },
      },
    },
    leaving: {
      entry: "publishLeave",
      on: {
        // A delta acknowledged now (it was in flight) changes nothing: only the leave's own record ends this.
        leaveRecorded: "left",
        publishFailed: { target: "failed", actions: "recordFailure" },
        leave: {}, // already on its way: not a second leave event
      },
    },
    left: { type: "final" },
    converged: { type: "final" },
    failed: { type: "final" },
  },
});
