import { createHash } from "node:crypto";
import { zeroWords, type Words } from "./ring.ts";
import {
  maskContribution,
  openShare,
  removeSelfMask,
  scatterAdd,
  sealShare,
  sharedSecret,
  wholeVector,
  type AgreementKey,
  type MaskContext,
  type RosterEntry,
  type Support,
} from "./masks.ts";
import { combineShares, splitSecret, type Share } from "./shamir.ts";

/**
 * One attempt of a secure round, as its parties see it. The coordinator announces the attempt's
 * roster (names and agreement keys, from the agents' signed joins); each agent of it publishes
 * its masked words, a commitment to its self-mask seed and a Shamir share of that seed sealed
 * for each peer. Once every agent of the roster is in, the coordinator takes them all; each
 * agent then reveals its seed, and the sum is the masked words' sum less the self masks.
 *
 * A roster agent that never sends: the attempt is void, nothing was revealed, and the next
 * attempt has fresh seeds and a roster without it. A taken agent that never reveals: its peers
 * open their shares of its seed, so the round closes with the same set (never a second sum of
 * the same round over another set: two sums that differ by one agent are that agent's values).
 */
export type Attempt = { readonly context: MaskContext; readonly roster: readonly RosterEntry[] };

/** What an agent publishes for an attempt, and the seed it keeps until the sum is fixed. */
export type Contribution = {
  readonly masked: Words;
  /** sha256 of the self-mask seed: a reveal, or a seed rebuilt from shares, must match it. */
  readonly commitment: Uint8Array;
  /** A share of the seed for each other agent of the roster, sealed for it. */
  readonly sealedShares: Readonly<Record<string, Uint8Array>>;
  /** A digest of each of those shares (shareDigest), public: the fold checks each share a peer sends back against it. */
  readonly shareDigests: Readonly<Record<string, Uint8Array>>;
  readonly selfSeed: Uint8Array;
};

/** How many shares rebuild a seed: a majority of the roster, so that half of it may drop. */
export const shareThreshold = (rosterSize: number): number => Math.floor(rosterSize / 2) + 1;

export const commitmentOf = (seed: Uint8Array): Uint8Array => new Uint8Array(createHash("sha256").update(seed).digest());

/**
 * What a share's holder must send back, as a digest bound to the attempt and the holder: a
 * share is a uniform point of a random polynomial (threshold 2 at least), so its digest says
 * nothing of the seed, while a wrong share sent back is told from a right one, and blamed on
 * whoever sent it rather than on the share that happened to complete the threshold.
 */
export function shareDigest(context: MaskContext, holder: string, share: Uint8Array): Uint8Array {
  return new Uint8Array(
    createHash("sha256")
      .update(`catopt-share/1\0${context.tenant}\0${context.problem}\0${context.round}\0${context.attempt}\0${holder}\0`)
      .update(share)
      .digest(),
  );
}

/**
 * `random(n)`: n bytes from a secure source (node:crypto's randomBytes at the boundary; a fixed
 * stream in tests). `support`: the words each agent writes (masks.ts; absent: all).
 */
export function contribute(
  own: { readonly name: string; readonly key: AgreementKey },
  attempt: Attempt,
  words: Words,
  random: (bytes: number) => Uint8Array,
  support?: (agent: string) => Support,
): Contribution {
  const selfSeed = random(32);
  const masked = maskContribution(own, attempt.roster, attempt.context, words, selfSeed, support);
  const commitment = commitmentOf(selfSeed);
  const shares = splitSecret(selfSeed, attempt.roster.length, shareThreshold(attempt.roster.length), random);
  const sealedShares: Record<string, Uint8Array> = {};
  const shareDigests: Record<string, Uint8Array> = {};
  attempt.roster.forEach((peer, i) => {
    if (peer.name === own.name) return;
    sealedShares[peer.name] = sealShare(sharedSecret(own.key, peer.publicKey), own.name, peer.name, attempt.context, shares[i].y, commitment);
    shareDigests[peer.name] = shareDigest(attempt.context, peer.name, shares[i].y);
  });
  return { masked, commitment, sealedShares, shareDigests, selfSeed };
}

/** What an agent has revealed so far in a problem: for each round, the one attempt and taken set it revealed for. */
export type RevealRecord = Readonly<Record<number, { readonly attempt: number; readonly taken: readonly string[] }>>;

