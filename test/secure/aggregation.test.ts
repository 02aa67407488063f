import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import {
  commitmentOf,
  contribute,
  openPeerShare,
  recordReveal,
  recoverSeed,
  revealRefusal,
  shareThreshold,
  unmaskedSum,
  withoutSelfMasks,
  type Attempt,
  type Contribution,
} from "../../src/secure/aggregation.ts";
import {
  agreementKeyOf,
  checkSupport,
  commonSupport,
  keystreamWords,
  openShare,
  scatterAdd,
  sharedSecret,
  supportLength,
  type Support,
} from "../../src/secure/masks.ts";
import { addWords, bytesToWords, dequantize, fractionBitsFor, quantize, subtractWords, wordsToBytes, zeroWords, type Words } from "../../src/secure/ring.ts";
import { selfMask } from "../../src/secure/masks.ts";
import { combineShares, splitSecret } from "../../src/secure/shamir.ts";

/** A fixed byte stream for tests (randomness enters only at the boundary). */
function fixedRandom(label: string): (bytes: number) => Uint8Array {
  let counter = 0;
  return (bytes) => {
    const out = new Uint8Array(bytes);
    for (let filled = 0; filled < bytes; filled += 32)
      out.set(
        createHash("sha256")
          .update(`${label}/${counter++}`)
          .digest()
          .subarray(0, bytes - filled),
        filled,
      );
    return out;
  };
}

const NAMES = ["a1", "b2", "c3", "d4", "e5", "f6", "g7", "h8"];
const keys = new Map(NAMES.map((n) => [n, agreementKeyOf(createHash("sha256").update(`identity ${n}`).digest(), "t", "p")]));
const party = (name: string) => ({ name, key: keys.get(name) as NonNullable<ReturnType<typeof keys.get>> });
const attemptOf = (names: readonly string[], round: number, attempt: number): Attempt => ({
  context: { tenant: "t", problem: "p", round, attempt },
  roster: names.map((name) => ({ name, publicKey: party(name).key.publicKey })),
});
const F = 30;
const MAX = 1000;

function valuesOf(name: string, round: number, length: number): number[] {
  const random = fixedRandom(`values ${name} ${round}`)(length * 4);
  return Array.from({ length }, (_, i) => ((new DataView(random.buffer).getUint32(i * 4) / 2 ** 32) * 2 - 1) * MAX);
}

function exactSum(names: readonly string[], round: number, length: number): Words {
  return names.reduce((sum, name) => addWords(sum, quantize(valuesOf(name, round, length), F, MAX)), zeroWords(length));
}

function run(names: readonly string[], round: number, attemptNumber: number, length: number) {
  const attempt = attemptOf(names, round, attemptNumber);
  const contributions = new Map<string, Contribution>(
    names.map((n) => [n, contribute(party(n), attempt, quantize(valuesOf(n, round, length), F, MAX), fixedRandom(`${n} ${round} ${attemptNumber}`))]),
  );
  const masked = Object.fromEntries([...contributions].map(([n, c]) => [n, c.masked]));
  const commitments = Object.fromEntries([...contributions].map(([n, c]) => [n, c.commitment]));
  return { attempt, contributions, masked, commitments };
}

test("pairwise masks cancel for any roster: the unmasked sum is the exact sum of the quantized values", () => {
  const pick = fixedRandom("rosters");
  for (let trial = 0; trial < 20; trial++) {
    const bits = pick(1)[0];
    const names = NAMES.filter((_, i) => (bits >> i) & 1);
    if (names.length < 2) continue;
    const { attempt, contributions, masked, commitments } = run(names, trial, 1, 7);
    const seeds = Object.fromEntries([...contributions].map(([n, c]) => [n, c.selfSeed]));
    assert.equal(unmaskedSum(attempt, masked, seeds, commitments, 7), exactSum(names, trial, 7), `roster ${names.join(",")}`);
  }
});

