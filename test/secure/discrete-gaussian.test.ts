import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  bernoulliExp,
  cryptoRandom,
  MAX_RATIONAL_PART,
  type Rational,
  type RandomSource,
  sampleDiscreteGaussian,
  sampleDiscreteGaussianVector,
  seededRandom,
} from "../../src/secure/discrete-gaussian.ts";

// Every statistical test draws from a fixed seed, so it is deterministic: it either always passes or
// always fails. The thresholds (chi-square 0.999 quantile, 5 standard errors) are what a correct
// sampler passes with high probability for a *random* seed, so a pass here is not a tuned seed.

/** The exact pmf of N_Z(0, sigma2) over [-range, range] in floating point; the mass outside is < e^-70. */
function discreteGaussianPmf(sigma2: number): Map<number, number> {
  const range = Math.ceil(12 * Math.sqrt(sigma2)) + 2;
  const weights = new Map<number, number>();
  let total = 0;
  for (let x = -range; x <= range; x++) {
    const w = Math.exp((-x * x) / (2 * sigma2));
    weights.set(x, w);
    total += w;
  }
  for (const [x, w] of weights) weights.set(x, w / total);
  return weights;
}

function moments(pmf: Map<number, number>): { variance: number; fourth: number } {
  let variance = 0;
  let fourth = 0;
  for (const [x, p] of pmf) {
    variance += p * x * x;
    fourth += p * x ** 4;
  }
  return { variance, fourth };
}

/** Chi-square quantile by Wilson–Hilferty (1931): (chi2_k / k)^(1/3) is about normal; good to ~1% for k >= 3. */
function chiSquareQuantile(degreesOfFreedom: number, standardNormalQuantile: number): number {
  const k = degreesOfFreedom;
  return k * (1 - 2 / (9 * k) + standardNormalQuantile * Math.sqrt(2 / (9 * k))) ** 3;
}
const Z_0999 = 3.090232306167813; // Phi^-1(0.999)

/**
 * Pearson's chi-square against the pmf. Cells are the integers in (-m, m) plus two tail cells
 * (<= -m and >= m), with m the largest cut that leaves every expected count >= 5; the pmf is symmetric
 * and unimodal, so the smallest inner cells are at +-(m-1).
 */
function chiSquare(samples: readonly bigint[], pmf: Map<number, number>): { statistic: number; degreesOfFreedom: number } {
  const n = samples.length;
  const p = (x: number) => pmf.get(x) ?? 0;
  const upperTail = (m: number) => [...pmf].reduce((sum, [x, px]) => (x >= m ? sum + px : sum), 0);
  let m = Math.max(...pmf.keys());
  while (m > 1 && (n * p(m - 1) < 5 || n * upperTail(m) < 5)) m--;
  const cellOf = (x: number) => Math.max(-m, Math.min(m, x));
  const observed = new Map<number, number>();
  for (const s of samples) observed.set(cellOf(Number(s)), (observed.get(cellOf(Number(s))) ?? 0) + 1);
  let statistic = 0;
  for (let cell = -m; cell <= m; cell++) {
    const expected = n * (Math.abs(cell) === m ? upperTail(m) : p(cell));
    assert.ok(expected >= 5, `cell ${cell} expects ${expected}`);
    statistic += ((observed.get(cell) ?? 0) - expected) ** 2 / expected;
  }
  return { statistic, degreesOfFreedom: 2 * m }; // 2m + 1 cells, no fitted parameters
}

const SAMPLES = 100_000;
const VARIANCES: Rational[] = [
  { num: 1n, den: 2n },
  { num: 2n, den: 1n },
  { num: 7n, den: 3n }, // a denominator other than 1 and 2
  { num: 10n, den: 1n },
  { num: 100n, den: 1n },
];

