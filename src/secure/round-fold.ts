import { eventId, type CatoptEvent } from "../core/event.ts";
import { refuse as reject } from "../core/refusal.ts";
import type { RoundEvent } from "../core/round-rules.ts";
import { commitmentOf, recoverSeed, sameBytes, shareDigest, shareThreshold, withoutSelfMasks } from "./aggregation.ts";
import { MAX_SIGNED_JOIN_BYTES } from "../core/schemas.ts";
import { agreementKeyOf, scatterAdd, sharedSecret, supportLength, wholeVector, type MaskContext, type Support } from "./masks.ts";
import { bytesToWords, wordsToBytes, zeroWords, type Words } from "./ring.ts";

/**
 * The fold's side of secure rounds, whatever the family: which masked contributions it holds,
 * the attempts of a round, the round that waits for its seeds, and a silent agent's seed rebuilt
 * from its peers' shares. Pure; refuses with the reason. A family's fold keeps a `SecureRounds`
 * (and what it adds of its own: its sums) and calls these for the engine's secure events; once a
 * round's seeds are all in, it gets the round's unmasked sum of words and steps on it.
 */

/** A masked contribution (masked/1) not yet taken: words only its round's sum can read. */
export type PendingMasked = {
  readonly agent: string;
  readonly round: number;
  readonly base: number;
  readonly words: Uint8Array;
  readonly commitment: Uint8Array;
  /** The share of its seed it sealed for each peer: relayed should it not reveal (recover/1); and their digests, to check what peers send back. */
  readonly shares: Readonly<Record<string, Uint8Array>>;
  readonly shareDigests: Readonly<Record<string, Uint8Array>>;
};

/** A round whose set is taken, waiting for each taken agent's seed: its masked words' sum, their commitments, the seeds so far. */
export type RevealingRound = {
  readonly round: number;
  readonly took: readonly string[];
  readonly masked: Uint8Array;
  readonly commitments: Readonly<Record<string, Uint8Array>>;
  readonly seeds: Readonly<Record<string, Uint8Array>>;
  /** Each taken agent's shares of its seed, sealed for each peer, and their digests. */
  readonly sealed: Readonly<Record<string, Readonly<Record<string, Uint8Array>>>>;
  readonly digests: Readonly<Record<string, Readonly<Record<string, Uint8Array>>>>;
  /** Asked for by the coordinator (recover/1): the seeds of these agents, from their peers' shares, by holder. */
  readonly recovering?: { readonly missing: readonly string[]; readonly shares: Readonly<Record<string, Readonly<Record<string, Uint8Array>>>> };
};

export type SecureRounds = {
  /** The agents the next round masks among (the plan's roster, or a later attempt's), in the problem's order. */
  readonly roster: readonly string[];
  /** The next round's attempt, when the coordinator tried it again (absent: the first). */
  readonly attempt?: number;
  readonly revealing?: RevealingRound;
};

/** What the rules need of the problem: its names, its agents in order, its threshold, the words of its vector, its last closed round. */
export type SecureProblem = {
  readonly tenant: string;
  readonly problem: string;
  readonly agents: readonly string[];
  readonly threshold: number;
  readonly words: number;
  readonly round: number;
  /** The words each agent writes, which its masked contribution carries (masks.ts Support; absent: every word). */
  readonly support?: (agent: string) => Support;
};

const supportOf = (p: SecureProblem, agent: string): Support => p.support?.(agent) ?? wholeVector(p.words);

/** Where a round's masks belong: the problem, the round and its current attempt. */
const maskContextOf = (p: SecureProblem, s: SecureRounds, round: number): MaskContext => ({
  tenant: p.tenant,
  problem: p.problem,
  round,
  attempt: s.attempt ?? 1,
});

const inOrder = (p: SecureProblem, names: readonly string[]): string[] => p.agents.filter((a) => names.includes(a));

/**
 * An agent's join to a secure problem: its agreement key (one no other agent has, and no
 * low-order point, which could share no secret) and the signed envelope it came in, which every
 * plan relays (bounded: one padded past the plan's bound would make every plan unreadable).
 * Before round 0 only: the rounds mask among the agents that started the problem.
 */
