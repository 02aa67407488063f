/**
 * Zero-concentrated DP (zCDP; Bun & Steinke, TCC 2016, arXiv:1605.02065) accounting for a sum released
 * with discrete Gaussian noise, and conversion of the total to (epsilon, delta)-DP.
 *
 * - One round: adding N_Z(0, sigma^2) to an integer query of L2 sensitivity `clip` is rho-zCDP with
 *   rho = clip^2 / (2 sigma^2), exactly as for the continuous Gaussian (Canonne, Kamath, Steinke,
 *   "The Discrete Gaussian for Differential Privacy", NeurIPS 2020, arXiv:2004.00010: Theorem 4 in one
 *   dimension; for a vector with independent coordinates, their multivariate theorem with
 *   sum_j (q_j(x) - q_j(x'))^2 / sigma^2 <= clip^2 / sigma^2).
 * - T rounds, adaptively chosen: rho adds up (Bun & Steinke 2016, composition lemma, Lemma 2.3).
 * - zCDP -> (epsilon, delta): the standard bound eps = rho + 2 sqrt(rho ln(1/delta)) (Bun & Steinke 2016,
 *   Proposition 1.3) and the tighter one of CKS 2020 (arXiv v3 p. 13, Proposition 12 / Corollary 13:
 *   delta = exp((a-1)(a rho - eps)) / (a-1) * (1 - 1/a)^a for any a > 1). We report the smaller; both
 *   are valid upper bounds, so the minimum is too. Theorem numbers are as recalled from the arXiv
 *   versions; the formulas themselves are checked against the authors' code (see the tests).
 *
 * Caveats the numbers do not show: `clip` must bound the L2 distance between the *integer* vectors
 * actually summed (after any rounding to the integer grid, which can grow the norm), for the neighbour
 * relation in force (add/remove one participant: clip; replace one: 2 * clip). Noise must be one
 * N_Z(0, sigma^2) draw per coordinate per round: a sum of several parties' discrete Gaussians is not a
 * discrete Gaussian, and this accountant does not cover that case. Arithmetic is ordinary double
 * precision; its relative error (~1e-15) is far below any budget's meaning, but it is not directed rounding.
 */

export type PrivacyBudget = { epsilon: number; delta: number };

function requirePositiveFinite(name: string, value: number): void {
  if (!(Number.isFinite(value) && value > 0)) throw new Error(`zCDP accountant: ${name} must be a positive finite number, got ${value}`);
}
function requireRho(rho: number): void {
  if (!(Number.isFinite(rho) && rho >= 0)) throw new Error(`zCDP accountant: rho must be a non-negative finite number, got ${rho}`);
}
function requireDelta(delta: number): void {
  if (!(delta > 0 && delta < 1)) throw new Error(`zCDP accountant: delta must be in (0, 1), got ${delta}`);
}

/** rho of one round: L2 sensitivity `clip`, discrete Gaussian noise of variance `sigma2` per coordinate. */
export function rhoPerRound(clip: number, sigma2: number): number {
  requirePositiveFinite("clip", clip);
  requirePositiveFinite("sigma2", sigma2);
  return (clip * clip) / (2 * sigma2);
}

/** Bun & Steinke 2016, Proposition 1.3: rho-zCDP implies (rho + 2 sqrt(rho ln(1/delta)), delta)-DP. */
export function epsilonFromRhoStandard(rho: number, delta: number): number {
  requireRho(rho);
  requireDelta(delta);
  return rho + 2 * Math.sqrt(rho * Math.log(1 / delta));
}

/**
 * The CKS 2020 conversion solved for epsilon: for alpha = 1 + s,
 *   eps(s) = alpha rho + ln(1 - 1/alpha) + (ln(1/delta) - ln alpha) / (alpha - 1),
 * written in s so that alpha near 1 loses no precision. Every s > 0 gives a valid epsilon.
 */
function epsilonAtAlpha(s: number, rho: number, logInverseDelta: number): number {
  const logAlpha = Math.log1p(s);
  return (1 + s) * rho + (Math.log(s) - logAlpha) + (logInverseDelta - logAlpha) / s;
}

// alpha - 1 searched over [1e-10, 1e15] on a log grid, then refined by golden section around the best
// grid point. For small rho the optimum is near alpha = 1 + sqrt(ln(1/delta) / rho), well inside this
// range for any rho and delta of practical use. An imperfect search can only cost tightness, never
// validity: the value returned is eps(s) at an actual s (and epsilonFor also takes the standard bound).
const LOG_S_MIN = Math.log(1e-10);
const LOG_S_MAX = Math.log(1e15);
const GRID_POINTS = 400;
const GOLDEN_STEPS = 80;

