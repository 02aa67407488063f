import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { PROJECT_ROOT } from "../../src/bus/embedded-server.ts";
import { roundPrivacyCost } from "../../src/families/energy-qp/secure-layout.ts";
import { energyQp, openEvent, type ProblemState } from "../../src/families/energy-qp/fold.ts";
import { contributionWords } from "../../src/families/energy-qp/secure-layout.ts";
import type { ProblemSpec } from "../../src/families/energy-qp/schemas.ts";
import { parseScenario } from "../../src/families/energy-qp/scenario.ts";
import { contribute, openPeerShare, type Attempt } from "../../src/secure/aggregation.ts";
import { agreementKeyOf } from "../../src/secure/masks.ts";
import { wordsToBytes } from "../../src/secure/ring.ts";
import { eventId, type AnyEvent, type CatoptEvent } from "../../src/core/event.ts";
import { Refusal } from "../../src/core/refusal.ts";
import type { OpenContext } from "../../src/core/family.ts";
import { seededRandom } from "../../src/secure/discrete-gaussian.ts";
import { roundRho, worstRoundRho } from "../../src/secure/distributed-noise.ts";
import { epsilonFor, rhoBudgetFor } from "../../src/secure/zcdp.ts";

// The fold of a secure energy problem, event by event: what it takes, what it refuses and why.
const T = "t";
const P = "p";
const AGENTS = ["a", "b", "c"];
const spec: ProblemSpec = {
  resources: ["r1", "r2"],
  agents: AGENTS,
  constraints: [{ name: "cap", coefficients: { r1: 1, r2: 1 }, limit: 10 }],
  admm: { rho: 1, epsAbs: 1e-9, epsRel: 1e-9, mu: 10, tau: 2, balanceRounds: 10, maxRounds: 50, maxStaleness: 0 },
  secure: { fractionBits: 30, maxAbs: 16, threshold: 2 },
};
const keys = Object.fromEntries(AGENTS.map((a) => [a, agreementKeyOf(createHash("sha256").update(a).digest(), T, P)]));
const random = (label: string) => {
  let n = 0;
  return (bytes: number) => Uint8Array.from({ length: bytes }, () => createHash("sha256").update(`${label}/${n++}`).digest()[0]);
};
const frame = <S extends AnyEvent["schema"]>(schema: S, kind: string, round: number, body: unknown, agent?: string) =>
  ({ schema, id: eventId(T, P, kind, round, agent), tenant: T, problem: P, round, base: round - 1, body }) as unknown as CatoptEvent<S>;

/** A join's signed envelope, as the fold keeps it to relay in plans (its bytes are not checked here: the agents check them). */
const envelopeOf = (event: AnyEvent): Uint8Array => new TextEncoder().encode(event.id);
const apply = (p: ProblemState, event: AnyEvent, agent?: string): ProblemState =>
  (event.schema === "round/2" ? energyQp.closeRound(p, event) : energyQp.apply(p, event, agent, envelopeOf(event))) as ProblemState;

function refused(p: ProblemState, event: AnyEvent, agent: string | undefined, reason: RegExp): void {
  try {
    apply(p, event, agent);
    assert.unreachable(`took ${event.schema}`);
  } catch (err) {
    assert.ok(err instanceof Refusal, String(err));
    assert.match((err as Error).message, reason, (err as Error).message);
  }
}

/** The problem after round 0, every agent joined with its key. */
function started(s: ProblemSpec = spec, context?: OpenContext): ProblemState {
  let p = energyQp.open(openEvent(T, P, s), context) as ProblemState;
  for (const a of AGENTS)
    p = apply(
      p,
      frame("join/2", "join", 0, { resources: ["r1", "r2"], lower: { r1: -16, r2: -16 }, upper: { r1: 16, r2: 16 }, agreementKey: keys[a].publicKey }, a),
      a,
    );
  return apply(p, frame("round/2", "round", 0, { took: AGENTS.map((a) => eventId(T, P, "join", 0, a)), closedBy: "all" }));
}

