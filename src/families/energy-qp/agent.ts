import { eventId, type AnyEvent, type CatoptEvent } from "../../core/event.ts";
import { createHash } from "node:crypto";
import { encode, type Wire } from "../../core/codec.ts";
import type { AgentTools, AgentView, FamilyAgent } from "../../core/family.ts";
import { contribute, recordReveal, revealRefusal, sameBytes, type Attempt, type RevealRecord } from "../../secure/aggregation.ts";
import { agreementKeyOf, openShare, sharedSecret, type AgreementKey } from "../../secure/masks.ts";
import { wordsToBytes } from "../../secure/ring.ts";
import { secretStream } from "../../secure/secret-stream.ts";
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
  let key: AgreementKey | undefined;
  /** Peers' keys, each checked against the peer's own signed join once, then held: no plan may change them. */
  let pinned: Readonly<Record<string, Uint8Array>> | undefined;
  const rosters = new Map<number, readonly string[]>(); // by the round of the plan that named it
  const attempts = new Map<number, { readonly attempt: number; readonly roster: readonly string[] }>(); // later attempts, by round
  const views = new Map<number, AgentView>(); // what each round's contribution answered
  const seeds = new Map<string, Uint8Array>(); // by round/attempt
  let revealed: RevealRecord = {};
  let maskedBefore = false; // a restart finds masked contributions of its own: see opened()
  /**
   * With noise: the rounds governance's grant pays for (and the open declares), as the agent reads the
   * pinned trust root's events itself. It reveals for no round past them, so what it releases stays
   * within the grant whatever the coordinator publishes; the fold ends the problem at the same round.
   */
  let paidRounds = 0;
  const ownRound = (id: string): number | undefined => {
    const [t, p, kind, round, owner, ...rest] = id.split("/");
    const ours = kind === "delta" || kind === "masked" || /^masked-\d+$/.test(kind ?? "");
    if (t !== tenant || p !== problem || !ours || owner !== local.owner || rest.length > 0) return undefined;
    return /^\d+$/.test(round) ? Number(round) : undefined;
  };
  const secret = (): Uint8Array => tools?.secret ?? fail(`agent ${local.owner} has no secret to derive its agreement key from`);
  const secureKey = (): AgreementKey => {
    key ??= agreementKeyOf(secret(), tenant, problem);
    return key;
  };
  const inProblemOrder = (names: Iterable<string>): string[] => {
    const set = new Set(names);
    return (spec?.agents ?? []).filter((a) => set.has(a));
  };
  /** The fewest agents this agent masks among: the problem's threshold, and a majority of the roster it started with (no coordinator whittles a round down to it and a colluder). */
  const fewest = (): number => Math.max(spec?.secure?.threshold ?? 2, Math.floor(Object.keys(pinned ?? {}).length / 2) + 1);
  /** Round `round`'s current attempt: the plan's roster, or a later attempt's part of it, with the pinned keys. */
  const attemptOf = (round: number): Attempt => {
    const later = attempts.get(round);
    const names = later?.roster ?? rosters.get(round - 1) ?? [];
    const keys = pinned ?? {};
    return { context: { tenant, problem, round, attempt: later?.attempt ?? 1 }, roster: names.map((name) => ({ name, publicKey: keys[name] })) };
  };
  /** A plan's roster, checked: the first against each peer's own signed join (the trust root admitted it as that agent), then against those keys. */
  const checkRoster = (roster: Readonly<Record<string, Uint8Array>>, joins: Readonly<Record<string, Uint8Array>> | undefined): readonly string[] => {
    const names = Object.keys(roster);
    if (names.length === 0) fail(`a running plan of secure problem ${problem} names no roster`);
    const strangers = names.filter((n) => !(spec?.agents ?? []).includes(n));
    if (strangers.length > 0) fail(`a plan's roster names ${strangers.join(", ")}, not agents of ${problem}`);
    if (!names.includes(local.owner)) return []; // not ours to mask: we left, or were never in
    const held: Record<string, Uint8Array> = { ...pinned };
    for (const name of names) {
      const known = held[name];
      if (known !== undefined) {
        if (!sameBytes(known, roster[name])) fail(`a plan gives ${name} the key ${hex(roster[name])}, not the ${hex(known)} of its signed join`);
        continue;
      }
      const join = (tools ?? fail("no tools to check a peer's join with")).peerEvent(
        joins?.[name] ?? fail(`a plan's roster names ${name} without its signed join`),
        name,
      );
      if (join.schema !== "join/2" || join.body.agreementKey === undefined || !sameBytes(join.body.agreementKey, roster[name]))
        fail(`a plan gives ${name} a key its signed join does not`);
      held[name] = roster[name];
    }
    if (!sameBytes(held[local.owner], secureKey().publicKey)) fail(`a plan gives ${local.owner} a key that is not its own`);
    pinned = held;
    if (names.length < fewest()) fail(`a plan's roster has ${names.length} agents, fewer than the ${fewest()} ${local.owner} masks among`);
    return inProblemOrder(names);
  };
  /** Another attempt of a round: only a later one, only a smaller part of the last roster, never below the fewest. */
  const checkAttempt = (event: CatoptEvent<"attempt/1">): void => {
    const current = attemptOf(event.round);
    const before = current.roster.map((r) => r.name);
    const { attempt, roster } = event.body;
    if (attempt <= current.context.attempt) fail(`attempt ${attempt} of round ${event.round}, after attempt ${current.context.attempt}`);
    if (revealed[event.round] !== undefined) fail(`attempt ${attempt} of round ${event.round}, for which ${local.owner} revealed already`);
    if (new Set(roster).size !== roster.length || roster.length >= before.length || roster.some((a) => !before.includes(a)))
      fail(`attempt ${attempt} of round ${event.round} must leave some of ${before.join(", ")} out, naming each once`);
    if (roster.length < fewest())
      fail(`attempt ${attempt} of round ${event.round} has ${roster.length} agents, fewer than the ${fewest()} ${local.owner} masks among`);
  };
  const masked = (view: AgentView): AnyEvent => {
    const round = view.planRound + 1;
    const attempt = attemptOf(round);
    const { attempt: number } = attempt.context;
    const made = maskedEvent(
      tenant,
      problem,
      local,
      spec as ProblemSpec,
      view,
      secureKey(),
      attempt,
      (words) =>
        // Seeds for this attempt from our secret and what we mask: masking other values or another roster never reuses one.
        secretStream(secret(), `mask\0${tenant}\0${problem}\0${round}\0${number}\0${hex(digestOf(attempt, words))}`),
      random,
    );
    seeds.set(`${round}/${number}`, made.selfSeed);
    return made.event;
  };
  return {
    name: local.owner,
    solver: qpSolver(local),
    equip: (given) => {
      tools = given;
    },
    joinEvent: (round) => {
      const event = joinEvent(tenant, problem, local, round);
      return spec?.secure === undefined ? event : { ...event, body: { ...event.body, agreementKey: secureKey().publicKey } };
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
      for (const event of own) {
        if (event.schema === "delta/1" && !sent.has(event.round)) sent.set(event.round, event.body.entries);
        if (event.schema === "masked/1") maskedBefore = true;
        if (event.schema === "reveal/1") revealed = { ...revealed, [event.round]: { attempt: event.body.attempt ?? 1, taken: event.body.took } };
      }
    },
    opened: (event) => {
      if (event.schema !== "open/1") return undefined;
      // The first open only (the runner may show it twice): another is refused by the fold, and must not change our mind.
      if (spec !== undefined) return sameBytes(encode(event.body as unknown as Wire), encode(spec as unknown as Wire)) ? { agents: spec.agents } : undefined;
      spec = event.body;
      // Its values live only in masked words: a restarted agent would answer with other values under the same masks.
      if (spec.secure !== undefined && maskedBefore)
        return {
          stop: `${local.owner} sent masked contributions to secure problem ${problem} before it restarted, and cannot resume it (its values are only in masked words): start it under a new --problem-id`,
        };
      if (spec.secure?.noise !== undefined) {
        const grant = tools?.privacyGrant();
        if (grant === undefined)
          return {
            stop: `governance granted problem ${problem} no privacy budget (privacy-grant/1): ${local.owner} does not add its values to its noisy sums`,
          };
        paidRounds = Math.min(spec.admm.maxRounds, Math.floor((grant.rho / roundPrivacyCost(spec)) * (1 + 1e-12)));
      }
      return { agents: event.body.agents };
    },
    plan: (event): QpPlan | undefined => {
      if (event.schema === "attempt/1") {
        if (spec?.secure === undefined) return undefined;
        checkAttempt(event);
        attempts.set(event.round, { attempt: event.body.attempt, roster: inProblemOrder(event.body.roster) });
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
        return undefined;
      }
      // An older coordinator's plan/1 says every agent's values: ours is among them.
      if (event.schema === "plan/1") return { ...event.body, committed: event.body.allocations[local.owner] ?? {} };
      if (event.schema === "plan/2") {
        if (spec?.secure !== undefined && event.body.status === "running") {
          // One roster a round: a second plan for a round (the fold refuses it) must not move what we masked for.
          const roster = checkRoster(event.body.roster ?? {}, event.body.joins);
          const before = rosters.get(event.round);
          if (before !== undefined && before.join() !== roster.join()) fail(`a second plan for round ${event.round} names another roster`);
          rosters.set(event.round, roster);
        }
        return { ...event.body, committed };
      }
      return undefined;
    },
    ownValues: () => committed,
    reply: (event) => {
      if (spec?.secure === undefined) return undefined;
      if (event.schema === "round/2" && event.round >= 1) return reveal(event);
      // Another attempt of a round we answered, with us in its roster: mask again, afresh.
      const view = views.get(event.round);
      if (event.schema === "attempt/1" && view !== undefined && event.body.roster.includes(local.owner)) return masked(view);
      if (event.schema === "recover/1") return shares(event);
      return undefined;
    },
  };

  /**
   * Our shares of the seeds of taken peers that did not reveal: only for the attempt and set we
   * revealed for ourselves (so the coordinator learns that set's sum, which it was owed, and
   * nothing else), opened from what each sealed for us.
   */
  function shares(event: CatoptEvent<"recover/1">): AnyEvent {
    const record = revealed[event.round] ?? fail(`${local.owner} is asked for shares of round ${event.round}, which it did not reveal for`);
    const attempt = attemptOf(event.round);
    if (record.attempt !== event.body.attempt || attempt.context.attempt !== event.body.attempt)
      fail(`${local.owner} is asked for shares of attempt ${event.body.attempt} of round ${event.round}; it revealed for attempt ${record.attempt}`);
    const missing = event.body.missing;
    if (missing.includes(local.owner) || missing.some((a) => !record.taken.includes(a)))
      fail(`${local.owner} is asked for shares of ${missing.join(", ")}, not all of the others round ${event.round} took`);
    // Each peer's share on its own: one that does not open (a hostile peer sealed garbage) holds back no other.
    const opened = Object.fromEntries(
      missing.flatMap((peer) => {
        const sealed = event.body.sealed[peer]?.[local.owner];
        const commitment = event.body.commitments[peer];
        const publicKey = pinned?.[peer];
        if (sealed === undefined || commitment === undefined || publicKey === undefined) return [];
        try {
          return [[peer, openShare(sharedSecret(secureKey(), publicKey), peer, local.owner, attempt.context, sealed, commitment)] as const];
        } catch {
          return [];
        }
      }),
    );
    if (Object.keys(opened).length === 0) fail(`${local.owner} opens none of the shares asked for in round ${event.round}`);
    return {
      schema: "share/1",
      id: eventId(tenant, problem, "share", event.round, local.owner),
      tenant,
      problem,
      round: event.round,
      base: event.round - 1,
      body: { attempt: event.body.attempt, shares: opened },
    };
  }

  /** Our seed for a round that took our masked contribution: unless the set or the round forbids it. */
  function reveal(event: CatoptEvent<"round/2">): AnyEvent | undefined {
    const attempt = attemptOf(event.round);
    const number = attempt.context.attempt;
    const seed = seeds.get(`${event.round}/${number}`);
    const kind = number === 1 ? "masked" : `masked-${number}`;
    if (seed === undefined || !event.body.took.includes(eventId(tenant, problem, kind, event.round, local.owner))) return undefined; // not ours to reveal
    // Every id must be a contribution to this attempt of this round, each agent's once.
    const taken = event.body.took.map((id) => {
      const name = id.split("/")[4] ?? "";
      if (id !== eventId(tenant, problem, kind, event.round, name)) fail(`round ${event.round} took ${id}, not a contribution to its attempt ${number}`);
      return name;
    });
    if (new Set(taken).size !== taken.length) fail(`round ${event.round} took one agent's contribution twice`);
    if (spec?.secure?.noise !== undefined && event.round > paidRounds)
      fail(`${local.owner} does not reveal for round ${event.round}: the privacy budget governance granted problem ${problem} pays for ${paidRounds} rounds`);
    const threshold = Math.max(spec?.secure?.threshold ?? 2, fewest());
    const refusal = revealRefusal(revealed, attempt, taken, threshold);
    if (refusal !== undefined) fail(`${local.owner} does not reveal its mask: ${refusal}`);
    revealed = recordReveal(revealed, attempt, taken);
    return {
      schema: "reveal/1",
      id: eventId(tenant, problem, "reveal", event.round, local.owner),
      tenant,
      problem,
      round: event.round,
      base: event.round - 1,
      body: { seed, took: taken, attempt: number },
    };
  }
}

