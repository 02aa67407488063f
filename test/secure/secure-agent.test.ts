import { test } from "uvu";
import * as assert from "uvu/assert";
import type { AnyEvent, CatoptEvent } from "../../src/core/event.ts";
import { encodeEvent, eventId } from "../../src/core/event.ts";
import { commitmentOf } from "../../src/secure/aggregation.ts";
import { secureParticipant } from "../../src/secure/participant.ts";
import type { AgentTools, AgentView, FamilyAgent, JournalEntry } from "../../src/core/family.ts";
import { qpAgent } from "../../src/families/energy-qp/agent.ts";
import { openEvent } from "../../src/families/energy-qp/fold.ts";
import type { LocalProblem } from "../../src/families/energy-qp/local-problem.ts";
import type { ProblemSpec } from "../../src/families/energy-qp/schemas.ts";
import { verifyMessage } from "../../src/governance/admission.ts";
import { generateIdentity, seedOf, type Identity } from "../../src/governance/identity.ts";
import { envelopeBytes } from "../../src/governance/signed-publish.ts";
import { agreementKeyOf } from "../../src/secure/masks.ts";
import { roundPrivacyCost } from "../../src/families/energy-qp/secure-layout.ts";

// An agent of a secure problem against a hostile coordinator: it masks only among keys its peers
// signed themselves, keeps the first open, and takes attempts and round events only as the rules allow.
const T = "t";
const P = "p";
const NAMES = ["a", "b", "c"];
const spec: ProblemSpec = {
  resources: ["r1"],
  agents: NAMES,
  constraints: [{ name: "cap", coefficients: { r1: 1 }, limit: 10 }],
  admm: { rho: 1, epsAbs: 1e-9, epsRel: 1e-9, mu: 10, tau: 2, balanceRounds: 10, maxRounds: 50, maxStaleness: 0 },
  secure: { fractionBits: 30, maxAbs: 16, threshold: 2 },
};
const local = (owner: string): LocalProblem => ({ owner, constant: 0, variables: [{ resource: "r1", lower: 0, upper: 10, quadratic: 1, linear: -2 }] });
const ids: Record<string, Identity> = Object.fromEntries(NAMES.map((n) => [n, generateIdentity(n)]));
const keyOf = (name: string) => agreementKeyOf(seedOf(ids[name]), T, P).publicKey;
/** The trust root admitted each name's own identity: a peer's event must be signed by it. */
const tools = (name: string, grant?: { rho: number; delta: number }, minRoster = 0): AgentTools => ({
  secret: seedOf(ids[name]),
  minRoster,
  privacyGrant: () => grant,
  peerEvent: (envelope, peer) => {
    const { event, author } = verifyMessage(envelope);
    if (author !== ids[peer].did) throw new Error(`signed by ${author}, not by ${peer}`);
    return event;
  },
});
const signedJoin = (name: string, key = keyOf(name), signer = ids[name]) =>
  envelopeBytes(
    {
      schema: "join/2",
      id: eventId(T, P, "join", 0, name),
      tenant: T,
      problem: P,
      round: 0,
      base: -1,
      body: { resources: ["r1"], lower: { r1: 0 }, upper: { r1: 16 }, agreementKey: key },
    },
    signer,
  );
const plan = (round: number, roster: Record<string, Uint8Array>, joins: Record<string, Uint8Array>): CatoptEvent<"plan/2"> => ({
  schema: "plan/2",
  id: eventId(T, P, "plan", round),
  tenant: T,
  problem: P,
  round,
  base: round - 1,
  body: { status: "running", rho: 1, signal: { r1: 0 }, objective: 0, primal: 0, dual: 0, epsPrimal: 0, epsDual: 0, roster, joins },
});
const honestPlan = (round = 0, names = NAMES) =>
  plan(round, Object.fromEntries(names.map((n) => [n, keyOf(n)])), Object.fromEntries(names.map((n) => [n, signedJoin(n)])));
const view = (planRound: number): AgentView => ({ planRound, committed: {}, proposed: { r1: 1.5 } });
/** Round `n`'s event taking `took` (default: every agent's masked contribution to it). */
const roundEvent = (n: number, took = NAMES.map((name) => eventId(T, P, "masked", n, name))): CatoptEvent<"round/2"> => ({
  schema: "round/2",
  id: eventId(T, P, "round", n),
  tenant: T,
  problem: P,
  round: n,
  base: n - 1,
  body: { took, closedBy: "all" },
});

function agent(name = "a"): FamilyAgent {
  const a = qpAgent(T, P, local(name));
  a.equip?.(tools(name));
  a.opened(openEvent(T, P, spec));
  return a;
}