export function checkSecureJoin(
  joined: Readonly<Record<string, { readonly agreementKey?: Uint8Array }>>,
  agent: string,
  key: Uint8Array | undefined,
  envelope: Uint8Array | undefined,
  started: boolean,
  problem: string,
): { readonly agreementKey: Uint8Array; readonly signedJoin: Uint8Array } {
  if (key === undefined) return reject(`agent ${agent} joined a secure problem without an agreement key`);
  if (started) reject(`agent ${agent} joined secure problem ${problem} after it started: its rounds mask among the agents that started it`);
  if (!usableKey(key)) reject(`agent ${agent}'s agreement key is a low-order point: no secret could be shared with it`);
  const twin = Object.entries(joined).find(([other, j]) => other !== agent && j.agreementKey !== undefined && sameBytes(j.agreementKey, key));
  if (twin !== undefined) reject(`agent ${agent}'s agreement key is ${twin[0]}'s`);
  if (envelope === undefined) return reject(`agent ${agent}'s join to a secure problem came without its signed envelope`);
  if (envelope.length > MAX_SIGNED_JOIN_BYTES) reject(`agent ${agent}'s signed join of ${envelope.length} bytes, more than ${MAX_SIGNED_JOIN_BYTES}`);
  // Copies: the stream's buffers may carry a decoder's properties of their own, and outlive this message.
  return { agreementKey: Uint8Array.from(key), signedJoin: Uint8Array.from(envelope) };
}

/** Whether an X25519 public key can share a secret (not a low-order point, which OpenSSL refuses or which gives zero). */
function usableKey(key: Uint8Array): boolean {
  try {
    sharedSecret(KEY_PROBE, key);
    return true;
  } catch {
    return false;
  }
}
const KEY_PROBE = agreementKeyOf(new Uint8Array(32), "catopt", "key-probe");

/**
 * What secure rounds need of any problem: its agents named once (masks and shares are by name),
 * synchronous rounds (a masked contribution counts only in the round it was masked for: its masks
 * cancel only with its roster's), and a threshold its agents can meet.
 */
export function checkSecureRounds(agents: readonly string[], maxStaleness: number, threshold: number): void {
  if (new Set(agents).size !== agents.length) reject("a secure problem names each agent once");
  if (maxStaleness !== 0)
    reject(`a secure problem takes synchronous rounds only (maxStaleness ${maxStaleness}): a masked contribution counts only in its own round`);
  if (threshold > agents.length) reject(`a secure problem's threshold (${threshold}) is more than its ${agents.length} agents`);
}

/**
 * What a running plan of a secure problem carries: the next round's roster with the keys its agents
 * mask with (public: from their signed joins), and those signed joins, so that each agent checks
 * each key against its peer's own signature, not the coordinator's word.
 */
export function planRoster(
  s: SecureRounds,
  joined: Readonly<Record<string, { readonly agreementKey?: Uint8Array; readonly signedJoin?: Uint8Array } | undefined>>,
): { readonly roster: Readonly<Record<string, Uint8Array>>; readonly joins: Readonly<Record<string, Uint8Array>> } {
  return {
    roster: Object.fromEntries(s.roster.map((a) => [a, joined[a]?.agreementKey as Uint8Array])),
    joins: Object.fromEntries(s.roster.map((a) => [a, joined[a]?.signedJoin as Uint8Array])),
  };
}

/** A masked contribution's secure checks (its family checked who may send one): the current attempt, its roster, its layout, its shares. */
export function pendingMasked(p: SecureProblem, s: SecureRounds, event: CatoptEvent<"masked/1">, agent: string): PendingMasked {
  const current = s.attempt ?? 1;
  if (event.body.attempt !== current)
    reject(`masked contribution from ${agent} for attempt ${event.body.attempt} of round ${event.round}, which is at attempt ${current}`);
  if (event.id !== eventId(p.tenant, p.problem, current === 1 ? "masked" : `masked-${current}`, event.round, agent))
    reject(`masked contribution ${event.id} is not ${agent}'s id for attempt ${current} of round ${event.round}`);
  if (!s.roster.includes(agent)) reject(`masked contribution from ${agent}, which is not in round ${event.round}'s roster`);
  const length = supportLength(supportOf(p, agent)) * 8;
  if (event.body.words.length !== length)
    reject(`masked contribution from ${agent} has ${event.body.words.length} bytes, not the ${length} of ${p.problem}'s layout`);
  const peers = Object.keys(event.body.shares);
  const digested = Object.keys(event.body.shareDigests);
  if (
    peers.length !== s.roster.length - 1 ||
    peers.some((peer) => peer === agent || !s.roster.includes(peer)) ||
    digested.length !== peers.length ||
    digested.some((peer) => !peers.includes(peer))
  )
    reject(`masked contribution from ${agent} must seal a share of its seed, and its digest, for each other agent of the roster, and none else`);
  const { words, commitment, shares, shareDigests } = event.body;
  return { agent, round: event.round, base: event.base, words, commitment, shares, shareDigests };
}