const values: Record<string, Record<string, number>> = { a: { r1: 1.5, r2: -2.25 }, b: { r1: 3, r2: 0.125 }, c: { r1: -0.5, r2: 4 } };

function masked(round: number, attempt: Attempt, agent: string, s: ProblemSpec = spec, own = values[agent]) {
  const noise = { random: seededRandom(`${agent}/${round}`) };
  const words = contributionWords(s, s.secure as NonNullable<ProblemSpec["secure"]>, own, {}, 7, noise);
  const c = contribute({ name: agent, key: keys[agent] }, attempt, words, random(`${agent}/${round}/${attempt.context.attempt}`));
  const kind = attempt.context.attempt === 1 ? "masked" : `masked-${attempt.context.attempt}`;
  return {
    c,
    event: frame(
      "masked/1",
      kind,
      round,
      { attempt: attempt.context.attempt, words: wordsToBytes(c.masked), commitment: c.commitment, shares: c.sealedShares, shareDigests: c.shareDigests },
      agent,
    ),
  };
}

const attemptOf = (names: readonly string[], round: number, attempt = 1): Attempt => ({
  context: { tenant: T, problem: P, round, attempt },
  roster: names.map((name) => ({ name, publicKey: keys[name].publicKey })),
});

test("a round of masked contributions and reveals closes on the exact sums; no agent's values are in the state", () => {
  let p = started();
  assert.equal(p.plan?.roster && Object.keys(p.plan.roster), AGENTS, "the first plan names the roster");
  assert.equal(p.plan?.joins?.b, envelopeOf(frame("join/2", "join", 0, {}, "b")), "with each agent's signed join");
  const sent = AGENTS.map((a) => masked(1, attemptOf(AGENTS, 1), a));
  for (const [i, a] of AGENTS.entries()) p = apply(p, sent[i].event, a);
  p = apply(p, frame("round/2", "round", 1, { took: sent.map((s) => s.event.id), closedBy: "all" }));
  assert.is(p.round, 0, "the round waits for its reveals");
  for (const [i, a] of AGENTS.entries()) {
    refused(p, frame("reveal/1", "reveal", 1, { seed: new Uint8Array(32), took: AGENTS, attempt: 1 }, a), a, /does not match its commitment/);
    p = apply(p, frame("reveal/1", "reveal", 1, { seed: sent[i].c.selfSeed, took: AGENTS, attempt: 1 }, a), a);
  }
  assert.is(p.round, 1);
  const f = 30;
  for (const [j, r] of spec.resources.entries()) {
    const sum = AGENTS.reduce((s, a) => s + values[a][r], 0);
    assert.ok(Math.abs((p.secure?.x[j] ?? 0) - sum) <= 3 * 2 ** -(f + 1), `${r}: ${p.secure?.x[j]} against ${sum}`);
  }
  assert.is(p.secure?.objective, 21);
  assert.equal(p.x, {}, "no agent's values");
});