test("a masked vector alone is far from the agent's values", () => {
  const { masked } = run(["a1", "b2", "c3"], 1, 1, 5);
  const values = dequantize(masked.a1, F);
  assert.ok(
    values.every((v, i) => Math.abs(v - valuesOf("a1", 1, 5)[i]) > 1e3),
    "every masked word is off by more than the whole range of the values",
  );
});

test("dropped agents: the attempt's partial sum is masked noise; a second attempt with the rest and fresh seeds closes the round exactly", () => {
  const names = ["a1", "b2", "c3", "d4", "e5"];
  const first = run(names, 7, 1, 4);
  const present = ["a1", "c3", "e5"]; // b2 and d4 sent nothing
  // Even given the present agents' seeds, their masks with the absent ones do not cancel.
  let partial = zeroWords(4);
  for (const n of present)
    partial = subtractWords(addWords(partial, first.masked[n]), selfMask(first.contributions.get(n)?.selfSeed as Uint8Array, first.attempt.context, 4));
  const truth = exactSum(present, 7, 4);
  assert.ok(
    dequantize(subtractWords(partial, truth), F).every((d) => Math.abs(d) > 1e3),
    "the void attempt's partial sum says nothing of the present agents' sum",
  );
  const arrived = Object.fromEntries(present.map((n) => [n, first.masked[n]]));
  assert.throws(() => unmaskedSum(first.attempt, arrived, {}, first.commitments, 4), /no masked words of b2/);
  const second = run(present, 7, 2, 4);
  const seeds = Object.fromEntries([...second.contributions].map(([n, c]) => [n, c.selfSeed]));
  assert.equal(unmaskedSum(second.attempt, second.masked, seeds, second.commitments, 4), truth);
  assert.not.equal(second.masked.a1, first.masked.a1, "fresh masks in the second attempt");
});

test("a taken agent that does not reveal: a majority of its peers' shares rebuild its seed and the round closes with the same set", () => {
  const names = ["a1", "b2", "c3", "d4", "e5"];
  const { attempt, contributions, masked, commitments } = run(names, 3, 1, 6);
  const silent = "c3";
  const sealedFor = contributions.get(silent)?.sealedShares ?? {};
  const holders = ["a1", "d4", "e5"]; // b2 is slow too: a majority (3 of 5) suffices
  assert.is(shareThreshold(5), 3);
  const shares = holders.map((h) => openPeerShare(party(h), attempt, silent, sealedFor[h], commitments[silent]));
  const seed = recoverSeed(shares, commitments[silent], names.length);
  const seeds = Object.fromEntries(names.map((n) => [n, n === silent ? seed : (contributions.get(n)?.selfSeed as Uint8Array)]));
  assert.equal(unmaskedSum(attempt, masked, seeds, commitments, 6), exactSum(names, 3, 6));
  assert.throws(() => recoverSeed(shares.slice(0, 2), commitments[silent], names.length), /2 shares of a seed, 3 needed/);
  // A share swapped for another agent's share of another seed: the rebuilt seed fails its commitment.
  const wrong = openPeerShare(party("a1"), attempt, "b2", contributions.get("b2")?.sealedShares.a1 as Uint8Array, commitments.b2);
  assert.throws(() => recoverSeed([wrong, ...shares.slice(1)], commitments[silent], names.length), /do not give back the seed/);
});

test("a sealed share opens only for its peer, in its attempt, unchanged", () => {
  const { attempt, contributions, commitments } = run(["a1", "b2", "c3"], 2, 1, 2);
  const sealed = contributions.get("a1")?.sealedShares.b2 as Uint8Array;
  const secret = sharedSecret(party("b2").key, party("a1").key.publicKey);
  assert.ok(openShare(secret, "a1", "b2", attempt.context, sealed, commitments.a1).length > 0);
  const flipped = Uint8Array.from(sealed, (b, i) => (i === 3 ? b ^ 1 : b));
  assert.throws(() => openShare(secret, "a1", "b2", attempt.context, flipped, commitments.a1));
  assert.throws(() => openShare(secret, "a1", "b2", { ...attempt.context, attempt: 2 }, sealed, commitments.a1));
  assert.throws(() => openShare(secret, "a1", "b2", attempt.context, sealed, commitments.b2), "the key is bound to the seed's commitment");
  assert.throws(() => openPeerShare(party("c3"), attempt, "a1", sealed, commitments.a1), "c3 cannot open b2's share");
});