/**
 * The coordinator tries the next round again with a smaller roster (agents left, or did not
 * answer): only before anyone revealed anything for it (a second sum of a round over another set
 * could tell an agent's values), never below the threshold. Contributions masked for the earlier
 * attempt are void: the caller drops them.
 */
export function takeAttempt(p: SecureProblem, s: SecureRounds, event: CatoptEvent<"attempt/1">): SecureRounds {
  if (s.revealing !== undefined) reject(`an attempt of round ${event.round} while round ${s.revealing.round} waits for its reveals`);
  if (event.round !== p.round + 1) reject(`an attempt of round ${event.round}; the next round is ${p.round + 1}`);
  const next = (s.attempt ?? 1) + 1;
  if (event.body.attempt !== next) reject(`attempt ${event.body.attempt} of round ${event.round}; the next is ${next}`);
  const roster = event.body.roster;
  const stranger = roster.find((a) => !s.roster.includes(a));
  if (stranger !== undefined) reject(`attempt ${next} of round ${event.round} names ${stranger}, which the last attempt's roster did not`);
  if (new Set(roster).size !== roster.length || roster.length >= s.roster.length)
    reject(`attempt ${next} of round ${event.round} must leave some agent out, naming each once`);
  if (roster.length < p.threshold) reject(`attempt ${next} of round ${event.round} has ${roster.length} agents, below the threshold of ${p.threshold}`);
  return { ...s, attempt: next, roster: inOrder(p, roster) };
}

/** The attempt/1 that tries the next round again without `gone` (left or silent), or undefined when the roster stands or too few would be left. */
export function retryEvent(p: SecureProblem, s: SecureRounds, gone: (agent: string) => boolean): CatoptEvent<"attempt/1"> | undefined {
  if (s.revealing !== undefined) return undefined;
  const roster = s.roster.filter((a) => !gone(a));
  if (roster.length === s.roster.length || roster.length < p.threshold) return undefined;
  const next = (s.attempt ?? 1) + 1;
  const round = p.round + 1;
  return {
    schema: "attempt/1",
    id: eventId(p.tenant, p.problem, `attempt-${next}`, round),
    tenant: p.tenant,
    problem: p.problem,
    round,
    base: p.round,
    body: { attempt: next, roster },
  };
}

/** The recover/1 asking for the seeds of taken agents that have not revealed, or undefined (none missing, asked already, too few shares to rebuild). */
export function recoverEvent(p: SecureProblem, s: SecureRounds): CatoptEvent<"recover/1"> | undefined {
  const waiting = s.revealing;
  if (waiting === undefined || waiting.recovering !== undefined) return undefined;
  const missing = waiting.took.filter((a) => waiting.seeds[a] === undefined);
  if (missing.length === 0 || waiting.took.length - missing.length < shareThreshold(waiting.took.length)) return undefined;
  return {
    schema: "recover/1",
    id: eventId(p.tenant, p.problem, "recover", waiting.round),
    tenant: p.tenant,
    problem: p.problem,
    round: waiting.round,
    base: waiting.round - 1,
    body: {
      attempt: s.attempt ?? 1,
      missing,
      commitments: Object.fromEntries(missing.map((a) => [a, waiting.commitments[a]])),
      sealed: Object.fromEntries(missing.map((a) => [a, waiting.sealed[a]])),
    },
  };
}

/**
 * Round k's masked contributions, as its round event took them: it must take one from every agent
 * of the roster (only then do the pairwise masks cancel), at least the threshold of them; their
 * words are added, and the round waits for the agents' seeds.
 */
