import { jetstreamOf } from "../bus/connection.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import { createActor } from "xstate";
import { systemClock, type Clock } from "../core/clock.ts";
import type { AnyEvent } from "../core/event.ts";
import { deltaSubject, parseSubject, planSubject, roundSubject, type ParsedSubject } from "../core/subjects.ts";
import { eventKindOf } from "../families/registry.ts";
import { publishEvent } from "../governance/signed-publish.ts";
import { drive } from "../bus/drive.ts";
import { readFilters, readStream, type StreamReader } from "../bus/read.ts";
import { reportPublish } from "../bus/report-publish.ts";
import { EVENTS_STREAM } from "../bus/streams.ts";
import { verifyMessage } from "../governance/admission.ts";
import { tenantTrust } from "../governance/tenant-trust.ts";
import { seedOf, type Identity } from "../governance/identity.ts";
import type { StreamMessage } from "../core/stream-message.ts";
import type { AgentJournal, AgentPlan, FamilyAgent } from "../core/family.ts";
import { leaveEvent } from "./agent-events.ts";
import { agentMachine } from "./agent-machine.ts";

export type AgentOptions = {
  readonly nc: NatsConnection;
  readonly tenant: string;
  readonly problem: string;
  /** The agent: its family's local step and events (qpAgent, nodeAgent, ...). */
  readonly agent: FamilyAgent;
  readonly planTimeoutMs: number;
  readonly clock?: Clock;
  /** Told about plan messages that could not be read (they are skipped, not acted on). */
  readonly onUnreadable?: (seq: number, reason: string) => void;
  /** Stops the agent (it ends as failed with the reason), e.g. when its coordinator failed. */
  readonly signal?: AbortSignal;
  /** Makes the agent leave the problem for good (a leave event; it ends as "left"), e.g. on Ctrl-C. */
  readonly leave?: AbortSignal;
  /** Signs the agent's events: the identity admitted as this agent. */
  readonly signer: Identity;
  /** The governance DID, pinned: only coordinators it admitted in the tenant steer the agent. */
  readonly trustRoot: string;
  /** Pins one coordinator further: its DID (it must be admitted too). */
  readonly coordinator?: string;
  /** Secure rounds: the fewest agents its operator lets it mask among (its own floor, above the problem's threshold). */
  readonly minRoster?: number;
  /** Secure rounds: its journal (agent-journal.ts), so that it resumes a secure problem after a restart (absent: it stops). */
  readonly journal?: AgentJournal;
};

export type AgentOutcome = {
  readonly agent: string;
  /** "finished": the problem had ended before the agent started; it took no part. */
  readonly status: "converged" | "left" | "failed" | "finished";
  readonly error: string | null;
  readonly rounds: number;
  /** The last plan acted on, as the agent's family reads it. */
  readonly plan: AgentPlan | null;
  /** Its own values as the last round took them, where its family says (FamilyAgent.ownValues); never sent anywhere. */
  readonly values?: Readonly<Record<string, number>>;
};

/**
 * Runs one agent of any family: reads its problem's announcements (only those of coordinators
 * the pinned trust root admitted steer it), drives its machine, and signs and publishes what
 * its family's agent says, until a final plan, a leave, or a failure.
 */