test("with its peers' signed joins, the agent masks; a roster key the peer did not sign is refused", () => {
  const a = agent();
  assert.ok(a.plan(honestPlan()) !== undefined);
  assert.is(a.deltaEvent(view(0)).schema, "masked/1");
  const forged = agreementKeyOf(new Uint8Array(32).fill(9), T, P).publicKey; // a key the coordinator holds
  const fresh = agent();
  assert.throws(
    () => fresh.plan(plan(0, { a: keyOf("a"), b: forged, c: keyOf("c") }, { a: signedJoin("a"), b: signedJoin("b"), c: signedJoin("c") })),
    /key its signed join does not/,
  );
  assert.throws(
    () => fresh.plan(plan(0, { a: keyOf("a"), b: forged, c: keyOf("c") }, { a: signedJoin("a"), b: signedJoin("b", forged, ids.c), c: signedJoin("c") })),
    /not by b/,
  );
  assert.throws(() => fresh.plan(plan(0, { a: keyOf("a"), b: keyOf("b") }, { a: signedJoin("a") })), /names b without its signed join/);
  // Once checked, keys are held: a later plan cannot swap one.
  assert.throws(
    () => a.plan(plan(1, { a: keyOf("a"), b: forged, c: keyOf("c") }, { a: signedJoin("a"), b: signedJoin("b", forged, ids.b), c: signedJoin("c") })),
    /not the .* of its signed join/,
  );
});

test("a second open does not switch the agent to plain deltas; a roster below a majority of the first is refused", () => {
  const a = agent();
  const { secure: _gone, ...plain } = spec;
  assert.is(a.opened(openEvent(T, P, plain)), undefined);
  assert.equal(a.opened(openEvent(T, P, spec)), { agents: NAMES }, "the same open again (the runner shows it twice) still opens");
  a.plan(honestPlan());
  assert.is(a.deltaEvent(view(0)).schema, "masked/1", "still masked");
  const b = agent("b");
  b.plan(honestPlan());
  assert.throws(() => b.plan(plan(1, { b: keyOf("b") }, { b: signedJoin("b") })), /fewer than the 2/);
});

test("an operator's floor: an agent started with --min-roster 3 refuses a roster of 2, which the problem's threshold allows", () => {
  const spare = qpAgent(T, P, local("a"));
  spare.equip?.(tools("a", undefined, 3));
  spare.opened(openEvent(T, P, spec));
  assert.throws(() => spare.plan(honestPlan(0, ["a", "b"])), /fewer than the 3 a masks among/);
  const usual = agent();
  assert.not.throws(() => usual.plan(honestPlan(0, ["a", "b"])), "without the floor, two is the threshold's and a majority of the first roster");
});

test("attempts: a repeated number, a reordered or larger roster, and rosters below a majority are refused; a fresh attempt masks afresh", () => {
  const a = agent();
  a.plan(honestPlan());
  const first = a.deltaEvent(view(0)) as CatoptEvent<"masked/1">;
  const attempt = (n: number, roster: string[]): CatoptEvent<"attempt/1"> => ({
    schema: "attempt/1",
    id: eventId(T, P, `attempt-${n}`, 1),
    tenant: T,
    problem: P,
    round: 1,
    base: 0,
    body: { attempt: n, roster },
  });
  assert.throws(() => a.plan(attempt(1, ["a", "b"])), /after attempt 1/);
  assert.throws(() => a.plan(attempt(2, ["a", "b", "c"])), /must leave some of a, b, c out/);
  assert.throws(() => a.plan(attempt(2, ["a", "d"])), /must leave some/);
  a.plan(attempt(2, ["b", "a"]));
  const second = a.reply?.(attempt(2, ["b", "a"])) as CatoptEvent<"masked/1">;
  assert.is(second.body.attempt, 2);
  assert.not.equal(second.body.commitment, first.body.commitment, "a fresh seed");
  assert.throws(() => a.plan(attempt(2, ["a"])), /after attempt 2/);
  assert.throws(() => a.plan(attempt(3, ["a"])), /fewer than the 2/);
});

test("a round event that takes a contribution to another round, or one agent's twice, gets no reveal", () => {
  const a = agent();
  a.plan(honestPlan());
  a.deltaEvent(view(0));
  const round = (took: string[]): AnyEvent => roundEvent(1, took);
  const own = eventId(T, P, "masked", 1, "a");
  assert.throws(() => a.reply?.(round([own, eventId(T, P, "masked", 1, "b"), eventId(T, P, "masked", 0, "c")])), /not a contribution to its attempt 1/);
  assert.throws(() => a.reply?.(round([own, own, eventId(T, P, "masked", 1, "b")])), /twice/);
  const revealed = a.reply?.(round([own, eventId(T, P, "masked", 1, "b"), eventId(T, P, "masked", 1, "c")]));
  assert.is(revealed?.schema, "reveal/1");
});