test("an agent refuses to reveal below the threshold, for a set that is not the roster, and for a second attempt or set of a round", () => {
  const attempt = attemptOf(["a1", "b2", "c3", "d4"], 5, 1);
  assert.match(revealRefusal({}, attempt, ["a1", "b2"], 3) ?? "", /took 2 agents, below the threshold of 3/);
  assert.match(revealRefusal({}, attempt, ["a1", "b2", "c3"], 3) ?? "", /not the roster of its attempt 1/);
  assert.is(revealRefusal({}, attempt, ["d4", "c3", "b2", "a1"], 3), undefined);
  const record = recordReveal({}, attempt, ["a1", "b2", "c3", "d4"]);
  assert.is(revealRefusal(record, attempt, ["a1", "b2", "c3", "d4"], 3), undefined, "the same reveal again (a re-publish) is fine");
  const second = attemptOf(["a1", "b2", "c3"], 5, 2);
  assert.match(revealRefusal(record, second, ["a1", "b2", "c3"], 3) ?? "", /already revealed for attempt 1 of round 5/);
  assert.is(revealRefusal(record, attemptOf(["a1", "b2", "c3"], 6, 1), ["a1", "b2", "c3"], 3), undefined, "the next round is another matter");
});

test("quantization: a sum is within n * 2^-(f+1) of the real sum; bounds and headroom are checked", () => {
  const values = [0.1, -0.30000000000000004, 123.456789, 1e-12];
  const f = fractionBitsFor({ maxAbs: 200, agents: 4, resolution: 1e-9 });
  assert.is(f, 30);
  const sum = dequantize(values.map((v) => quantize([v], f, 200)).reduce(addWords), f)[0];
  assert.ok(Math.abs(sum - values.reduce((a, b) => a + b)) <= 4 * 2 ** -(f + 1));
  assert.throws(() => quantize([201], f, 200), /outside \[-200, 200\]/);
  assert.throws(() => quantize([Number.NaN], f, 200), /outside/);
  assert.throws(() => fractionBitsFor({ maxAbs: 1e15, agents: 64, resolution: 1e-6 }), /need \d+ bits; 64-bit secure sums hold 62/);
  assert.equal(dequantize(quantize([-5.5], 4, 10), 4), [-5.5], "negative values wrap and come back");
});

test("Shamir: any threshold of shares gives the secret back", () => {
  const secret = fixedRandom("secret")(32);
  const shares = splitSecret(secret, 6, 4, fixedRandom("coefficients"));
  for (const subset of [
    [0, 1, 2, 3],
    [2, 3, 4, 5],
    [0, 2, 4, 5],
  ])
    assert.equal(combineShares(subset.map((i) => shares[i])), secret);
  assert.throws(() => combineShares([shares[0], shares[0]]), /distinct holders/);
});

test("a peer key that is a low-order point is refused", () => {
  assert.throws(() => sharedSecret(party("a1").key, new Uint8Array(32)), /low-order point|zero/);
  assert.throws(() => sharedSecret(party("a1").key, new Uint8Array(31)), /32 bytes/);
  assert.ok(commitmentOf(new Uint8Array(32)).length === 32);
});

test("word arithmetic on 32-bit halves agrees with BigInt arithmetic mod 2^64, carries and borrows included", () => {
  const bytes = fixedRandom("ring")(8 * 64);
  const a = bytesToWords(bytes.subarray(0, 8 * 32));
  const b = bytesToWords(bytes.subarray(8 * 32));
  // Edge words: all ones plus one carries out of both halves; zero minus one borrows through both.
  a.set([0xffffffffffffffffn, 0n, 0x00000000ffffffffn, 0xffffffff00000000n]);
  b.set([1n, 1n, 1n, 0xffffffff00000000n]);
  const sum = addWords(a, b);
  const difference = subtractWords(a, b);
  for (let i = 0; i < a.length; i++) {
    assert.is(sum[i], BigInt.asUintN(64, a[i] + b[i]), `sum of word ${i}`);
    assert.is(difference[i], BigInt.asUintN(64, a[i] - b[i]), `difference of word ${i}`);
  }
  assert.equal(bytesToWords(wordsToBytes(a)), a);
  assert.is(new DataView(wordsToBytes(a).buffer).getBigUint64(8 * 5), a[5], "big-endian on the wire");
});

