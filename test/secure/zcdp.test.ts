import { test } from "uvu";
import * as assert from "uvu/assert";
import { epsilonFor, epsilonFromRhoStandard, epsilonFromRhoTight, rhoBudgetFor, rhoPerRound, roundsWithin } from "../../src/secure/zcdp.ts";

const closeTo = (actual: number, expected: number, relative: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= relative * Math.abs(expected), `${what}: ${actual} vs ${expected}`);

// Reference values from the paper's authors' own code: IBM/discrete-gaussian-differential-privacy,
// cdp2adp.py at commit cb190d2a990a78eff6e21159203bc888e095f01b (T. Steinke, 2020), functions cdp_eps
// and cdp_rho, run with CPython 3. cdp_eps(0.025, 1e-6) and cdp_rho(1, 1e-6) are the two values its
// __main__ prints. Their search (bisection on eps, alpha >= 1.01) differs from ours (grid + golden
// section on alpha), so agreement to 1e-12 checks the formula and the search, not shared code.
const AUTHORS_EPSILON: [rho: number, delta: number, epsilon: number][] = [
  [0.025, 1e-6, 1.014074254726128],
  [0.1, 1e-5, 1.914238832003598],
  [0.5, 1e-5, 4.728386984943314],
  [1, 1e-6, 7.7662166253117215],
  [2, 1e-9, 14.150147553874598],
  [0.001, 1e-5, 0.15733539316121553],
  [10, 1e-5, 30.11085730379573],
];
const AUTHORS_RHO: [epsilon: number, delta: number, rho: number][] = [
  [1, 1e-6, 0.024355970359538372],
  [0.5, 1e-5, 0.008505530591181911],
  [3, 1e-5, 0.2242491682463453],
  [8, 1e-9, 0.7328332873824535],
];

test("rho per round is clip^2 / (2 sigma^2), and bad inputs throw", () => {
  assert.is(rhoPerRound(1, 0.5), 1);
  assert.is(rhoPerRound(2, 8), 0.25);
  assert.is(rhoPerRound(3, 450), 0.01);
  const bad: [clip: number, sigma2: number][] = [
    [0, 1],
    [1, 0],
    [-1, 1],
    [1, Number.NaN],
    [Number.POSITIVE_INFINITY, 1],
  ];
  for (const [clip, sigma2] of bad) assert.throws(() => rhoPerRound(clip, sigma2), /must be a positive finite number/);
});

test("standard conversion is rho + 2 sqrt(rho ln(1/delta)) (Bun & Steinke 2016, Prop. 1.3)", () => {
  // 1.2003940002383997: the same expression evaluated by CPython for rho = 0.025, delta = 1e-6.
  closeTo(epsilonFromRhoStandard(0.025, 1e-6), 1.2003940002383997, 1e-15, "rho 0.025");
  assert.is(epsilonFromRhoStandard(1, Math.exp(-4)), 1 + 2 * 2);
  assert.is(epsilonFromRhoStandard(0, 1e-5), 0);
});

test("tight conversion matches the authors' cdp_eps", () => {
  for (const [rho, delta, epsilon] of AUTHORS_EPSILON) closeTo(epsilonFromRhoTight(rho, delta), epsilon, 1e-12, `rho ${rho}, delta ${delta}`);
});

test("largest rho for a budget matches the authors' cdp_rho, and fits the budget", () => {
  for (const [epsilon, delta, rho] of AUTHORS_RHO) {
    const found = rhoBudgetFor(epsilon, delta);
    closeTo(found, rho, 1e-12, `epsilon ${epsilon}, delta ${delta}`);
    assert.ok(epsilonFor(found, delta) <= epsilon, "the rho returned fits");
    assert.ok(epsilonFor(found * (1 + 1e-9), delta) > epsilon, "and is the largest that does, to 1e-9");
  }
});

