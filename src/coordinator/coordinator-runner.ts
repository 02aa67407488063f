import type { JetStreamClient } from "@nats-io/jetstream";
import { jetstreamOf } from "../bus/connection.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import { createActor, type SnapshotFrom } from "xstate";
import { systemClock, type Clock } from "../core/clock.ts";
import type { PlanStatus } from "../core/schemas.ts";
import type { CatoptEvent } from "../core/event.ts";
import { governanceSubject, planSubject, problemAnnouncements, roundSubject, tenantSubjects } from "../core/subjects.ts";
import { RETRY_PATIENCE_MS } from "../bus/retry.ts";
import { publishEvent } from "../governance/signed-publish.ts";
import { drive } from "../bus/drive.ts";
import { lastSeqOf, QUIET_MS, READ_PATIENCE_MS, readStream } from "../bus/read.ts";
import { reportPublish } from "../bus/report-publish.ts";
import { EVENTS_STREAM } from "../bus/streams.ts";
import type { Identity } from "../governance/identity.ts";
import { belongsTo } from "../replay/filter.ts";
import { familyOf } from "../families/registry.ts";
import { apply, emptyReplayState, type AnyProblemState, type ReplayState } from "../replay/reducer.ts";
import type { StreamMessage } from "../core/stream-message.ts";
import { roundEvent, type OpenEvent } from "./coordinator-events.ts";
import { coordinatorMachine, problemOf, recoveryOf, retryOf } from "./coordinator-machine.ts";

export type CoordinatorOptions = {
  readonly nc: NatsConnection;
  readonly tenant: string;
  readonly problem: string;
  /** The problem's open event: open/1 (a quadratic program) or cluster-open/1 (an allocation). */
  readonly open: OpenEvent;
  readonly roundTimeoutMs: number;
  /** Asynchronous rounds (coordinator-machine.ts): close at this many agents' deltas, or at the deadline. */
  readonly quorum?: number;
  readonly deadlineMs?: number;
  readonly clock?: Clock;
  /** Called once per closed round, with the folded state of the problem. */
  readonly onRound?: (problem: AnyProblemState) => void;
  /** Called once, before anything else, when the stream already holds the problem: the state resumed from. */
  readonly onResume?: (problem: AnyProblemState) => void;
  /** Aborting it stops the coordinator (status failed, with the reason). */
  readonly signal?: AbortSignal;
  /** Signs the coordinator's events: an identity admitted as coordinator in the tenant. */
  readonly signer: Identity;
  /** The governance DID whose admissions decide whose events count. */
  readonly trustRoot: string;
};

export type CoordinatorOutcome = {
  readonly status: Exclude<PlanStatus, "running"> | "failed";
  readonly error: string | null;
  /** The fold of every message of this problem: the live state whose hash replay must reproduce. */
  readonly replay: ReplayState;
  readonly problem: AnyProblemState | undefined;
  /** The stream held the problem's end already: this coordinator did nothing. */
  readonly alreadyFinished: boolean;
  /** How many stored messages it read before its first round (its problem's and the tenant's governance events). */
  readonly heldRead: number;
};

