import { eventId, type AnyEvent, type CatoptEvent } from "../../core/event.ts";
import { encode, type Wire } from "../../core/codec.ts";
import type { AgentTools, AgentView, FamilyAgent } from "../../core/family.ts";
import { sameBytes } from "../../secure/aggregation.ts";
import { secureParticipant } from "../../secure/participant.ts";
import type { Words } from "../../secure/ring.ts";
import { cryptoRandom, type RandomSource } from "../../secure/discrete-gaussian.ts";
import { contributionWords, roundPrivacyCost } from "./secure-layout.ts";
import type { ProblemSpec } from "./schemas.ts";
import { localObjective } from "./local-problem.ts";
import { MAX_MAGNITUDE } from "../../core/validate.ts";
import type { LocalProblem } from "./local-problem.ts";
import { qpDelta, qpSolver, type QpPlan } from "./qp-solver.ts";

/**
 * An owner's agent of an energy QP: it joins with its resources and box, and answers each plan
 * with a delta/1 of what changed. Plans carry no agent's values (plan/2): its own, as the fold
 * holds them, are what the round events say the rounds took of its deltas (all of them in
 * synchronous rounds). A restarted agent rebuilds them from the stream: its own deltas (resume),
 * then the round events, read in order.
 *
 * In a secure problem (its open event says so) it joins with its agreement key, answers each
 * plan with a masked contribution for the plan's roster instead of a delta, and reveals its
 * self-mask seed once a round's event shows the whole roster taken (src/secure/aggregation.ts
 * revealRefusal says when it must not). Its keys and seeds derive from its identity's seed.
 *
 * With noise (the open's `secure.noise`), its contribution is its values clipped, with its share of
 * the round's discrete Gaussian noise drawn from `random` (node:crypto unless a test gives its own),
 * and it reveals for no round past the open's maxRounds: whatever a coordinator asks, its own
 * releases stay within what the problem declared.
 */
export function qpAgent(tenant: string, problem: string, local: LocalProblem, random: RandomSource = cryptoRandom()): FamilyAgent {
  const sent = new Map<number, Readonly<Record<string, number>>>();
  let committed: Readonly<Record<string, number>> = {};
  let lastRound = -1; // the last round event taken: each counts once, in order, as in the fold
  let spec: ProblemSpec | undefined;
  let tools: AgentTools | undefined;
  const views = new Map<number, AgentView>(); // what each round's contribution answered
  /**
   * With noise: the rounds governance's grant pays for (and the open declares), as the agent reads the
   * pinned trust root's events itself. It reveals for no round past them, so what it releases stays
   * within the grant whatever the coordinator publishes; the fold ends the problem at the same round.
   */
  let paidRounds = 0;
  /** Why it must not take part, once it saw the open: held, so every showing of the open says it. */
  let stopped: string | undefined;
  const stopReason = (open: ProblemSpec): string | undefined => {
    // Its values live only in masked words: a restarted agent with no journal of them would answer with other values under the same masks.
    if (open.secure !== undefined && secure.maskedBefore())
      return `${local.owner} sent masked contributions to secure problem ${problem} before it restarted, and its journal does not hold them (its values are only in masked words): start it under a new --problem-id`;
    if (open.secure?.noise === undefined) return undefined;
    const grant = tools?.privacyGrant();
    if (grant === undefined)
      return `governance granted problem ${problem} no privacy budget (privacy-grant/1): ${local.owner} does not add its values to its noisy sums`;
    paidRounds = Math.min(open.admm.maxRounds, Math.floor((grant.rho / roundPrivacyCost(open)) * (1 + 1e-12)));
    return undefined;
  };
  const secure = secureParticipant({
    tenant,
    problem,
    owner: local.owner,
    agents: () => spec?.agents ?? [],
    threshold: () => spec?.secure?.threshold ?? 2,
    tools: () => tools,
    joinKey: (join) => (join.schema === "join/2" ? join.body.agreementKey : undefined),
    revealLimit: () => (spec?.secure?.noise === undefined ? Number.POSITIVE_INFINITY : paidRounds),
  });
  const ownRound = (id: string): number | undefined => {
    const [t, p, kind, round, owner, ...rest] = id.split("/");
    const ours = kind === "delta" || kind === "masked" || /^masked-\d+$/.test(kind ?? "");
    if (t !== tenant || p !== problem || !ours || owner !== local.owner || rest.length > 0) return undefined;
    return /^\d+$/.test(round) ? Number(round) : undefined;
  };
  const masked = (view: AgentView): AnyEvent => secure.mask(view.planRound + 1, maskedWords(local, spec as ProblemSpec, view, random), view.proposed ?? {});
  return {
    name: local.owner,
    solver: qpSolver(local),
    equip: (given) => {
      tools = given;
    },
    joinEvent: (round) => {
      const event = joinEvent(tenant, problem, local, round);
      return spec?.secure === undefined ? event : { ...event, body: { ...event.body, agreementKey: secure.publicKey() } };
    },
    deltaEvent: (view) => {
      if (spec?.secure === undefined) {
        const event = deltaEvent(tenant, problem, local, view);
        if (!sent.has(event.round)) sent.set(event.round, event.body.entries);
        return event;
      }
      const round = view.planRound + 1;
      views.set(round, view);
      if (!sent.has(round)) sent.set(round, (view.proposed ?? {}) as Readonly<Record<string, number>>);
      return masked(view);
    },
    resume: (own) => {
      for (const event of own) if (event.schema === "delta/1" && !sent.has(event.round)) sent.set(event.round, event.body.entries);
      secure.resume(own);
      // What its journaled contributions stood for: the round events then rebuild its committed values, as the fold took them.
      for (const [round, values] of secure.journaled()) if (!sent.has(round)) sent.set(round, values as Readonly<Record<string, number>>);
    },
    opened: (event) => {
      if (event.schema !== "open/1") return undefined;
      // The first open only (the runner may show it twice): another is refused by the fold, and must not change our mind;
      // and a reason to stop holds on every showing of it (the runner acts on the second).
      if (spec !== undefined) {
        if (!sameBytes(encode(event.body as unknown as Wire), encode(spec as unknown as Wire))) return undefined;
        return stopped === undefined ? { agents: spec.agents } : { stop: stopped };
      }
      spec = event.body;
      stopped = stopReason(spec);
      return stopped === undefined ? { agents: event.body.agents } : { stop: stopped };
    },
    plan: (event): QpPlan | undefined => {
      if (event.schema === "attempt/1") {
        if (spec?.secure !== undefined) secure.takeAttempt(event);
        return undefined;
      }
      if (event.schema === "round/2") {
        if (event.round !== lastRound + 1) return undefined; // one the fold refuses as out of order
        lastRound = event.round;
        for (const id of event.body.took) {
          const round = ownRound(id);
          // A secure round takes only contributions to itself.
          const entries = round === undefined || (spec?.secure !== undefined && round !== event.round) ? undefined : sent.get(round);
          if (entries !== undefined) committed = { ...committed, ...entries };
        }
        // What no round may take, nor attempt ask for, any more: a contribution for round r counts up to round r + maxStaleness.
        const stale = event.round - (spec?.admm.maxStaleness ?? 0);
        for (const round of sent.keys()) if (round < stale) sent.delete(round);
        for (const round of views.keys()) if (round < event.round) views.delete(round);
        return undefined;
      }
      // An older coordinator's plan/1 says every agent's values: ours is among them.
      if (event.schema === "plan/1") return { ...event.body, committed: event.body.allocations[local.owner] ?? {} };
      if (event.schema === "plan/2") {
        if (spec?.secure !== undefined && event.body.status === "running") secure.takeRoster(event.round, event.body.roster ?? {}, event.body.joins);
        return { ...event.body, committed };
      }
      return undefined;
    },
    ownValues: () => committed,
    reply: (event) => {
      if (spec?.secure === undefined) return undefined;
      if (event.schema === "round/2" && event.round >= 1) return secure.reveal(event);
      // Another attempt of a round we answered, with us in its roster: mask again, afresh.
      const view = views.get(event.round);
      if (event.schema === "attempt/1" && view !== undefined && event.body.roster.includes(local.owner)) return masked(view);
      if (event.schema === "recover/1") return secure.shares(event);
      return undefined;
    },
  };
}