test("refused: a delta in a secure problem, a contribution of the wrong length or attempt, a round that leaves a roster agent out", () => {
  let p = started();
  refused(p, frame("delta/1", "delta", 1, { entries: { r1: 1 }, objective: 0 }, "a"), "a", /is secure: a's part must come masked/);
  const good = masked(1, attemptOf(AGENTS, 1), "a");
  refused(p, { ...good.event, body: { ...good.event.body, words: new Uint8Array(16) } }, "a", /has 16 bytes, not the 112/);
  refused(
    p,
    { ...good.event, id: eventId(T, P, "masked-2", 1, "a"), body: { ...good.event.body, attempt: 2 } },
    "a",
    /attempt 2 of round 1, which is at attempt 1/,
  );
  const sent = ["a", "b"].map((a) => masked(1, attemptOf(AGENTS, 1), a));
  for (const [i, a] of ["a", "b"].entries()) p = apply(p, sent[i].event, a);
  refused(
    p,
    frame("round/2", "round", 1, { took: sent.map((s) => s.event.id), closedBy: "all" }),
    undefined,
    /must take every agent of its roster \(missing: c\)/,
  );
});

test("attempts: only smaller rosters of the last one, never below the threshold, never once reveals began; the earlier attempt's contributions are void", () => {
  let p = started();
  const first = AGENTS.map((a) => masked(1, attemptOf(AGENTS, 1), a));
  p = apply(p, first[0].event, "a");
  const attempt = (n: number, roster: string[]) => frame("attempt/1", `attempt-${n}`, 1, { attempt: n, roster });
  refused(p, attempt(2, ["a", "b", "d"]), undefined, /names d, which the last attempt's roster did not/);
  refused(p, attempt(2, ["a"]), undefined, /below the threshold of 2/);
  refused(p, attempt(3, ["a", "b"]), undefined, /attempt 3 of round 1; the next is 2/);
  refused(p, attempt(2, ["a", "b", "c"]), undefined, /must leave some agent out/);
  p = apply(p, attempt(2, ["a", "b"]));
  assert.equal(Object.keys(p.pending), [], "attempt 1's contributions are void");
  refused(p, first[2].event, "c", /attempt 1 of round 1, which is at attempt 2/);
  const second = ["a", "b"].map((a) => masked(1, attemptOf(["a", "b"], 1, 2), a));
  for (const [i, a] of ["a", "b"].entries()) p = apply(p, second[i].event, a);
  p = apply(p, frame("round/2", "round", 1, { took: second.map((s) => s.event.id), closedBy: "all" }));
  refused(p, attempt(3, ["a"]), undefined, /while round 1 waits for its reveals/);
  refused(p, frame("reveal/1", "reveal", 1, { seed: second[0].c.selfSeed, took: ["a", "b", "c"], attempt: 2 }, "a"), "a", /names the set a, b, c/);
  refused(
    p,
    frame("reveal/1", "reveal", 1, { seed: second[0].c.selfSeed, took: ["a", "b"], attempt: 1 }, "a"),
    "a",
    /attempt 1 of round 1, which took attempt 2/,
  );
  for (const [i, a] of ["a", "b"].entries()) p = apply(p, frame("reveal/1", "reveal", 1, { seed: second[i].c.selfSeed, took: ["a", "b"], attempt: 2 }, a), a);
  assert.is(p.round, 1);
  assert.ok(Math.abs((p.secure?.x[0] ?? 0) - 4.5) < 1e-8, "the sum of a and b alone");
});

test("a silent agent's seed: recovered from a majority of its peers' shares, the relay and the shares checked", () => {
  let p = started();
  const sent = AGENTS.map((a) => masked(1, attemptOf(AGENTS, 1), a));
  for (const [i, a] of AGENTS.entries()) p = apply(p, sent[i].event, a);
  p = apply(p, frame("round/2", "round", 1, { took: sent.map((x) => x.event.id), closedBy: "all" }));
  for (const i of [0, 1]) p = apply(p, frame("reveal/1", "reveal", 1, { seed: sent[i].c.selfSeed, took: AGENTS, attempt: 1 }, AGENTS[i]), AGENTS[i]);
  const c = sent[2].c;
  const recover = (body: Record<string, unknown>) =>
    frame("recover/1", "recover", 1, { attempt: 1, missing: ["c"], commitments: { c: c.commitment }, sealed: { c: c.sealedShares }, ...body });
  refused(p, recover({ missing: ["c", "d"] }), undefined, /must ask for the seeds of c .of agents it took, each once./);
  refused(p, recover({ sealed: { c: { ...c.sealedShares, a: new Uint8Array(82) } } }), undefined, /other sealed shares than c sent/);
  p = apply(p, recover({}));
  refused(p, recover({}), undefined, /already recovering c/);
  const shareOf = (holder: string) => openPeerShare({ name: holder, key: keys[holder] }, attemptOf(AGENTS, 1), "c", c.sealedShares[holder], c.commitment).y;
  refused(p, frame("share/1", "share", 1, { attempt: 1, shares: { c: shareOf("a") } }, "c"), "c", /does not hold shares/);
  refused(p, frame("share/1", "share", 1, { attempt: 1, shares: { a: shareOf("a") } }, "b"), "b", /not of the seeds asked for/);
  p = apply(p, frame("share/1", "share", 1, { attempt: 1, shares: { c: shareOf("a") } }, "a"), "a");
  assert.is(p.round, 0, "one share of three is not a majority");
  refused(p, frame("share/1", "share", 1, { attempt: 1, shares: { c: new Uint8Array(66) } }, "b"), "b", /b's share of c's seed is not the one c sealed for it/);
  p = apply(p, frame("share/1", "share", 1, { attempt: 1, shares: { c: shareOf("b") } }, "b"), "b");
  assert.is(p.round, 1, "the round closed on the sum of all three");
  assert.ok(Math.abs((p.secure?.x[0] ?? 0) - 4) < 1e-8);
});

test("a join with a low-order key, or with another agent's key, is refused", () => {
  let p = energyQp.open(openEvent(T, P, spec)) as ProblemState;
  const join = (a: string, key: Uint8Array) => frame("join/2", "join", 0, { resources: ["r1"], lower: { r1: 0 }, upper: { r1: 16 }, agreementKey: key }, a);
  refused(p, join("a", new Uint8Array(32)), "a", /low-order point/);
  p = apply(p, join("a", keys.a.publicKey), "a");
  refused(p, join("b", keys.a.publicKey), "b", /agreement key is a's/);
  // Every plan relays each signed join: one padded past the plan's bound would make every plan unreadable.
  const padded = energyQp.apply.bind(energyQp);
  try {
    padded(p, join("b", keys.b.publicKey), "b", new Uint8Array(5000));
    assert.unreachable("took a 5,000-byte signed join");
  } catch (err) {
    assert.ok(err instanceof Refusal, String(err));
    assert.match((err as Error).message, /signed join of 5000 bytes, more than 4096/);
  }
});

test("a scenario's secure settings are ones its fold accepts: values up to 1e9 get fewer fraction bits, not an open the fold refuses", () => {
  const slots = Object.fromEntries(["t1", "t2", "t3", "t4", "t5", "t6"].map((t) => [t, { want: 1e8, weight: 0.01, min: 0, max: 1e9 }]));
  const scenario = parseScenario(
    {
      format: "catopt-scenario/1",
      name: "big",
      tenant: T,
      problem: P,
      resources: Object.keys(slots),
      assets: AGENTS.map((agent) => ({ agent, adapter: "energy-asset", input: { slots } })),
      constraints: [{ name: "cap", coefficients: { t1: 1 }, limit: 1e9 }],
    },
    "big.json",
  );
  assert.ok(scenario.spec.secure !== undefined, "secure by default");
  const settings = scenario.spec.secure as NonNullable<ProblemSpec["secure"]>;
  assert.ok(settings.fractionBits < 30, `fraction bits ${settings.fractionBits}`);
  energyQp.open(openEvent(T, P, scenario.spec)); // does not throw
});

test("a scenario with noise: the noise its rounds need, on a grid the noisy sums fit; `honest` raises the threshold the noise is shared by", () => {
  const json = JSON.parse(readFileSync(path.join(PROJECT_ROOT, "scenarios", "cosmos-3asset", "scenario.json"), "utf8"));
  const noisy = parseScenario({ ...json, privacy: { epsilon: 8, clip: 1000, rounds: 10 } }, "noisy.json");
  const settings = noisy.spec.secure as NonNullable<ProblemSpec["secure"]>;
  assert.is(settings.threshold, 2);
  assert.ok(Math.abs(10 * roundPrivacyCost(noisy.spec) - rhoBudgetFor(8, 1e-6)) <= 1e-9 * rhoBudgetFor(8, 1e-6), "ten rounds spend the budget");
  energyQp.open(openEvent(T, P, noisy.spec), { privacy: { rhoLeft: 100, delta: 1e-6 } }); // the fold takes what the scenario chose
  const three = parseScenario({ ...json, privacy: { epsilon: 8, clip: 1000, rounds: 10, honest: 3 } }, "honest.json");
  assert.is(three.spec.secure?.threshold, 3, "every round takes all three, and each adds a third of the noise");
  assert.ok((three.spec.secure?.noise?.sigma2 ?? 0) > 0);
  assert.throws(() => parseScenario({ ...json, privacy: { epsilon: 8, clip: 1000, honest: 4 } }, "four.json"), /honest: 4 is more than the problem's 3 agents/);
  assert.throws(() => parseScenario({ ...json, secure: false, privacy: { epsilon: 8, clip: 1000 } }, "plain.json"), /needs secure aggregation/);
});

test("an open whose secure sums would not fit 64 bits, or with asynchronous rounds, is refused", () => {
  const tooBig = { ...spec, secure: { fractionBits: 40, maxAbs: 2 ** 30, threshold: 2 } };
  assert.throws(() => energyQp.open(openEvent(T, P, tooBig)), /sums do not fit/);
  const asynchronous = { ...spec, admm: { ...spec.admm, maxStaleness: 2 } };
  assert.throws(() => energyQp.open(openEvent(T, P, asynchronous)), /synchronous rounds only/);
});

test("a leave sequenced between the contributions and the round event that takes them: the round still closes (the leaver's seed from its peers' shares)", () => {
  let p = started();
  const sent = AGENTS.map((a) => masked(1, attemptOf(AGENTS, 1), a));
  for (const [i, a] of AGENTS.entries()) p = apply(p, sent[i].event, a);
  p = energyQp.leave?.(p, "c") as ProblemState;
  p = apply(p, frame("round/2", "round", 1, { took: sent.map((x) => x.event.id), closedBy: "all" }));
  assert.equal(p.secure?.revealing?.took, AGENTS, "the round took the leaver's contribution too");
  for (const [i, a] of ["a", "b"].entries()) p = apply(p, frame("reveal/1", "reveal", 1, { seed: sent[i].c.selfSeed, took: AGENTS, attempt: 1 }, a), a);
  assert.is(p.round, 0, "it waits for the leaver's seed");
  assert.equal((energyQp.recover?.(p) as CatoptEvent<"recover/1"> | undefined)?.body.missing, ["c"], "which the coordinator asks its peers for");
});

/** Round `round` with every agent of `names`: contributions, the round event, the reveals. */
function fullRound(p: ProblemState, round: number, names: readonly string[], s: ProblemSpec, made = masked): ProblemState {
  const sent = names.map((a) => made(round, attemptOf(names, round), a, s));
  for (const [i, a] of names.entries()) p = apply(p, sent[i].event, a);
  p = apply(p, frame("round/2", "round", round, { took: sent.map((x) => x.event.id), closedBy: "all" }));
  for (const [i, a] of names.entries()) p = apply(p, frame("reveal/1", "reveal", round, { seed: sent[i].c.selfSeed, took: names, attempt: 1 }, a), a);
  return p;
}

const noisy: ProblemSpec = { ...spec, secure: { fractionBits: 20, maxAbs: 16, threshold: 2, noise: { clip: 4, sigma2: 0.5 } } };

test("with noise: the sums carry it, each round spends what it releases, and the problem stops before a round its budget cannot pay", () => {
  const release = { clip: 4, sigma2: 0.5, fractionBits: 20, dimension: 2 };
  const worst = worstRoundRho(release, 2, 3);
  const context = { privacy: { rhoLeft: 2.5 * worst, delta: 1e-6 } };
  let p = started(noisy, context);
  assert.equal(p.privacy, { granted: 2.5 * worst, spent: 0, delta: 1e-6 }, "it holds what the tenant had left (less than its 50 rounds' worth)");
  p = fullRound(p, 1, AGENTS, noisy);
  const spent = roundRho({ ...release, agents: 3 });
  assert.is(p.privacy?.spent, spent);
  assert.is(p.phase, "running");
  assert.equal(p.plan?.privacy, { rho: spent, epsilon: epsilonFor(spent, 1e-6) }, "the plan states the spend");
  // The sums carry noise of standard deviation 0.7 around the true ones (clipped to 4: a's and c's are within it).
  for (const [j, r] of spec.resources.entries()) {
    const sum = AGENTS.reduce((s, a) => s + values[a][r], 0);
    const x = p.secure?.x[j] ?? Number.NaN;
    assert.ok(x !== sum && Math.abs(x - sum) < 10, `${r}: ${x} against ${sum}`);
  }
  assert.equal(
    Object.keys(contributionWords(noisy, noisy.secure as NonNullable<ProblemSpec["secure"]>, values.a, {}, 7, { random: seededRandom("x") })).length,
    2,
    "values only: no squares, no objective",
  );
  p = fullRound(p, 2, AGENTS, noisy);
  assert.is(p.phase, "budget-exhausted", "a third round would overrun the 2.5 rounds' worth it holds");
  assert.is(p.plan?.status, "budget-exhausted");
  assert.ok((p.privacy?.spent ?? Infinity) <= 2.5 * worst);
  refused(p, masked(3, attemptOf(AGENTS, 3), "a", noisy).event, "a", /after the problem ended \(budget-exhausted\)/);
});

test("with noise: no budget, no problem; too little for one round ends it at round 0", () => {
  assert.throws(() => energyQp.open(openEvent(T, P, noisy)), /governance granted problem p of tenant t no privacy budget/);
  const worst = worstRoundRho({ clip: 4, sigma2: 0.5, fractionBits: 20, dimension: 2 }, 2, 3);
  const p = started(noisy, { privacy: { rhoLeft: 0.5 * worst, delta: 1e-6 } });
  assert.is(p.phase, "budget-exhausted");
  assert.is(p.plan?.status, "budget-exhausted");
  assert.is(p.plan?.roster, undefined, "and names no roster");
});

test("with noise: a round is paid for when it is taken; a sum no clipped agents could reach is refused", () => {
  const p = started(noisy, { privacy: { rhoLeft: 100, delta: 1e-6 } });
  const sent = AGENTS.map((a) => masked(1, attemptOf(AGENTS, 1), a, noisy));
  let q = p;
  for (const [i, a] of AGENTS.entries()) q = apply(q, sent[i].event, a);
  q = apply(q, frame("round/2", "round", 1, { took: sent.map((x) => x.event.id), closedBy: "all" }));
  assert.is(
    q.privacy?.spent,
    roundRho({ clip: 4, sigma2: 0.5, fractionBits: 20, dimension: 2, agents: 2 }),
    "before any reveal: once revealed, the sum is anyone's",
  );
  // A hostile agent ignores the clip and sends r1 = 1000 (its words lie; nobody can see them masked).
  const liar = { ...noisy, secure: { ...(noisy.secure as NonNullable<ProblemSpec["secure"]>), maxAbs: 2000, noise: { clip: 2000, sigma2: 0.5 } } };
  const lying = (round: number, attempt: Attempt, agent: string) =>
    agent === "b" ? masked(round, attempt, agent, liar, { r1: 1000, r2: 0 }) : masked(round, attempt, agent, noisy);
  try {
    fullRound(p, 1, AGENTS, noisy, lying);
    assert.unreachable("took the lying round");
  } catch (err) {
    assert.match((err as Error).message, /round 1's sum on r1 is .* past what 3 clipped agents and their noise reach/);
  }
});

test("with noise: the masks still cancel exactly, leaving the clipped values plus every agent's noise", () => {
  const p = fullRound(started(noisy, { privacy: { rhoLeft: 100, delta: 1e-6 } }), 1, AGENTS, noisy);
  // The same words the agents masked (the same seeded draws), added in the clear.
  const settings = noisy.secure as NonNullable<ProblemSpec["secure"]>;
  const clear = AGENTS.map((a) => contributionWords(noisy, settings, values[a], {}, 7, { random: seededRandom(`${a}/1`) }));
  const expected = noisy.resources.map(
    (_, j) =>
      Number(
        BigInt.asIntN(
          64,
          clear.reduce((sum, w) => sum + w[j], 0n),
        ),
      ) /
      2 ** 20,
  );
  assert.equal(p.secure?.x, expected);
});

test.run();