for (const sigma2 of VARIANCES) {
  const label = `${sigma2.num}/${sigma2.den}`;
  const sigma2Float = Number(sigma2.num) / Number(sigma2.den);

  test(`sigma^2 = ${label}: chi-square fit, mean 0, variance just below sigma^2`, () => {
    const samples = sampleDiscreteGaussianVector(sigma2, SAMPLES, seededRandom(`chi-square ${label}`));
    const pmf = discreteGaussianPmf(sigma2Float);

    const { statistic, degreesOfFreedom } = chiSquare(samples, pmf);
    const critical = chiSquareQuantile(degreesOfFreedom, Z_0999);
    assert.ok(statistic < critical, `chi-square ${statistic.toFixed(1)} >= ${critical.toFixed(1)} (0.999 quantile, ${degreesOfFreedom} df)`);

    const exact = moments(pmf);
    // The discrete Gaussian's variance is below sigma^2 (CKS 2020), by about 8 pi^2 sigma^4 exp(-2 pi^2 sigma^2):
    // 0.001 at sigma^2 = 1/2, under double precision from sigma^2 = 2 on, hence the 1e-12 slack.
    assert.ok(exact.variance <= sigma2Float * (1 + 1e-12) && exact.variance > 0.99 * sigma2Float, `exact variance ${exact.variance}`);
    if (sigma2Float <= 0.5) assert.ok(exact.variance < sigma2Float - 5e-4, `exact variance ${exact.variance}`);

    const values = samples.map(Number);
    const mean = values.reduce((a, b) => a + b, 0) / SAMPLES;
    assert.ok(Math.abs(mean) < 5 * Math.sqrt(exact.variance / SAMPLES), `mean ${mean}`);
    const sampleVariance = values.reduce((a, x) => a + x * x, 0) / SAMPLES; // the true mean is 0
    const varianceStandardError = Math.sqrt((exact.fourth - exact.variance ** 2) / SAMPLES);
    assert.ok(
      Math.abs(sampleVariance - exact.variance) < 5 * varianceStandardError,
      `sample variance ${sampleVariance} vs exact ${exact.variance} (standard error ${varianceStandardError})`,
    );
  });
}

test("a huge variance (10^12) keeps mean 0 and variance sigma^2", () => {
  const n = 20_000;
  const values = sampleDiscreteGaussianVector({ num: 10n ** 12n, den: 1n }, n, seededRandom("huge")).map(Number);
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = values.reduce((a, x) => a + x * x, 0) / n;
  assert.ok(Math.abs(mean) < 5 * Math.sqrt(1e12 / n), `mean ${mean}`);
  assert.ok(Math.abs(variance / 1e12 - 1) < 5 * Math.sqrt(2 / n), `variance ${variance}`); // Var(X^2) = 2 sigma^4
});

test("a tiny variance (1/1000) is 0 every time: Pr[X != 0] is about 2e^-500", () => {
  const samples = sampleDiscreteGaussianVector({ num: 1n, den: 1000n }, 5_000, seededRandom("tiny"));
  assert.ok(samples.every((x) => x === 0n));
});

test("the sampler accepts the largest allowed num and den", () => {
  const biggest = MAX_RATIONAL_PART - 1n;
  const wide = sampleDiscreteGaussian({ num: biggest, den: 1n }, seededRandom("wide"));
  assert.ok(wide * wide < 100n * biggest, "within 10 sigma");
  assert.is(sampleDiscreteGaussian({ num: 1n, den: biggest }, seededRandom("narrow")), 0n);
});

test("bad variances throw a clear error", () => {
  const random = seededRandom("bad");
  const cases: [unknown, RegExp][] = [
    [{ num: 0n, den: 1n }, /must be positive/],
    [{ num: -1n, den: 1n }, /must be positive/],
    [{ num: 1n, den: 0n }, /must be positive/],
    [{ num: 1n, den: -2n }, /must be positive/],
    [{ num: MAX_RATIONAL_PART, den: 1n }, /below 2\^64/],
    [{ num: 1n, den: MAX_RATIONAL_PART }, /below 2\^64/],
    [{ num: 1, den: 2 }, /must be \{num: bigint, den: bigint\}/],
    [null, /must be \{num: bigint, den: bigint\}/],
  ];
  for (const [sigma2, message] of cases) {
    assert.throws(() => sampleDiscreteGaussian(sigma2 as Rational, random), message, String(sigma2));
  }
  assert.throws(() => sampleDiscreteGaussianVector({ num: 1n, den: 1n }, -1, random), /length/);
  assert.throws(() => sampleDiscreteGaussianVector({ num: 1n, den: 1n }, 1.5, random), /length/);
});