/**
 * Our words for the plan in `view`: our values, their squares, our step's and our objective, in the
 * problem's fixed point (with noise: our values clipped, with our share of the round's noise from
 * `noiseRandom`, and nothing else); secure/participant.ts masks them for the attempt's roster.
 */
export function maskedWords(local: LocalProblem, spec: ProblemSpec, view: AgentView, noiseRandom: RandomSource): Words {
  const settings =
    spec.secure ??
    (() => {
      throw new Error("the problem is not secure");
    })();
  const proposed = (view.proposed ?? {}) as Readonly<Record<string, number>>;
  return contributionWords(spec, settings, proposed, (view.committed ?? {}) as Readonly<Record<string, number>>, localObjective(local, proposed), {
    random: noiseRandom,
  });
}

/** The agent's own events, as pure functions of its problem and what its machine decided. */
export function joinEvent(tenant: string, problem: string, local: LocalProblem, round = 0): CatoptEvent<"join/2"> {
  return {
    schema: "join/2",
    id: eventId(tenant, problem, "join", round, local.owner),
    tenant,
    problem,
    round,
    base: round - 1,
    body: {
      resources: local.variables.map((v) => v.resource),
      lower: Object.fromEntries(local.variables.map((v) => [v.resource, -coarseBound(-v.lower)])),
      upper: Object.fromEntries(local.variables.map((v) => [v.resource, coarseBound(v.upper)])),
    },
  };
}

/**
 * The least power of two at or above `bound` (0 for a bound at or below 0; at most the bound on
 * every number, MAX_MAGNITUDE, which holds every bound a local problem may have). The join declares
 * the agent's box rounded outward like this: the fold can then refuse a value the agent could
 * never hold, while readers of the stream learn only the bounds' signs and orders of magnitude,
 * not the owner's limits. The box always holds 0, where a late joiner's values start.
 */
export function coarseBound(bound: number): number {
  if (bound <= 0) return 0;
  // log2 rounds: a bound a few ulps above a power of two can come out at that power, inside it.
  const power = 2 ** Math.ceil(Math.log2(bound));
  return Math.min(power < bound ? power * 2 : power, MAX_MAGNITUDE);
}

export function deltaEvent(tenant: string, problem: string, local: LocalProblem, context: AgentView): CatoptEvent<"delta/1"> {
  const { round, base, entries, objective } = qpDelta(local, context);
  return { schema: "delta/1", id: eventId(tenant, problem, "delta", round, local.owner), tenant, problem, round, base, body: { entries, objective } };
}
