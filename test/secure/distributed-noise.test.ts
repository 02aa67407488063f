import { test } from "uvu";
import * as assert from "uvu/assert";
import { sampleDiscreteGaussianVector, seededRandom } from "../../src/secure/discrete-gaussian.ts";
import { clipToNorm, localVariance, roundRho, sigma2For, worstRoundRho } from "../../src/secure/distributed-noise.ts";

// rho of one round of the distributed discrete Gaussian (Kairouz, Liu, Steinke, ICML 2021, Proposition 14,
// its third bound), as the authors' accountant computes it (google-research/federated, distributed_dp,
// compute_rdp_dgaussian's term_3 and ddgauss_epsilon's tau), with our sensitivity (2 clip on the grid + sqrt(d)).
// The expected values were computed from that formula in an independent Python transcription.
const REFERENCE: readonly [Parameters<typeof roundRho>[0], number][] = [
  // tau = 0.497: the local variance (1/3 of a grid unit) is far from one discrete Gaussian's sum.
  [{ clip: 1, sigma2: 1, fractionBits: 0, agents: 3, dimension: 6 }, 16.057227380980034],
  [{ clip: 1, sigma2: 4, fractionBits: 0, agents: 3, dimension: 6 }, 2.4748511988288886],
  [{ clip: 2, sigma2: 0.5, fractionBits: 1, agents: 4, dimension: 3 }, 24.786254169171233],
  // cosmos-3asset at epsilon 8 over 40 rounds: tau underflows to 0; the central Gaussian's rho.
  [{ clip: 1000, sigma2: 76019757.2, fractionBits: 14, agents: 3, dimension: 6 }, 0.026308954049250637],
];

test("rho of a round against the authors' accountant's formula", () => {
  for (const [release, expected] of REFERENCE) {
    const rho = roundRho(release);
    assert.ok(Math.abs(rho - expected) <= 1e-12 * expected, `${JSON.stringify(release)}: ${rho} against ${expected}`);
  }
});

test("with noise of many grid units a round's rho is the central Gaussian's, whatever the roster's size", () => {
  const release = { clip: 3, sigma2: 50, fractionBits: 12, dimension: 5 };
  const sensitivity = 2 * 3 * 2 ** 12 + Math.sqrt(5);
  const central = sensitivity ** 2 / (2 * Math.ceil(50 * 4 ** 12));
  for (const agents of [2, 7, 100]) assert.ok(Math.abs(roundRho({ ...release, agents }) - central) <= 1e-12 * central);
  assert.is(worstRoundRho(release, 2, 100), roundRho({ ...release, agents: 100 }));
});

test("sigma2For: the least noise that spends at most rho a round, for every roster size", () => {
  for (const rho of [1e-4, 0.02, 3]) {
    const release = { clip: 1000, fractionBits: 14, dimension: 6 };
    const sigma2 = sigma2For(rho, release, 2, 3);
    assert.ok(worstRoundRho({ ...release, sigma2 }, 2, 3) <= rho, "it fits");
    assert.ok(worstRoundRho({ ...release, sigma2: sigma2 * (1 - 1e-6) }, 2, 3) > rho, "and is the least that does");
  }
  // A few grid units: tau counts, and the noise must grow past the central Gaussian's.
  const small = { clip: 0.5, fractionBits: 0, dimension: 4 };
  const sigma2 = sigma2For(0.5, small, 2, 8);
  assert.ok(worstRoundRho({ ...small, sigma2 }, 2, 8) <= 0.5);
  assert.ok(sigma2 > (2 * 0.5 + 2) ** 2 / (2 * 0.5), `${sigma2}: above the central Gaussian's`);
});

test("each agent's share: the sum's variance split, refused past the sampler's 2^64 or below a quarter grid unit each", () => {
  assert.equal(localVariance(2.5, 3, 4), { num: 160n, den: 4n });
  assert.throws(() => localVariance(1e10, 30, 3), /past 2\^64/);
  assert.throws(() => localVariance(1, 0, 5), /below a quarter grid unit/);
  assert.throws(() => roundRho({ clip: 0, sigma2: 1, fractionBits: 4, agents: 2, dimension: 1 }), /clip/);
});

test("the agents' shares add up to noise of the sum's variance (a sample of 3 agents' draws, 4,000 sums)", () => {
  const sigma2 = 2.25;
  const fractionBits = 3;
  const agents = 3;
  const random = seededRandom("distributed-noise");
  const share = localVariance(sigma2, fractionBits, agents);
  const sums = Array.from({ length: 4000 }, () => sampleDiscreteGaussianVector(share, agents, random).reduce((total, x) => total + Number(x), 0));
  const mean = sums.reduce((a, b) => a + b, 0) / sums.length;
  const variance = sums.reduce((a, b) => a + (b - mean) ** 2, 0) / (sums.length - 1);
  const expected = Math.ceil(sigma2 * 4 ** fractionBits);
  // The sample variance of 4,000 near-Gaussian draws is within 4 standard errors (sqrt(2/n) ~ 2.2%) of the truth.
  assert.ok(Math.abs(variance / expected - 1) < 4 * Math.sqrt(2 / sums.length), `variance ${variance} against ${expected}`);
  assert.ok(Math.abs(mean) < 4 * Math.sqrt(expected / sums.length), `mean ${mean}`);
});

test("clipping: within the clip a vector is unchanged, past it scaled to the clip's norm", () => {
  assert.equal(clipToNorm([3, 4], 5.1), [3, 4]);
  const clipped = clipToNorm([30, 40], 5);
  assert.ok(Math.hypot(...clipped) <= 5 && Math.hypot(...clipped) > 5 - 1e-9);
  assert.ok(Math.abs(clipped[0] / clipped[1] - 0.75) < 1e-12, "the direction is kept");
});

test.run();