test("tight epsilon solves the paper's delta form: inf over alpha of exp((a-1)(a rho - eps))/(a-1) (1-1/a)^a = delta", () => {
  // Independent of both implementations above: a dense grid over alpha evaluates the paper's formula as
  // printed (CKS 2020), in logs. A grid can only overestimate the infimum, hence the one-sided slack.
  const deltaAt = (rho: number, epsilon: number) => {
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i <= 200_000; i++) {
      const alpha = 1 + 10 ** (-6 + (12 * i) / 200_000);
      const logDelta = (alpha - 1) * (alpha * rho - epsilon) - Math.log(alpha - 1) + alpha * Math.log1p(-1 / alpha);
      best = Math.min(best, logDelta);
    }
    return Math.exp(best);
  };
  for (const [rho, delta] of AUTHORS_EPSILON) {
    const implied = deltaAt(rho, epsilonFromRhoTight(rho, delta));
    assert.ok(implied >= delta * (1 - 1e-9) && implied <= delta * (1 + 1e-4), `rho ${rho}: delta ${implied} vs ${delta}`);
  }
});

test("tight is never worse than standard, and epsilonFor takes the smaller, never below 0", () => {
  for (const rho of [1e-12, 1e-6, 1e-3, 0.1, 1, 10, 1e3]) {
    for (const delta of [1e-12, 1e-6, 1e-3, 0.1]) {
      const tight = epsilonFromRhoTight(rho, delta);
      const standard = epsilonFromRhoStandard(rho, delta);
      assert.ok(tight <= standard, `rho ${rho}, delta ${delta}: ${tight} > ${standard}`);
      assert.is(epsilonFor(rho, delta), Math.max(0, tight));
    }
  }
  assert.is(epsilonFor(0, 1e-6), 0);
});

/**
 * Complementary error function, Numerical Recipes' erfcc (Chebyshev fit, relative error < 1.2e-7 for
 * every x). Enough here: the deltas compared below are differences of terms a few times larger.
 */
