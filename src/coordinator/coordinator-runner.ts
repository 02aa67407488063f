import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { createActor, type SnapshotFrom } from "xstate";
import { systemClock, type Clock } from "../core/clock.ts";
import type { CatoptEvent } from "../core/event.ts";
import { planSubject, roundSubject, tenantSubjects } from "../core/subjects.ts";
import { publishEvent } from "../bus/publish.ts";
import { drive } from "../bus/drive.ts";
import { readStream } from "../bus/read.ts";
import { reportPublish } from "../bus/report-publish.ts";
import { EVENTS_STREAM } from "../bus/streams.ts";
import type { Identity } from "../governance/identity.ts";
import { belongsTo } from "../replay/filter.ts";
import { expectedClusterPlanEvent, expectedTenantPlanEvent, clusterTenants, tenantPlansDue } from "../allocation/cluster-fold.ts";
import { expectedPlanEvent, isClusterState, type AnyProblemState, type ReplayState } from "../replay/reducer.ts";
import { roundEvent, type OpenEvent } from "./coordinator-events.ts";
import { coordinatorMachine, problemOf } from "./coordinator-machine.ts";

export type CoordinatorOptions = {
  readonly nc: NatsConnection;
  readonly tenant: string;
  readonly problem: string;
  /** The problem's open event: open/1 (a quadratic program) or cluster-open/1 (an allocation). */
  readonly open: OpenEvent;
  readonly roundTimeoutMs: number;
  readonly clock?: Clock;
  /** Called once per closed round, with the folded state of the problem. */
  readonly onRound?: (problem: AnyProblemState) => void;
  /** Signs the coordinator's events: an identity admitted as coordinator in the tenant. */
  readonly signer: Identity;
  /** The governance DID whose admissions decide whose events count. */
  readonly trustRoot: string;
};

export type CoordinatorOutcome = {
  readonly status: "converged" | "max-rounds" | "failed";
  readonly error: string | null;
  /** The fold of every message of this problem: the live state whose hash replay must reproduce. */
  readonly replay: ReplayState;
  readonly problem: AnyProblemState | undefined;
};

export async function runCoordinator(options: CoordinatorOptions): Promise<CoordinatorOutcome> {
  const { nc, tenant, problem } = options;
  const clock = options.clock ?? systemClock;
  const js = jetstream(nc);
  const publish = (subject: string, event: CatoptEvent): void => reportPublish(publishEvent(js, subject, event, options.signer), (e) => actor.send(e), clock);

  const machine = coordinatorMachine.provide({
    actions: {
      publishOpen: () => publish(roundSubject(tenant, problem), options.open),
      publishRound: ({ context }) => publish(roundSubject(tenant, problem), roundEvent(problemOf(context) as AnyProblemState)),
      publishPlan: ({ context }) => {
        const state = problemOf(context) as AnyProblemState;
        if (!isClusterState(state)) return publish(planSubject(tenant, problem), expectedPlanEvent(state));
        publish(planSubject(tenant, problem), expectedClusterPlanEvent(state));
        // Each tenant sees its own jobs only, on its own subject; published before the next round, so in order.
        if (tenantPlansDue(state)) for (const t of clusterTenants(state)) publish(planSubject(t, problem), expectedTenantPlanEvent(state, t));
      },
    },
  });
  const actor = createActor(machine, { input: { tenant, problem, roundTimeoutMs: options.roundTimeoutMs, trustRoot: options.trustRoot, now: clock() } });

  const reader = await readStream(js, EVENTS_STREAM, { filter: tenantSubjects(tenant) });
  let lastRound = -1;
  await drive<SnapshotFrom<typeof machine>>(actor, reader, {
    clock,
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
  const status = context.error !== null || state === undefined ? "failed" : state.phase === "max-rounds" ? "max-rounds" : "converged";
  return { status, error: context.error, replay: context.replay, problem: state };
}
