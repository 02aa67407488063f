import { createHash } from "node:crypto";
import { encodeEvent, eventId, type AnyEvent, type CatoptEvent } from "../core/event.ts";
import type { AgentTools, JournalEntry } from "../core/family.ts";
import { commitmentOf, contribute, recordReveal, revealRefusal, sameBytes, type Attempt, type RevealRecord } from "./aggregation.ts";
import { agreementKeyOf, openShare, sharedSecret, type AgreementKey, type Support } from "./masks.ts";
import { wordsToBytes, type Words } from "./ring.ts";
import { secretStream } from "./secret-stream.ts";

/**
 * An agent's side of secure rounds, whatever its family: the keys it masks among, the attempts it
 * takes, its masked contributions, and when it reveals its seed or its shares of a silent peer's.
 * A family's agent hands it its words and the coordinator's events; everything here is a rule the
 * agent keeps whatever the coordinator says:
 *
 * - it masks only among keys its peers signed themselves (each plan relays the roster's signed
 *   joins; each is checked against the trust root's admission of that peer, then held);
 * - it masks among at least the problem's threshold and a majority of the roster it started with,
 *   and holds one roster a round;
 * - it takes another attempt only if it is later and leaves someone out, before it revealed;
 * - it reveals (aggregation.ts revealRefusal) only for a round that took the attempt's whole
 *   roster, at least that many agents, for one attempt and set a round, and within `revealLimit`;
 * - it sends its share of a silent peer's seed only for the attempt and set it revealed for.
 *
 * Its keys and seeds derive from the agent's identity seed (AgentTools.secret). A restarted agent
 * must not mask a round it masked before with other words (the same pairwise masks would tell the
 * difference), nor lose the seed it owes: with a journal (AgentTools.journal) it sends again the
 * very contributions the stream holds of it and reveals their seeds; without one, or for one the
 * journal lacks, its family's agent stops (`maskedBefore`). Journal entries the stream does not
 * hold (written, never sent, or of another run) are dropped when it resumes, never sent.
 */
export type ParticipantOptions = {
  readonly tenant: string;
  readonly problem: string;
  /** The agent's own name in the problem. */
  readonly owner: string;
  /** The problem's agents in its order, and its threshold (from its open). */
  readonly agents: () => readonly string[];
  readonly threshold: () => number;
  readonly tools: () => AgentTools | undefined;
  /** The agreement key a peer's signed join declares (the family's join schema), or undefined. */
  readonly joinKey: (join: AnyEvent) => Uint8Array | undefined;
  /** The last round it may reveal for (the privacy budget's; absent: any). */
  readonly revealLimit?: () => number;
  /** The words each agent writes (masks.ts Support; absent: every word). */
  readonly support?: (agent: string) => Support;
};

export type SecureParticipant = {
  /** The agent's X25519 public key for the problem, for its join. */
  publicKey(): Uint8Array;
  /** A running plan's roster (its agents and keys) and their signed joins: the attempt-1 roster of round `planRound + 1`. */
  takeRoster(planRound: number, roster: Readonly<Record<string, Uint8Array>>, joins: Readonly<Record<string, Uint8Array>> | undefined): void;
  /** Another attempt of a round, checked, then held. */
  takeAttempt(event: CatoptEvent<"attempt/1">): void;
  /** Our words for round `round`, masked for its current attempt (masked/1); `values` is what the journal keeps of them for a restart. */
  mask(round: number, words: Words, values?: unknown): CatoptEvent<"masked/1">;
  /** Our seed for a round that took our contribution (reveal/1); undefined when it did not take ours; throws when a rule forbids it. */
  reveal(event: CatoptEvent<"round/2">): CatoptEvent<"reveal/1"> | undefined;
  /** Our shares of silent peers' seeds (share/1) for a recover/1; throws when a rule forbids them. */
  shares(event: CatoptEvent<"recover/1">): CatoptEvent<"share/1">;
  /** What a restarted agent's own events say it did: whether it masked, and what it revealed. */
  resume(own: readonly AnyEvent[]): void;
  /** It masked before a restart and cannot go on: a contribution of its own that no journal entry holds. */
  readonly maskedBefore: () => boolean;
  /** The values of its journaled contributions the stream holds, by round: what its family rebuilds its committed values from. */
  readonly journaled: () => ReadonlyMap<number, unknown>;
};