export async function runAgent(options: AgentOptions): Promise<AgentOutcome> {
  const { nc, tenant, problem, agent: behaviour } = options;
  const agent = behaviour.name;
  const clock = options.clock ?? systemClock;
  const js = jetstreamOf(nc);
  const subject = deltaSubject(tenant, problem, agent);
  const { signer } = options;
  const trust = await tenantTrust(js, tenant, options.trustRoot, planSubject(tenant, problem));
  behaviour.equip?.({
    secret: seedOf(signer),
    peerEvent: (envelope, peer) => {
      const { event, author } = verifyMessage(envelope);
      const subject = parseSubject(deltaSubject(tenant, problem, peer)) as ParsedSubject;
      const why = trust.problem(subject, author);
      if (why !== undefined) throw new Error(`${peer}'s ${event.schema} is signed by ${author}: ${why}`);
      if (event.tenant !== tenant || event.problem !== problem) throw new Error(`${peer}'s ${event.schema} belongs to ${event.tenant}/${event.problem}`);
      return event;
    },
    privacyGrant: () => trust.privacyGrant(problem),
    minRoster: options.minRoster ?? 0,
    ...(options.journal === undefined ? {} : { journal: options.journal }),
  });

  const machine = agentMachine.provide({
    actions: {
      publishJoin: () => reportPublish(publishEvent(js, subject, behaviour.joinEvent(joinRound), signer), (e) => actor.send(e), clock),
      publishDelta: ({ context }) => reportPublish(publishEvent(js, subject, behaviour.deltaEvent(context), signer), (e) => actor.send(e), clock),
      publishLeave: ({ event, context }) =>
        reportPublish(
          publishEvent(js, subject, leaveEvent(tenant, problem, agent, context.planRound, event.type === "leave" ? event.reason : "leaving"), signer),
          (e) => actor.send(e.type === "published" ? { type: "leaveRecorded", now: e.now } : e),
          clock,
        ),
    },
  });
  const actor = createActor(machine, { input: { agent, solver: behaviour.solver, planTimeoutMs: options.planTimeoutMs, now: clock() } });
  /** The coordinator's event a stream message carries, if it is one for this problem: only signed events, and only the coordinator's, steer the agent. */
  const steering = (message: StreamMessage): AnyEvent | undefined => {
    const { event, author } = verifyMessage(message.data);
    if (event.tenant !== tenant || event.problem !== problem) return undefined;
    if (!trust.isCoordinator(author))
      throw new Error(`${event.schema} signed by ${author}, which the governance identity has not admitted as a coordinator of ${tenant}`);
    if (options.coordinator !== undefined && author !== options.coordinator)
      throw new Error(`${event.schema} signed by ${author}, not by the coordinator ${options.coordinator}`);
    return event;
  };
  /**
   * Before a message is routed: an unknown signer may have been admitted since the governance events
   * were read; and the problem's first announcement (its open) is judged with every governance event
   * before it (a grant of privacy budget comes before the open it pays for).
   */
  let openJudged = false;
  const vetted = async (message: StreamMessage): Promise<void> => {
    await trust.catchUp(message);
    if (!openJudged && message.subject === roundSubject(tenant, problem)) {
      openJudged = true;
      await trust.upTo(message);
    }
  };
  const route = (message: StreamMessage): void => {
    try {
      const event = steering(message);
      if (event === undefined) return;
      const opening = behaviour.opened(event);
      if (opening !== undefined)
        actor.send("stop" in opening ? { type: "stop", reason: opening.stop, now: clock() } : { type: "opened", agents: opening.agents, now: clock() });
      const plan = behaviour.plan(event);
      if (plan !== undefined) actor.send({ type: "plan", round: event.round, body: plan, now: clock() });
      const reply = behaviour.reply?.(event);
      // A reply the round waits for (a reveal) that cannot be published stops the agent, which says why.
      if (reply !== undefined)
        publishEvent(js, subject, reply, signer).catch((err: Error) =>
          actor.send({ type: "stop", reason: `could not publish its ${reply.schema} for round ${reply.round}: ${err.message}`, now: clock() }),
        );
    } catch (err) {
      options.onUnreadable?.(message.seq, (err as Error).message);
    }
  };
  // What it sent before, if it ran on this problem already (a restart): only what its own key
  // signed counts, so nobody can make it believe it sent something.
  if (behaviour.resume !== undefined) {
    const own: AnyEvent[] = [];
    for await (const message of await readStream(js, EVENTS_STREAM, { filter: subject, untilEnd: true })) {
      try {
        const { event, author } = verifyMessage(message.data);
        if (author === signer.did && event.tenant === tenant && event.problem === problem) own.push(event);
      } catch (err) {
        options.onUnreadable?.(message.seq, (err as Error).message);
      }
    }
    behaviour.resume(own);
  }
  // Open, round and plan events: the problem's round subject (its open and round events) and its
  // plan subject, read as one. Two reads, because an agent may read no other subject of its
  // tenant: a filter with a wildcard where the kind goes would be one on its peers' deltas too.
  const announcements = await readFilters(js, EVENTS_STREAM, [roundSubject(tenant, problem), planSubject(tenant, problem)], nc);
  // An agent that (re)starts on a problem under way acts on its opening and its latest plan
  // only (DESIGN principle 3): answering each older plan would only send deltas too stale to count.
  let [opening, latest]: [StreamMessage | undefined, StreamMessage | undefined] = [undefined, undefined];
  let joinRound = 0;
  let lastRound = -1;
  let finalPlan: AgentPlan | undefined;
  for (const message of announcements.held) {
    await vetted(message);
    try {
      const event = steering(message);
      if (event !== undefined && eventKindOf(event.schema) === "round") lastRound = Math.max(lastRound, event.round);
      if (event !== undefined && behaviour.opened(event) !== undefined) opening ??= message;
      const plan = event === undefined ? undefined : behaviour.plan(event);
      if (event !== undefined && plan !== undefined) [latest, joinRound, finalPlan] = [message, event.round, plan.status === "running" ? undefined : plan];
    } catch (err) {
      options.onUnreadable?.(message.seq, (err as Error).message);
    }
  }
  // A problem that already ended has nothing for a newcomer to do: say so, rather than wait.
  if (finalPlan !== undefined) {
    trust.close();
    return {
      agent,
      status: "finished",
      error: `${tenant}/${problem} already ended (${finalPlan.status} after round ${joinRound}): start another with --problem-id <new id>`,
      rounds: joinRound,
      plan: finalPlan,
    };
  }
  const coordinators = async (message: StreamMessage): Promise<{ kind: string | undefined; round: number } | undefined> => {
    await vetted(message);
    try {
      const event = steering(message);
      return event === undefined ? undefined : { kind: eventKindOf(event.schema), round: event.round };
    } catch {
      return undefined; // its route refuses it, with the reason
    }
  };
  const live = planAfterItsRound(await announcements.live(), lastRound, coordinators);
  const leaving = () => actor.send({ type: "leave", reason: String(options.leave?.reason ?? "leaving"), now: clock() });
  options.leave?.addEventListener("abort", leaving, { once: true });
  try {
    const driving = drive(actor, prepend([opening, latest], live, vetted), { clock, signal: options.signal, route });
    if (options.leave?.aborted) leaving(); // drive has started the actor by now
    await driving;
  } finally {
    options.leave?.removeEventListener("abort", leaving);
    trust.close();
  }
  const snapshot = actor.getSnapshot();
  return {
    agent,
    status: snapshot.value === "converged" || snapshot.value === "left" ? snapshot.value : "failed",
    error: snapshot.context.error,
    rounds: snapshot.context.planRound,
    plan: snapshot.context.plan,
    ...(behaviour.ownValues === undefined ? {} : { values: behaviour.ownValues() }),
  };
}