function erfc(x: number): number {
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const poly =
    -1.26551223 +
    t *
      (1.00002368 +
        t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const value = t * Math.exp(-x * x + poly);
  return x >= 0 ? value : 2 - value;
}
const normalCdf = (z: number) => erfc(-z / Math.SQRT2) / 2;

/**
 * The exact privacy profile of the continuous Gaussian mechanism with sensitivity / sigma = mu
 * (Balle & Wang, ICML 2018, "Improving the Gaussian Mechanism...", Theorem 8):
 *   delta(eps) = Phi(mu/2 - eps/mu) - e^eps Phi(-mu/2 - eps/mu).
 * That mechanism is exactly (mu^2 / 2)-zCDP, and T rounds of it are one round with mu sqrt(T); so any
 * valid zCDP conversion must give an eps at which this delta is at most the target.
 */
const gaussianDelta = (mu: number, epsilon: number) => normalCdf(mu / 2 - epsilon / mu) - Math.exp(epsilon) * normalCdf(-mu / 2 - epsilon / mu);

function exactGaussianEpsilon(mu: number, delta: number): number {
  let low = 0;
  let high = 1;
  while (gaussianDelta(mu, high) > delta) high *= 2;
  for (let i = 0; i < 100; i++) {
    const middle = (low + high) / 2;
    if (gaussianDelta(mu, middle) > delta) low = middle;
    else high = middle;
  }
  return high;
}

test("zCDP conversion upper-bounds the exact Gaussian curve (Balle & Wang 2018), one round and many", () => {
  // Our eps is 5-17% above the exact one across these cases (delta 1e-9 to 1e-3): a bound, and a tight one.
  const cases: [clip: number, sigma2: number, rounds: number][] = [
    [1, 0.5, 1],
    [1, 2, 1],
    [1, 25, 1],
    [1, 100, 10],
    [2, 400, 100],
    [1, 10_000, 1000],
  ];
  for (const [clip, sigma2, rounds] of cases) {
    const mu = Math.sqrt(rounds * (clip ** 2 / sigma2));
    for (const delta of [1e-3, 1e-5, 1e-9]) {
      const epsilon = epsilonFor(rounds * rhoPerRound(clip, sigma2), delta);
      const exact = exactGaussianEpsilon(mu, delta);
      assert.ok(gaussianDelta(mu, epsilon) <= delta * (1 + 1e-6), `mu ${mu}, delta ${delta}: exact delta at our eps is larger`);
      assert.ok(epsilon >= exact && epsilon <= 1.25 * exact, `mu ${mu}, delta ${delta}: ${epsilon} vs exact ${exact}`);
    }
  }
});

test("more rounds, or a larger clip, spend more epsilon; more noise spends less", () => {
  const delta = 1e-6;
  const epsilonOf = (clip: number, sigma2: number, rounds: number) => epsilonFor(rounds * rhoPerRound(clip, sigma2), delta);
  let previous = 0;
  for (const rounds of [1, 2, 5, 10, 100, 1000]) {
    const epsilon = epsilonOf(1, 100, rounds);
    assert.ok(epsilon > previous, `${rounds} rounds`);
    previous = epsilon;
  }
  previous = Number.POSITIVE_INFINITY;
  for (const sigma2 of [1, 4, 16, 100, 1e4]) {
    const epsilon = epsilonOf(1, sigma2, 10);
    assert.ok(epsilon < previous, `sigma^2 ${sigma2}`);
    previous = epsilon;
  }
  assert.ok(epsilonOf(2, 100, 10) > epsilonOf(1, 100, 10));
});

test("rho budget grows with epsilon and with delta", () => {
  let previous = 0;
  for (const epsilon of [0.1, 0.5, 1, 2, 8]) {
    const rho = rhoBudgetFor(epsilon, 1e-6);
    assert.ok(rho > previous, `epsilon ${epsilon}`);
    previous = rho;
  }
  assert.ok(rhoBudgetFor(1, 1e-3) > rhoBudgetFor(1, 1e-9));
});

test("rounds within a budget: T fits, T + 1 does not, and fewer fit with less noise", () => {
  // Worked example: (1, 1e-6) allows rho 0.024356 (authors' cdp_rho); clip 1 and sigma^2 = 100 spend 0.005 a round.
  assert.is(roundsWithin({ epsilon: 1, delta: 1e-6 }, 1, 100), 4);
  for (const [budget, clip, sigma2] of [
    [{ epsilon: 1, delta: 1e-6 }, 1, 100],
    [{ epsilon: 3, delta: 1e-5 }, 1, 1000],
    [{ epsilon: 8, delta: 1e-9 }, 5, 2500],
    [{ epsilon: 0.5, delta: 1e-5 }, 1, 1e6],
  ] as const) {
    const rounds = roundsWithin(budget, clip, sigma2);
    const rho = rhoPerRound(clip, sigma2);
    assert.ok(rounds > 0);
    assert.ok(epsilonFor(rounds * rho, budget.delta) <= budget.epsilon, "T fits");
    assert.ok(epsilonFor((rounds + 1) * rho, budget.delta) > budget.epsilon, "T + 1 does not");
    assert.ok(roundsWithin(budget, clip, sigma2 / 4) < rounds);
  }
  assert.is(roundsWithin({ epsilon: 0.01, delta: 1e-6 }, 1, 1), 0, "one round already overspends");
  assert.is(roundsWithin({ epsilon: 1, delta: 1e-6 }, 1e-12, 1e12), Number.MAX_SAFE_INTEGER, "no practical limit");
});

test("bad budgets throw a clear error", () => {
  assert.throws(() => epsilonFor(-1, 1e-6), /rho must be a non-negative finite number/);
  assert.throws(() => epsilonFor(Number.NaN, 1e-6), /rho must be/);
  for (const delta of [0, 1, -1e-6, 2, Number.NaN]) {
    assert.throws(() => epsilonFor(1, delta), /delta must be in \(0, 1\)/, `delta ${delta}`);
    assert.throws(() => rhoBudgetFor(1, delta), /delta must be in \(0, 1\)/, `delta ${delta}`);
  }
  for (const epsilon of [0, -1, Number.POSITIVE_INFINITY, Number.NaN]) {
    assert.throws(() => rhoBudgetFor(epsilon, 1e-6), /epsilon must be a positive finite number/, `epsilon ${epsilon}`);
  }
  assert.throws(() => roundsWithin({ epsilon: 1, delta: 1e-6 }, 0, 1), /clip must be/);
});

test.run();