function fail(reason: string): never {
  throw new Error(reason);
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

/** What an attempt's masks depend on, with the words masked: its roster (names and keys, in order) and the words. */
function digestOf(attempt: Attempt, words: Uint8Array | BigUint64Array): Uint8Array {
  const hash = createHash("sha256");
  for (const { name, publicKey } of attempt.roster) hash.update(name).update("\0").update(publicKey);
  hash.update(new Uint8Array(words.buffer, words.byteOffset, words.byteLength));
  return new Uint8Array(hash.digest());
}

/**
 * A masked contribution (masked/1) for the plan in `view`: our values, their squares, our step's
 * and our objective, in the problem's fixed point, masked for the attempt's roster (with noise: our
 * values clipped, with our share of the round's noise from `noiseRandom`, and nothing else).
 */
export function maskedEvent(
  tenant: string,
  problem: string,
  local: LocalProblem,
  spec: ProblemSpec,
  view: AgentView,
  key: AgreementKey,
  attempt: Attempt,
  randomFor: (words: BigUint64Array) => (bytes: number) => Uint8Array,
  noiseRandom: RandomSource = cryptoRandom(),
): { readonly event: CatoptEvent<"masked/1">; readonly selfSeed: Uint8Array } {
  const settings =
    spec.secure ??
    (() => {
      throw new Error(`problem ${problem} is not secure`);
    })();
  const proposed = (view.proposed ?? {}) as Readonly<Record<string, number>>;
  const words = contributionWords(spec, settings, proposed, (view.committed ?? {}) as Readonly<Record<string, number>>, localObjective(local, proposed), {
    random: noiseRandom,
  });
  const c = contribute({ name: local.owner, key }, attempt, words, randomFor(words));
  const round = view.planRound + 1;
  const number = attempt.context.attempt;
  return {
    event: {
      schema: "masked/1",
      id: eventId(tenant, problem, number === 1 ? "masked" : `masked-${number}`, round, local.owner),
      tenant,
      problem,
      round,
      base: view.planRound,
      body: { attempt: number, words: wordsToBytes(c.masked), commitment: c.commitment, shares: c.sealedShares, shareDigests: c.shareDigests },
    },
    selfSeed: c.selfSeed,
  };
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