/** How many plans may wait for their round event: the newest ones (an agent acts on the newest plan only). */
const MAX_HELD_PLANS = 16;

/**
 * The live announcements with each plan after its round event: the two subjects are two reads,
 * and a plan must not overtake the round event before it (the round says which deltas counted,
 * and so what the agent's values are). The coordinator publishes round k, and plan k only once
 * round k is in the stream, so a plan waits here at most for the other read to deliver it.
 * Plans that a newer one of the coordinator supersedes while they wait are skipped, as an
 * agent that (re)starts skips all but the latest: after a cut link, the plan read can deliver
 * a hundred plans before the round read delivers their rounds, and only the newest matters.
 */
export function planAfterItsRound(
  reader: StreamReader,
  lastRound: number,
  coordinators: (message: StreamMessage) => Promise<{ kind: string | undefined; round: number } | undefined>,
): StreamReader<StreamMessage> {
  return {
    stop: () => reader.stop(),
    async *[Symbol.asyncIterator]() {
      let held: { message: StreamMessage; round: number }[] = [];
      for await (const message of reader) {
        // Only the tenant's coordinator's own events of this problem hold or release anything; the rest go on to be refused.
        const what = await coordinators(message);
        if (what?.kind === "plan" && what.round > lastRound) {
          held = [...held, { message, round: what.round }].sort((a, b) => a.round - b.round).slice(-MAX_HELD_PLANS);
          continue;
        }
        yield message;
        if (what?.kind === "round" && what.round > lastRound) {
          lastRound = what.round;
          const due = held.filter((h) => h.round <= lastRound);
          held = held.filter((h) => h.round > lastRound);
          if (due.length > 0) yield due[due.length - 1].message;
        }
      }
    },
  };
}

/** A reader that yields `first` (the defined ones), then what `reader` yields, each once `before` it is done. */
function prepend(
  first: readonly (StreamMessage | undefined)[],
  reader: StreamReader<StreamMessage>,
  before: (message: StreamMessage) => Promise<void>,
): StreamReader<StreamMessage> {
  return {
    async *[Symbol.asyncIterator]() {
      for (const message of first) if (message !== undefined) yield message;
      for await (const message of reader) {
        await before(message);
        yield message;
      }
    },
    stop: () => reader.stop(),
  };
}