/** CKS 2020 conversion: the smallest epsilon over alpha > 1 (to within the search) for rho-zCDP at `delta`. */
export function epsilonFromRhoTight(rho: number, delta: number): number {
  requireRho(rho);
  requireDelta(delta);
  if (rho === 0) return 0;
  const logInverseDelta = Math.log(1 / delta);
  const epsilonAtLogS = (logS: number) => epsilonAtAlpha(Math.exp(logS), rho, logInverseDelta);
  const step = (LOG_S_MAX - LOG_S_MIN) / (GRID_POINTS - 1);
  let bestIndex = 0;
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < GRID_POINTS; i++) {
    const value = epsilonAtLogS(LOG_S_MIN + i * step);
    if (value < best) [best, bestIndex] = [value, i];
  }
  // Golden section on the bracket of the best grid point's neighbours; keep the best value ever seen.
  let low = LOG_S_MIN + Math.max(0, bestIndex - 1) * step;
  let high = LOG_S_MIN + Math.min(GRID_POINTS - 1, bestIndex + 1) * step;
  const ratio = (Math.sqrt(5) - 1) / 2;
  let left = high - ratio * (high - low);
  let right = low + ratio * (high - low);
  let leftValue = epsilonAtLogS(left);
  let rightValue = epsilonAtLogS(right);
  for (let i = 0; i < GOLDEN_STEPS; i++) {
    if (leftValue < rightValue) {
      [high, right, rightValue] = [right, left, leftValue];
      left = high - ratio * (high - low);
      leftValue = epsilonAtLogS(left);
    } else {
      [low, left, leftValue] = [left, right, rightValue];
      right = low + ratio * (high - low);
      rightValue = epsilonAtLogS(right);
    }
    best = Math.min(best, leftValue, rightValue);
  }
  return best;
}

/**
 * (epsilon, delta)-DP implied by rho-zCDP in total: the smaller of the two conversions, never below 0
 * (a smaller epsilon implies any larger one).
 */
export function epsilonFor(rhoTotal: number, delta: number): number {
  return Math.max(0, Math.min(epsilonFromRhoStandard(rhoTotal, delta), epsilonFromRhoTight(rhoTotal, delta)));
}

/**
 * The largest total rho whose conversion fits (epsilon, delta), by bisection on rho. epsilonFor grows
 * with rho; the bisection keeps `feasible` with epsilonFor(feasible) <= epsilon throughout, so the
 * answer always fits, whatever the floating point does.
 */
export function rhoBudgetFor(epsilon: number, delta: number): number {
  requirePositiveFinite("epsilon", epsilon);
  requireDelta(delta);
  let feasible = 0;
  let infeasible = Math.max(1, epsilon);
  for (let i = 0; epsilonFor(infeasible, delta) <= epsilon; i++) {
    if (i > 64) throw new Error(`zCDP accountant: no rho bound found for epsilon ${epsilon}`);
    feasible = infeasible;
    infeasible *= 2;
  }
  for (let i = 0; i < 200 && infeasible - feasible > 1e-15 * infeasible; i++) {
    const middle = (feasible + infeasible) / 2;
    if (epsilonFor(middle, delta) <= epsilon) feasible = middle;
    else infeasible = middle;
  }
  return feasible;
}

/**
 * How many rounds of (clip, sigma2) fit in the budget: the largest T with epsilonFor(T * rho, delta) <=
 * epsilon. Capped at Number.MAX_SAFE_INTEGER, which means "no practical limit".
 */
export function roundsWithin(budget: PrivacyBudget, clip: number, sigma2: number): number {
  const perRound = rhoPerRound(clip, sigma2);
  const estimate = Math.floor(rhoBudgetFor(budget.epsilon, budget.delta) / perRound);
  if (estimate >= Number.MAX_SAFE_INTEGER) return Number.MAX_SAFE_INTEGER;
  // The division rounds; settle T against the conversion itself.
  const fits = (rounds: number) => epsilonFor(rounds * perRound, budget.delta) <= budget.epsilon;
  let rounds = estimate;
  while (rounds > 0 && !fits(rounds)) rounds--;
  while (rounds < Number.MAX_SAFE_INTEGER && fits(rounds + 1)) rounds++;
  return rounds;
}