test("with noise: no grant, no taking part; it reveals for the rounds its grant pays for and none after, whatever the coordinator asks", () => {
  const noisy: ProblemSpec = {
    ...spec,
    admm: { ...spec.admm, maxRounds: 5 },
    secure: { fractionBits: 20, maxAbs: 16, threshold: 2, noise: { clip: 4, sigma2: 1e4 } },
  };
  const ungranted = qpAgent(T, P, local("a"));
  ungranted.equip?.(tools("a"));
  assert.match(String((ungranted.opened(openEvent(T, P, noisy)) as { stop?: string }).stop), /governance granted problem p no privacy budget/);

  const cost = roundPrivacyCost(noisy);
  const a = qpAgent(T, P, local("a"));
  a.equip?.(tools("a", { rho: 2.5 * cost, delta: 1e-6 })); // two rounds' worth, of the five the open declares
  assert.equal(a.opened(openEvent(T, P, noisy)), { agents: NAMES });
  const round = (n: number): AnyEvent => roundEvent(n);
  for (const n of [1, 2, 3]) {
    a.plan(honestPlan(n - 1));
    a.deltaEvent(view(n - 1));
    if (n <= 2) assert.is(a.reply?.(round(n))?.schema, "reveal/1", `round ${n} is paid for`);
    else assert.throws(() => a.reply?.(round(n)), /pays for 2 rounds/);
  }
});

test("asked for a silent peer's seed, an agent sends its share only for the round and set it revealed for", () => {
  const [a, c] = [agent("a"), agent("c")];
  a.plan(honestPlan());
  c.plan(honestPlan());
  a.deltaEvent(view(0));
  const fromC = c.deltaEvent(view(0)) as CatoptEvent<"masked/1">;
  const recover = (round: number, attempt = 1): CatoptEvent<"recover/1"> => ({
    schema: "recover/1",
    id: eventId(T, P, "recover", round),
    tenant: T,
    problem: P,
    round,
    base: round - 1,
    body: { attempt, missing: ["c"], commitments: { c: fromC.body.commitment }, sealed: { c: fromC.body.shares } },
  });
  assert.throws(() => a.reply?.(recover(1)), /did not reveal for/);
  const took = NAMES.map((n) => eventId(T, P, "masked", 1, n));
  a.reply?.(roundEvent(1, took));
  const share = a.reply?.(recover(1)) as CatoptEvent<"share/1">;
  assert.is(share.schema, "share/1");
  assert.is(share.body.shares.c.length, 66);
  assert.throws(() => a.reply?.(recover(1, 2)), /revealed for attempt 1/);
  const later: CatoptEvent<"attempt/1"> = {
    schema: "attempt/1",
    id: eventId(T, P, "attempt-2", 1),
    tenant: T,
    problem: P,
    round: 1,
    base: 0,
    body: { attempt: 2, roster: ["a", "b"] },
  };
  assert.throws(() => a.plan(later), /for which a revealed already/, "no attempt after a reveal: its second sum would differ by one agent");
  assert.throws(() => a.plan(honestPlan(0, ["a", "b"])), /second plan for round 0 names another roster/);
  const forgedCommitment = { ...recover(1), body: { ...recover(1).body, commitments: { c: new Uint8Array(32) } } };
  assert.throws(() => a.reply?.(forgedCommitment), "a share sealed for another seed does not open");
});

test("an agent restarted after masking does not resume a secure problem (it would mask other values under the same seeds)", () => {
  const a = qpAgent(T, P, local("a"));
  a.equip?.(tools("a"));
  const masked = {
    schema: "masked/1",
    id: eventId(T, P, "masked", 1, "a"),
    tenant: T,
    problem: P,
    round: 1,
    base: 0,
    body: { attempt: 1, words: new Uint8Array(8), commitment: new Uint8Array(32), shares: {}, shareDigests: {} },
  } as const;
  a.resume?.([masked]);
  const opened = a.opened(openEvent(T, P, spec));
  assert.ok(opened !== undefined && "stop" in opened && /its journal does not hold them/.test(opened.stop), JSON.stringify(opened));
  // The runner shows it the open twice (once catching up, once to act on): the second must stop it too.
  const again = a.opened(openEvent(T, P, spec));
  assert.ok(again !== undefined && "stop" in again, `the second showing: ${JSON.stringify(again)}`);
});