/**
 * Whether an agent may reveal (its seed, or its share of a peer's) for this attempt: undefined
 * if it may, else why not. Never for a taken set below the threshold (a sum of one or two
 * agents is close to their values), never for a set that is not the whole roster (its masks
 * would not cancel: only a set that leaves someone out needs a reveal to learn anything), and
 * never for a second attempt or another set of a round it revealed for already.
 */
export function revealRefusal(record: RevealRecord, attempt: Attempt, taken: readonly string[], threshold: number): string | undefined {
  const { round, attempt: number } = attempt.context;
  if (taken.length < threshold) return `round ${round} took ${taken.length} agents, below the threshold of ${threshold}`;
  const roster = attempt.roster.map((r) => r.name);
  if (taken.length !== roster.length || roster.some((name) => !taken.includes(name)))
    return `round ${round} took ${[...taken].sort().join(", ")}, not the roster of its attempt ${number} (${[...roster].sort().join(", ")})`;
  const earlier = record[round];
  if (earlier !== undefined && (earlier.attempt !== number || !sameSet(earlier.taken, taken)))
    return `already revealed for attempt ${earlier.attempt} of round ${round} (${[...earlier.taken].sort().join(", ")}): a second sum of the round could tell an agent's values`;
  return undefined;
}

export const recordReveal = (record: RevealRecord, attempt: Attempt, taken: readonly string[]): RevealRecord => ({
  ...record,
  [attempt.context.round]: { attempt: attempt.context.attempt, taken: [...taken] },
});

/** An agent's share of a peer's seed, opened from what the peer sealed for it (with the seed's commitment, from the same message). */
export function openPeerShare(
  own: { readonly name: string; readonly key: AgreementKey },
  attempt: Attempt,
  peer: string,
  sealed: Uint8Array,
  commitment: Uint8Array,
): Share {
  const index = attempt.roster.findIndex((r) => r.name === own.name);
  const entry = attempt.roster.find((r) => r.name === peer);
  if (index < 0 || entry === undefined) throw new RangeError(`${own.name} and ${peer} are not both in the attempt's roster`);
  return { x: index + 1, y: openShare(sharedSecret(own.key, entry.publicKey), peer, own.name, attempt.context, sealed, commitment) };
}

/** A seed from its holders' shares, checked against the agent's commitment. */
export function recoverSeed(shares: readonly Share[], commitment: Uint8Array, rosterSize: number): Uint8Array {
  const threshold = shareThreshold(rosterSize);
  if (shares.length < threshold) throw new RangeError(`${shares.length} shares of a seed, ${threshold} needed`);
  let seed: Uint8Array | undefined;
  try {
    seed = combineShares([...shares].sort((a, b) => a.x - b.x).slice(0, threshold));
  } catch {
    seed = undefined; // not a 32-byte secret: not the committed seed either
  }
  if (seed === undefined || !sameBytes(commitmentOf(seed), commitment)) throw new RangeError("the shares do not give back the seed the agent committed to");
  return seed;
}

/**
 * The sum of the roster's words (a whole vector of `length`): their masked words added (the
 * pairwise masks cancel), less each agent's self mask from its seed, every seed checked against
 * its commitment first.
 */
export function unmaskedSum(
  attempt: Attempt,
  masked: Readonly<Record<string, Words>>,
  seeds: Readonly<Record<string, Uint8Array>>,
  commitments: Readonly<Record<string, Uint8Array>>,
  length: number,
  support: (agent: string) => Support = () => wholeVector(length),
): Words {
  const sum = zeroWords(length);
  for (const { name } of attempt.roster) scatterAdd(sum, masked[name] ?? missing(`no masked words of ${name}`), support(name));
  for (const { name } of attempt.roster) {
    const seed = seeds[name] ?? missing(`no seed of ${name}`);
    if (!sameBytes(commitmentOf(seed), commitments[name] ?? missing(`no commitment of ${name}`)))
      throw new RangeError(`${name}'s seed does not match its commitment`);
  }
  return withoutSelfMasks(
    sum,
    attempt.context,
    attempt.roster.map(({ name }) => ({ seed: seeds[name], support: support(name) })),
  );
}

/** A sum of masked words (a whole vector) less the self masks of the seeds given, each on its agent's support (their pairwise masks cancelled in the sum). */
export function withoutSelfMasks(maskedSum: Words, context: MaskContext, seeds: readonly { readonly seed: Uint8Array; readonly support: Support }[]): Words {
  const sum = maskedSum.slice();
  for (const { seed, support } of seeds) removeSelfMask(sum, seed, context, support);
  return sum;
}

function missing(what: string): never {
  throw new RangeError(what);
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x) => b.includes(x));

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