test("the vector helper draws `length` samples, the same as drawing them one by one", () => {
  const sigma2 = { num: 5n, den: 1n };
  const vector = sampleDiscreteGaussianVector(sigma2, 50, seededRandom("vector"));
  const one = seededRandom("vector");
  assert.equal(
    vector,
    Array.from({ length: 50 }, () => sampleDiscreteGaussian(sigma2, one)),
  );
  assert.equal(sampleDiscreteGaussianVector(sigma2, 0, one), []);
});

test("Bernoulli(exp(-gamma)) hits exp(-gamma) for gamma below, at and above 1", () => {
  const random = seededRandom("bernoulli-exp");
  const n = 40_000;
  for (const [num, den] of [
    [1n, 3n],
    [1n, 1n],
    [5n, 2n],
    [7n, 1n],
  ] as const) {
    let ones = 0;
    for (let i = 0; i < n; i++) if (bernoulliExp(num, den, random)) ones++;
    const p = Math.exp(-Number(num) / Number(den));
    const z = (ones - n * p) / Math.sqrt(n * p * (1 - p));
    assert.ok(Math.abs(z) < 5, `gamma ${num}/${den}: ${ones}/${n}, z = ${z.toFixed(2)}`);
  }
  assert.ok(bernoulliExp(0n, 1n, random), "exp(0) = 1");
  assert.not.ok(bernoulliExp(10n ** 30n, 1n, random), "a huge gamma returns 0 at the first coin, w.h.p.");
  assert.throws(() => bernoulliExp(-1n, 1n, random), /num >= 0/);
});

/** `critical`: a chi-square quantile on 5 df (exact values, from scipy.stats.chi2). */
function checkUniformBelow(random: RandomSource, critical: number): void {
  const n = 60_000;
  const counts = new Array<number>(6).fill(0);
  for (let i = 0; i < n; i++) {
    const face = Number(random.uniformBelow(6n));
    counts[face] = (counts[face] ?? 0) + 1;
  }
  const statistic = counts.reduce((a, c) => a + (c - n / 6) ** 2 / (n / 6), 0);
  assert.ok(statistic < critical, `chi-square ${statistic} on 5 df >= ${critical}`);
  assert.is(random.uniformBelow(1n), 0n);
  const big = (1n << 70n) + 13n; // not a power of two: the top byte is masked and some draws rejected
  for (let i = 0; i < 200; i++) {
    const x = random.uniformBelow(big);
    assert.ok(x >= 0n && x < big);
  }
  assert.throws(() => random.uniformBelow(0n), /positive bigint/);
  assert.throws(() => random.uniformBelow(-5n), /positive bigint/);
}

test("seeded source: uniform, in range, reproducible, and seed-dependent", () => {
  checkUniformBelow(seededRandom("uniform"), 20.515); // the 0.999 quantile
  const draw = (seed: string) => {
    const r = seededRandom(seed);
    return Array.from({ length: 20 }, () => r.uniformBelow(1000n));
  };
  assert.equal(draw("a"), draw("a"));
  assert.not.equal(draw("a"), draw("b"));
});

test("crypto source: uniform and in range, and drives the sampler", () => {
  const random = cryptoRandom();
  checkUniformBelow(random, 40.863); // unseeded: the 1 - 1e-7 quantile, so a correct source fails once in 10^7 runs
  const samples = sampleDiscreteGaussianVector({ num: 4n, den: 1n }, 1000, random);
  assert.ok(samples.every((x) => typeof x === "bigint" && x > -40n && x < 40n));
});

test.run();