export function secureParticipant(o: ParticipantOptions): SecureParticipant {
  const { tenant, problem, owner } = o;
  let key: AgreementKey | undefined;
  /** Peers' keys, each checked against the peer's own signed join once, then held: no plan may change them. */
  let pinned: Readonly<Record<string, Uint8Array>> | undefined;
  const rosters = new Map<number, readonly string[]>(); // by the round of the plan that named it
  const attempts = new Map<number, { readonly attempt: number; readonly roster: readonly string[] }>(); // later attempts, by round
  let revealed: RevealRecord = {};
  let maskedBefore = false;
  /** Its contributions of the newest rounds, with their seeds (confirmed on the stream when it resumed, or sent since), by round/attempt; journaled when it has a journal. */
  let journal = new Map<string, JournalEntry>();
  const keep = (entry: JournalEntry): void => {
    // Only what a later round could still ask for: the newest rounds.
    const newest = [...journal.values(), entry].filter((e) => e.round > entry.round - JOURNAL_ROUNDS);
    journal = new Map(newest.map((e) => [`${e.round}/${e.attempt}`, e]));
    o.tools()?.journal?.save([...journal.values()]);
  };

  const secret = (): Uint8Array => o.tools()?.secret ?? fail(`agent ${owner} has no secret to derive its agreement key from`);
  const secureKey = (): AgreementKey => {
    key ??= agreementKeyOf(secret(), tenant, problem);
    return key;
  };
  const inProblemOrder = (names: Iterable<string>): string[] => {
    const set = new Set(names);
    return o.agents().filter((a) => set.has(a));
  };
  /**
   * The fewest agents this agent masks among: the problem's threshold, a majority of the roster it
   * started with (no coordinator whittles a round down to it and a colluder), and its operator's floor.
   */
  const fewest = (): number => Math.max(o.threshold(), Math.floor(Object.keys(pinned ?? {}).length / 2) + 1, o.tools()?.minRoster ?? 0);
  /** Round `round`'s current attempt: the plan's roster, or a later attempt's part of it, with the pinned keys. */
  const attemptOf = (round: number): Attempt => {
    const later = attempts.get(round);
    const names = later?.roster ?? rosters.get(round - 1) ?? [];
    const keys = pinned ?? {};
    return { context: { tenant, problem, round, attempt: later?.attempt ?? 1 }, roster: names.map((name) => ({ name, publicKey: keys[name] })) };
  };
  const maskedKind = (attempt: number): string => (attempt === 1 ? "masked" : `masked-${attempt}`);

  /** A plan's roster, checked: the first against each peer's own signed join (the trust root admitted it as that agent), then against those keys. */
  const checkRoster = (roster: Readonly<Record<string, Uint8Array>>, joins: Readonly<Record<string, Uint8Array>> | undefined): readonly string[] => {
    const names = Object.keys(roster);
    if (names.length === 0) fail(`a running plan of secure problem ${problem} names no roster`);
    const strangers = names.filter((n) => !o.agents().includes(n));
    if (strangers.length > 0) fail(`a plan's roster names ${strangers.join(", ")}, not agents of ${problem}`);
    if (!names.includes(owner)) return []; // not ours to mask: we left, or were never in
    const held: Record<string, Uint8Array> = { ...pinned };
    for (const name of names) {
      const known = held[name];
      if (known !== undefined) {
        if (!sameBytes(known, roster[name])) fail(`a plan gives ${name} the key ${hex(roster[name])}, not the ${hex(known)} of its signed join`);
        continue;
      }
      const join = (o.tools() ?? fail("no tools to check a peer's join with")).peerEvent(
        joins?.[name] ?? fail(`a plan's roster names ${name} without its signed join`),
        name,
      );
      const declared = o.joinKey(join);
      if (declared === undefined || !sameBytes(declared, roster[name])) fail(`a plan gives ${name} a key its signed join does not`);
      held[name] = roster[name];
    }
    if (!sameBytes(held[owner], secureKey().publicKey)) fail(`a plan gives ${owner} a key that is not its own`);
    pinned = held;
    if (names.length < fewest()) fail(`a plan's roster has ${names.length} agents, fewer than the ${fewest()} ${owner} masks among`);
    return inProblemOrder(names);
  };

  return {
    publicKey: () => secureKey().publicKey,
    maskedBefore: () => maskedBefore,
    takeRoster: (planRound, roster, joins) => {
      // One roster a round: a second plan for a round (the fold refuses it) must not move what we masked for.
      const names = checkRoster(roster, joins);
      const before = rosters.get(planRound);
      if (before !== undefined && before.join() !== names.join()) fail(`a second plan for round ${planRound} names another roster`);
      rosters.set(planRound, names);
    },
    takeAttempt: (event) => {
      const current = attemptOf(event.round);
      const before = current.roster.map((r) => r.name);
      const { attempt, roster } = event.body;
      if (attempt <= current.context.attempt) fail(`attempt ${attempt} of round ${event.round}, after attempt ${current.context.attempt}`);
      if (revealed[event.round] !== undefined) fail(`attempt ${attempt} of round ${event.round}, for which ${owner} revealed already`);
      if (new Set(roster).size !== roster.length || roster.length >= before.length || roster.some((a) => !before.includes(a)))
        fail(`attempt ${attempt} of round ${event.round} must leave some of ${before.join(", ")} out, naming each once`);
      if (roster.length < fewest())
        fail(`attempt ${attempt} of round ${event.round} has ${roster.length} agents, fewer than the ${fewest()} ${owner} masks among`);
      attempts.set(event.round, { attempt, roster: inProblemOrder(roster) });
    },
    mask: (round, words, values) => {
      const attempt = attemptOf(round);
      const number = attempt.context.attempt;
      // Masked already (before a restart, or the machine answers again): the very event again (publishing it twice is de-duplicated).
      const sent = journal.get(`${round}/${number}`);
      if (sent !== undefined) return sent.event;
      // Seeds for this attempt from our secret and what we mask: masking other values or another roster never reuses one.
      const random = secretStream(secret(), `mask\0${tenant}\0${problem}\0${round}\0${number}\0${hex(digestOf(attempt, words))}`);
      const c = contribute({ name: owner, key: secureKey() }, attempt, words, random, o.support);
      const event: CatoptEvent<"masked/1"> = {
        schema: "masked/1",
        id: eventId(tenant, problem, maskedKind(number), round, owner),
        tenant,
        problem,
        round,
        base: round - 1,
        body: { attempt: number, words: wordsToBytes(c.masked), commitment: c.commitment, shares: c.sealedShares, shareDigests: c.shareDigests },
      };
      // Written before it is sent: a restart then finds it, or, if it never went out, drops it.
      keep({ round, attempt: number, event, seed: c.selfSeed, values: values ?? null });
      return event;
    },
    reveal: (event) => {
      const attempt = attemptOf(event.round);
      const number = attempt.context.attempt;
      const seed = journal.get(`${event.round}/${number}`)?.seed;
      const kind = maskedKind(number);
      if (seed === undefined || !event.body.took.includes(eventId(tenant, problem, kind, event.round, owner))) return undefined; // not ours to reveal
      // Every id must be a contribution to this attempt of this round, each agent's once.
      const taken = event.body.took.map((id) => {
        const name = id.split("/")[4] ?? "";
        if (id !== eventId(tenant, problem, kind, event.round, name)) fail(`round ${event.round} took ${id}, not a contribution to its attempt ${number}`);
        return name;
      });
      if (new Set(taken).size !== taken.length) fail(`round ${event.round} took one agent's contribution twice`);
      const limit = o.revealLimit?.() ?? Number.POSITIVE_INFINITY;
      if (event.round > limit)
        fail(`${owner} does not reveal for round ${event.round}: the privacy budget governance granted problem ${problem} pays for ${limit} rounds`);
      const refusal = revealRefusal(revealed, attempt, taken, fewest());
      if (refusal !== undefined) fail(`${owner} does not reveal its mask: ${refusal}`);
      revealed = recordReveal(revealed, attempt, taken);
      return {
        schema: "reveal/1",
        id: eventId(tenant, problem, "reveal", event.round, owner),
        tenant,
        problem,
        round: event.round,
        base: event.round - 1,
        body: { seed, took: taken, attempt: number },
      };
    },
    shares: (event) => {
      // Only for the attempt and set we revealed for ourselves (so the coordinator learns that set's sum, which it was owed, and nothing else).
      const record = revealed[event.round] ?? fail(`${owner} is asked for shares of round ${event.round}, which it did not reveal for`);
      const attempt = attemptOf(event.round);
      if (record.attempt !== event.body.attempt || attempt.context.attempt !== event.body.attempt)
        fail(`${owner} is asked for shares of attempt ${event.body.attempt} of round ${event.round}; it revealed for attempt ${record.attempt}`);
      const missing = event.body.missing;
      if (missing.includes(owner) || missing.some((a) => !record.taken.includes(a)))
        fail(`${owner} is asked for shares of ${missing.join(", ")}, not all of the others round ${event.round} took`);
      // Each peer's share on its own: one that does not open (a hostile peer sealed garbage) holds back no other.
      const opened = Object.fromEntries(
        missing.flatMap((peer) => {
          const sealed = event.body.sealed[peer]?.[owner];
          const commitment = event.body.commitments[peer];
          const publicKey = pinned?.[peer];
          if (sealed === undefined || commitment === undefined || publicKey === undefined) return [];
          try {
            return [[peer, openShare(sharedSecret(secureKey(), publicKey), peer, owner, attempt.context, sealed, commitment)] as const];
          } catch {
            return [];
          }
        }),
      );
      if (Object.keys(opened).length === 0) fail(`${owner} opens none of the shares asked for in round ${event.round}`);
      return {
        schema: "share/1",
        id: eventId(tenant, problem, "share", event.round, owner),
        tenant,
        problem,
        round: event.round,
        base: event.round - 1,
        body: { attempt: event.body.attempt, shares: opened },
      };
    },
    resume: (own) => {
      const contributions = own.filter((e): e is CatoptEvent<"masked/1"> => e.schema === "masked/1");
      for (const event of own)
        if (event.schema === "reveal/1") revealed = { ...revealed, [event.round]: { attempt: event.body.attempt ?? 1, taken: event.body.took } };
      if (contributions.length === 0) return; // a plain problem's agent, or one that never masked: no journal to read
      // Rounds older than the journal's window are closed: no round may take, nor reveal, what was masked for them.
      const newest = Math.max(...contributions.map((e) => e.round));
      const written = new Map((o.tools()?.journal?.entries() ?? []).map((e) => [`${e.round}/${e.attempt}`, e]));
      const confirmed = new Map<string, JournalEntry>();
      for (const event of contributions) {
        if (event.round <= newest - JOURNAL_ROUNDS) continue;
        const key = `${event.round}/${event.body.attempt}`;
        const entry = written.get(key);
        // The very event the stream holds, and the seed of its commitment: anything else is no record of it.
        if (entry !== undefined && sameBytes(encodeEvent(entry.event), encodeEvent(event)) && sameBytes(commitmentOf(entry.seed), event.body.commitment)) {
          confirmed.set(key, entry);
        } else maskedBefore = true;
      }
      // Entries the stream does not hold are dropped here, and from the file with the next contribution it journals.
      journal = confirmed;
    },
    journaled: () => new Map([...journal.values()].map((e) => [e.round, e.values])),
  };
}

/** How many rounds back a journal keeps contributions: a round's reveal or shares are asked for within a few rounds of it. */
const JOURNAL_ROUNDS = 8;

/** What an attempt's masks depend on, with the words masked: its roster (names and keys, in order) and the words. */
function digestOf(attempt: Attempt, words: Words): Uint8Array {
  const hash = createHash("sha256");
  for (const { name, publicKey } of attempt.roster) hash.update(name).update("\0").update(publicKey);
  hash.update(new Uint8Array(words.buffer, words.byteOffset, words.byteLength));
  return new Uint8Array(hash.digest());
}

function fail(reason: string): never {
  throw new Error(reason);
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