export function takeRound(p: SecureProblem, s: SecureRounds, event: RoundEvent, taken: readonly (PendingMasked | { readonly agent: string })[]): SecureRounds {
  if (s.revealing !== undefined) reject(`round ${event.round} closed while round ${s.revealing.round} waits for its reveals`);
  const took = taken.map((d) => d.agent);
  const missing = s.roster.filter((a) => !took.includes(a));
  if (missing.length > 0 || took.length !== s.roster.length)
    reject(`round ${event.round} of a secure problem must take every agent of its roster (missing: ${missing.join(", ") || "none"})`);
  if (took.length < p.threshold) reject(`round ${event.round} took ${took.length} agents, below the secure threshold of ${p.threshold}`);
  const sum = zeroWords(p.words);
  const commitments: Record<string, Uint8Array> = {};
  const sealed: Record<string, Readonly<Record<string, Uint8Array>>> = {};
  const digests: Record<string, Readonly<Record<string, Uint8Array>>> = {};
  for (const d of taken) {
    if (!("words" in d)) return reject(`round ${event.round} of a secure problem took ${d.agent}'s plain delta`);
    scatterAdd(sum, bytesToWords(d.words), supportOf(p, d.agent));
    commitments[d.agent] = d.commitment;
    sealed[d.agent] = d.shares;
    digests[d.agent] = d.shareDigests;
  }
  return { ...s, revealing: { round: event.round, took, masked: wordsToBytes(sum), commitments, seeds: {}, sealed, digests } };
}

/** What a reveal or a share leaves: the waiting round, and once every seed is in, its unmasked sum. */
export type Revealed = { readonly secure: SecureRounds; readonly sum?: Words };

/** A taken agent's seed: checked against its commitment and against the set it names. */
export function takeReveal(p: SecureProblem, s: SecureRounds, event: CatoptEvent<"reveal/1">, agent: string): Revealed {
  const waiting = s.revealing ?? reject(`a reveal from ${agent} for round ${event.round}, which waits for none`);
  if (event.round !== waiting.round) reject(`a reveal from ${agent} for round ${event.round}; round ${waiting.round} waits for its reveals`);
  if (!waiting.took.includes(agent)) reject(`a reveal from ${agent}, which round ${waiting.round} did not take`);
  if (waiting.seeds[agent] !== undefined) reject(`${agent} revealed twice for round ${waiting.round}`);
  if (event.body.attempt !== (s.attempt ?? 1))
    reject(`${agent} revealed for attempt ${event.body.attempt} of round ${waiting.round}, which took attempt ${s.attempt ?? 1}`);
  const named = event.body.took;
  if (named.length !== waiting.took.length || waiting.took.some((a) => !named.includes(a)))
    reject(`${agent}'s reveal names the set ${named.join(", ")}, not the ${waiting.took.join(", ")} round ${waiting.round} took`);
  if (!sameBytes(commitmentOf(event.body.seed), waiting.commitments[agent])) reject(`${agent}'s seed for round ${waiting.round} does not match its commitment`);
  return settle(p, s, { ...waiting, seeds: { ...waiting.seeds, [agent]: event.body.seed } });
}

/**
 * The coordinator asks for the seeds of taken agents that did not reveal: exactly those, with
 * the commitments and sealed shares they sent (the fold holds both: a relay that differs is
 * refused), once a round, while the taken set stays the same.
 */