export async function runCoordinator(options: CoordinatorOptions): Promise<CoordinatorOutcome> {
  const { nc, tenant, problem } = options;
  const clock = options.clock ?? systemClock;
  const js = jetstreamOf(nc);
  const publish = (subject: string, event: CatoptEvent): void => reportPublish(publishEvent(js, subject, event, options.signer), (e) => actor.send(e), clock);

  const machine = coordinatorMachine.provide({
    actions: {
      publishOpen: () => publish(roundSubject(tenant, problem), options.open),
      publishRound: ({ context }) => publish(roundSubject(tenant, problem), roundEvent(problemOf(context) as AnyProblemState, context.closedBy)),
      publishAttempt: ({ context }) => {
        const attempt = retryOf(problemOf(context), context.missing);
        if (attempt !== undefined) publish(roundSubject(tenant, problem), attempt);
      },
      publishRecovery: ({ context }) => {
        const recovery = recoveryOf(problemOf(context));
        if (recovery !== undefined) publish(roundSubject(tenant, problem), recovery);
      },
      publishPlan: ({ context }) => {
        const state = problemOf(context) as AnyProblemState;
        for (const plan of familyOf(state).planEvents(state)) publish(planSubject(plan.tenant, problem), plan.event);
      },
    },
  });
  // What the stream already holds of the problem: nothing for a new one; for a coordinator
  // restarted mid-run, everything its predecessor folded, from which it resumes.
  const held = await foldHeld(js, tenant, problem, options.trustRoot);
  const resumed = problemOf({ replay: held.replay, tenant, problem });
  if (resumed !== undefined && resumed.phase !== "joining" && resumed.phase !== "running") {
    // Nothing to resume: a coordinator started on a problem that ended says so instead of waiting.
    return { status: resumed.phase, error: null, replay: held.replay, problem: resumed, alreadyFinished: true, heldRead: held.read };
  }
  if (resumed !== undefined) options.onResume?.(resumed);
  const { quorum, deadlineMs } = options;
  const input = {
    tenant,
    problem,
    roundTimeoutMs: options.roundTimeoutMs,
    // After a server's loss a read starts again elsewhere (and keeps trying for READ_PATIENCE_MS), and a publish retries through the election: an echo may take that long on top.
    echoTimeoutMs: options.roundTimeoutMs + QUIET_MS + Math.max(READ_PATIENCE_MS, RETRY_PATIENCE_MS),
    quorum,
    deadlineMs,
    trustRoot: options.trustRoot,
    now: clock(),
    replay: held.replay,
  };
  const actor = createActor(machine, { input });

  const reader = await readStream(js, EVENTS_STREAM, { filter: tenantSubjects(tenant), fromSeq: held.nextSeq });
  let lastRound = -1;
  await drive<SnapshotFrom<typeof machine>>(actor, reader, {
    clock,
    signal: options.signal,
    ...(deadlineMs === undefined ? {} : { tickMs: Math.max(5, Math.min(200, deadlineMs / 4)) }),
    route: (message) => belongsTo(message, tenant, problem) && actor.send({ type: "message", message, now: clock() }),
    onSnapshot: (snapshot) => {
      const state = problemOf(snapshot.context);
      if (state !== undefined && state.round !== lastRound && state.round >= 1) {
        lastRound = state.round;
        options.onRound?.(state);
      }
    },
  });
  const context = actor.getSnapshot().context;
  const state = problemOf(context);
  const status = context.error !== null || state === undefined || state.phase === "joining" || state.phase === "running" ? "failed" : state.phase;
  return { status, error: context.error, replay: context.replay, problem: state, alreadyFinished: false, heldRead: held.read };
}

/**
 * Folds the problem's messages the stream holds now; the live read goes on from `nextSeq`. Only
 * the problem's own subjects and the tenant's governance events are read, not the tenant's whole
 * history: three reads (nats-server 2.9 takes one filter a consumer), each up to the tenant's
 * last message as of now, merged back into stream order.
 */
async function foldHeld(
  js: JetStreamClient,
  tenant: string,
  problem: string,
  trustRoot: string,
): Promise<{ replay: ReplayState; nextSeq: number; read: number }> {
  // The tenant's last message as of now: everything up to it is held; the live read goes on after it.
  const end = await lastSeqOf(js, EVENTS_STREAM, tenantSubjects(tenant));
  const held = new Map<number, StreamMessage>();
  for (const filter of [governanceSubject(tenant, ">"), problemAnnouncements(tenant, problem), `catopt.${tenant}.delta.${problem}.*`]) {
    for await (const m of await readStream(js, EVENTS_STREAM, { filter, untilEnd: true })) if (m.seq <= end) held.set(m.seq, m);
  }
  let replay = emptyReplayState(trustRoot);
  for (const message of [...held.values()].sort((a, b) => a.seq - b.seq)) if (belongsTo(message, tenant, problem)) replay = apply(replay, message);
  return { replay, nextSeq: end + 1, read: held.size };
}