test("a mask is ChaCha20's keystream read as big-endian words (RFC 8439's all-zero key and nonce)", () => {
  assert.equal(Array.from(keystreamWords(new Uint8Array(32), 2)), [0x76b8e0ada0f13d90n, 0x405d6ae55386bd28n]);
});

test("agents that write parts of the vector mask only what they share: sums are exact, contributions carry their own words only", () => {
  // Two groups of writers (a cluster's types) over 3 + 3 words of their own, and 2 words all of them write.
  const support = (name: string): Support =>
    ["a1", "b2", "c3"].includes(name)
      ? [
          { offset: 0, length: 3 },
          { offset: 6, length: 2 },
        ]
      : [{ offset: 3, length: 5 }];
  const names = ["a1", "b2", "c3", "d4", "e5"];
  const attempt = attemptOf(names, 4, 1);
  const whole = (name: string): Words => {
    const words = quantize(valuesOf(name, 4, 8), F, MAX);
    const mine = support(name);
    return words.map((w, i) => (mine.some((s) => i >= s.offset && i < s.offset + s.length) ? w : 0n));
  };
  const contributions = new Map(names.map((n) => [n, contribute(party(n), attempt, whole(n), fixedRandom(`support ${n}`), support)]));
  for (const n of names) assert.is(contributions.get(n)?.masked.length, supportLength(support(n)), `${n} sends the words it writes`);
  const masked = Object.fromEntries([...contributions].map(([n, c]) => [n, c.masked]));
  const seeds = Object.fromEntries([...contributions].map(([n, c]) => [n, c.selfSeed]));
  const commitments = Object.fromEntries([...contributions].map(([n, c]) => [n, c.commitment]));
  const truth = names.reduce((sum, n) => addWords(sum, whole(n)), zeroWords(8));
  assert.equal(unmaskedSum(attempt, masked, seeds, commitments, 8, support), truth);
  // A group's own words are masked among its members: with one of its self masks left in, its words are noise.
  const maskedSum = names.reduce((sum, n) => scatterAdd(sum, masked[n], support(n)), zeroWords(8));
  const partial = withoutSelfMasks(
    maskedSum,
    attempt.context,
    names.filter((n) => n !== "a1").map((n) => ({ seed: seeds[n], support: support(n) })),
  );
  assert.equal(withoutSelfMasks(partial, attempt.context, [{ seed: seeds.a1, support: support("a1") }]), truth);
  assert.ok(partial.subarray(0, 3).every((w, i) => w !== truth[i]));
  assert.equal(commonSupport(support("a1"), support("d4")), [{ offset: 6, length: 2 }]);
  assert.throws(
    () =>
      checkSupport(
        [
          { offset: 4, length: 2 },
          { offset: 5, length: 1 },
        ],
        8,
      ),
    /in order, apart/,
  );
  assert.throws(() => checkSupport([{ offset: 7, length: 2 }], 8), /within 8 words/);
});

test("no mask for a round or attempt that would not fit its nonce (two attempts must never share a keystream)", () => {
  for (const [round, attempt] of [
    [2 ** 53, 1],
    [1.5, 1],
    [-1, 1],
    [1, 2 ** 32 + 1],
  ])
    assert.throws(
      () =>
        contribute(party("a1"), { ...attemptOf(["a1", "b2"], 1, 1), context: { tenant: "t", problem: "p", round, attempt } }, zeroWords(3), fixedRandom("n")),
      /no mask for round/,
    );
});

test.run();