export function takeRecover(s: SecureRounds, event: CatoptEvent<"recover/1">): SecureRounds {
  const waiting = s.revealing ?? reject(`a recovery for round ${event.round}, which waits for no reveal`);
  if (event.round !== waiting.round || event.body.attempt !== (s.attempt ?? 1))
    reject(`a recovery for attempt ${event.body.attempt} of round ${event.round}, not the round waiting`);
  if (waiting.recovering !== undefined) reject(`round ${waiting.round} is already recovering ${waiting.recovering.missing.join(", ")}`);
  // What it asks for is what was missing when it asked: a seed revealed since is simply not needed.
  const missing = waiting.took.filter((a) => waiting.seeds[a] === undefined);
  const asked = event.body.missing;
  if (new Set(asked).size !== asked.length || asked.some((a) => !waiting.took.includes(a)) || missing.some((a) => !asked.includes(a)))
    reject(`a recovery for round ${waiting.round} must ask for the seeds of ${missing.join(", ")} (of agents it took, each once)`);
  if (missing.length === 0) reject(`a recovery for round ${waiting.round}, whose seeds are all in`);
  for (const a of missing) {
    if (!sameBytes(event.body.commitments[a] ?? new Uint8Array(0), waiting.commitments[a])) reject(`a recovery relays another commitment for ${a}`);
    const relayed = event.body.sealed[a] ?? {};
    const held = waiting.sealed[a];
    if (Object.keys(relayed).length !== Object.keys(held).length || Object.entries(held).some(([peer, b]) => !sameBytes(relayed[peer] ?? new Uint8Array(0), b)))
      reject(`a recovery relays other sealed shares than ${a} sent`);
  }
  return { ...s, revealing: { ...waiting, recovering: { missing, shares: {} } } };
}

/**
 * A taken agent's shares of the seeds asked for: each kept by holder and checked against the
 * digest its sealer published; once a majority of the taken set holds a seed's shares, the seed is
 * rebuilt and checked against its commitment.
 */
export function takeShares(p: SecureProblem, s: SecureRounds, event: CatoptEvent<"share/1">, holder: string): Revealed {
  const waiting = s.revealing ?? reject(`shares from ${holder} for round ${event.round}, which waits for none`);
  const recovering = waiting.recovering ?? reject(`shares from ${holder} for round ${event.round}, whose seeds nobody asked for`);
  if (event.round !== waiting.round || event.body.attempt !== (s.attempt ?? 1))
    reject(`shares from ${holder} for attempt ${event.body.attempt} of round ${event.round}, not the round recovering`);
  if (!waiting.took.includes(holder) || recovering.missing.includes(holder))
    reject(`shares from ${holder}, which does not hold shares for round ${waiting.round}`);
  const of = Object.keys(event.body.shares);
  if (of.length === 0 || of.some((a) => !recovering.missing.includes(a)))
    reject(`shares from ${holder} of ${of.join(", ") || "nothing"}, not of the seeds asked for`);
  if (of.some((a) => recovering.shares[a]?.[holder] !== undefined)) reject(`${holder} sent its shares for round ${waiting.round} twice`);
  const shares = { ...recovering.shares };
  for (const a of of) shares[a] = { ...shares[a], [holder]: event.body.shares[a] };
  const context = maskContextOf(p, s, waiting.round);
  for (const a of of)
    if (!sameBytes(shareDigest(context, holder, event.body.shares[a]), waiting.digests[a]?.[holder] ?? new Uint8Array(0)))
      reject(`${holder}'s share of ${a}'s seed is not the one ${a} sealed for it`);
  const ordered = inOrder(p, waiting.took);
  const seeds = { ...waiting.seeds };
  for (const a of of) {
    const held = Object.entries(shares[a] ?? {});
    if (seeds[a] !== undefined || held.length < shareThreshold(ordered.length)) continue;
    try {
      seeds[a] = recoverSeed(
        held.map(([h, y]) => ({ x: ordered.indexOf(h) + 1, y })),
        waiting.commitments[a],
        ordered.length,
      );
    } catch {
      // Every share matched the digest its sealer published: the sealer's own shares lie. Nothing rebuilds its seed, and the
      // round goes no further (the coordinator fails it at its timeout); the share itself was right, so it is kept.
    }
  }
  return settle(p, s, { ...waiting, seeds, recovering: { ...recovering, shares } });
}

/** The round waits on, or, every seed in, its sum: the masked words' less each self mask. */
function settle(p: SecureProblem, s: SecureRounds, revealing: RevealingRound): Revealed {
  if (revealing.took.some((a) => revealing.seeds[a] === undefined)) return { secure: { ...s, revealing } };
  const sum = withoutSelfMasks(
    bytesToWords(revealing.masked),
    maskContextOf(p, s, revealing.round),
    revealing.took.map((agent) => ({ seed: revealing.seeds[agent], support: supportOf(p, agent) })),
  );
  return { secure: { ...s, revealing }, sum };
}