test("a restart after many rounds: contributions older than the journal's window are of closed rounds, and need no entry", () => {
  const seed = (round: number) => new Uint8Array(32).fill(round);
  const event = (round: number): CatoptEvent<"masked/1"> => ({
    schema: "masked/1",
    id: eventId(T, P, "masked", round, "a"),
    tenant: T,
    problem: P,
    round,
    base: round - 1,
    body: { attempt: 1, words: new Uint8Array(8), commitment: commitmentOf(seed(round)), shares: {}, shareDigests: {} },
  });
  const own = Array.from({ length: 12 }, (_, i) => event(i + 1));
  const kept = own.slice(-8).map((e) => ({ round: e.round, attempt: 1, event: e, seed: seed(e.round), values: {} }));
  const resumedWith = (entries: typeof kept) => {
    const participant = secureParticipant({
      tenant: T,
      problem: P,
      owner: "a",
      agents: () => NAMES,
      threshold: () => 2,
      tools: () => ({ ...tools("a"), journal: { entries: () => entries, save: () => undefined } }),
      joinKey: () => undefined,
    });
    participant.resume(own);
    return participant;
  };
  assert.is(resumedWith(kept).maskedBefore(), false, "rounds 1 to 4 are closed; 5 to 12 are in the journal");
  const gap = resumedWith(kept.filter((e) => e.round !== 11));
  assert.is(gap.maskedBefore(), true, "round 11 is recent and the journal lacks it");
});

test("with a journal, a restarted agent sends again the very contribution the stream holds, reveals its seed, and rebuilds its values", () => {
  const entries: { value: readonly JournalEntry[] } = { value: [] };
  const journal = { entries: () => entries.value, save: (next: readonly JournalEntry[]) => (entries.value = next) };
  const withJournal = (): AgentTools => ({ ...tools("a"), journal });
  const first = qpAgent(T, P, local("a"));
  first.equip?.(withJournal());
  first.resume?.([]);
  first.opened(openEvent(T, P, spec));
  first.plan(honestPlan());
  const sent = first.deltaEvent(view(0)) as CatoptEvent<"masked/1">;
  assert.is(entries.value.length, 1, "journaled before it is sent");

  // It crashes; the stream holds what it sent. A fresh agent, the same journal:
  const again = qpAgent(T, P, local("a"));
  again.equip?.(withJournal());
  again.resume?.([sent]);
  assert.equal(again.opened(openEvent(T, P, spec)), { agents: NAMES }, "it resumes");
  again.plan(honestPlan());
  const resent = again.deltaEvent({ planRound: 0, committed: {}, proposed: { r1: 9 } }) as CatoptEvent<"masked/1">;
  assert.equal(encodeEvent(resent), encodeEvent(sent), "the very event again, whatever it would compute now");
  const round = roundEvent(1);
  const reveal = again.reply?.(round) as CatoptEvent<"reveal/1">;
  assert.equal(commitmentOf(reveal.body.seed), sent.body.commitment, "and the seed it owes");
  again.plan(
    roundEvent(
      0,
      NAMES.map((n) => eventId(T, P, "join", 0, n)),
    ),
  );
  again.plan(round);
  assert.equal(again.ownValues?.(), { r1: 1.5 }, "its values as the round took them");

  // A journal entry the stream does not hold (never sent, or another run's) is dropped, never sent.
  entries.value = [{ ...entries.value[0], round: 5, event: { ...sent, id: eventId(T, P, "masked", 5, "a"), round: 5, base: 4 } }];
  const fresh = qpAgent(T, P, local("a"));
  fresh.equip?.(withJournal());
  fresh.resume?.([]);
  fresh.opened(openEvent(T, P, spec));
  fresh.plan(honestPlan());
  fresh.deltaEvent(view(0));
  assert.equal(
    entries.value.map((e) => e.round),
    [1],
    "the next contribution it journals replaces what the stream never held",
  );

  // A plain problem's agent never reads nor writes it.
  const plain = qpAgent(T, P, local("a"));
  let touched = false;
  const touch = () => {
    touched = true;
  };
  plain.equip?.({
    ...tools("a"),
    journal: {
      entries: () => {
        touch();
        return [];
      },
      save: touch,
    },
  });
  plain.resume?.([]);
  const { secure: _none, ...plainSpec } = spec;
  plain.opened(openEvent(T, P, plainSpec));
  plain.deltaEvent(view(0));
  assert.is(touched, false);
});

test.run();
