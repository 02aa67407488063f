/**
 * Differential privacy of a secure round's sum: each of the round's n agents clips its values to
 * an L2 norm, quantizes them to the problem's fixed point and adds its share of discrete Gaussian
 * noise before masking, so that no party (the coordinator included) ever sees a sum without the
 * whole noise in it, and no single party holds the noise.
 *
 * The sum of n independent N_Z(0, v) is not itself a discrete Gaussian; Kairouz, Liu and Steinke,
 * "The Distributed Discrete Gaussian Mechanism for Federated Learning with Secure Aggregation"
 * (ICML 2021, arXiv:2102.06387), Proposition 14, bound its privacy: for an integer query of L2
 * sensitivity D in d dimensions, the release is rho-zCDP with
 *
 *   rho = 1/2 (D / sqrt(n v) + sqrt(d) tau)^2,   tau = 10 sum_{k=1}^{n-1} exp(-2 pi^2 v k / (k+1)),
 *
 * for a local variance v of at least 1/4 (their proposition's condition sigma >= 1/2); that is the
 * third of the three bounds of their proposition, the one in zCDP form (checked against the authors'
 * accountant, google-research/federated distributed_dp, compute_rdp_dgaussian). With v of several
 * grid units, tau is below 1e-80 and rho is the central Gaussian's D^2 / (2 n v).
 *
 * Units: values are clipped to `clip` in the problem's units, then rounded to the grid of
 * 2^-fractionBits. Neighbouring inputs are one agent's values replaced by any others (the round's
 * roster is public, so an agent's absence is no secret to protect): the sensitivity is twice the
 * clip on the grid, plus what rounding can add, sqrt(d) (half a unit each coordinate, for each of the
 * two vectors). `sigma2` is the variance of the whole sum's noise in the problem's units squared.
 */
import type { Rational } from "./discrete-gaussian.ts";
import { MAX_RATIONAL_PART } from "./discrete-gaussian.ts";

/** What a problem declares of its noise: the clip of each agent's values (L2 norm) and the variance of the sum's noise. */
export type NoiseSettings = { readonly clip: number; readonly sigma2: number };

/** One round's release: its noise, the grid, how many agents add to it, how many numbers it holds. */
export type RoundRelease = NoiseSettings & { readonly fractionBits: number; readonly agents: number; readonly dimension: number };

/** The sum's noise variance in grid units, rounded up (more noise only adds privacy): sigma2 * 4^fractionBits. */
function gridVariance(sigma2: number, fractionBits: number): bigint {
  const scaled = Math.ceil(sigma2 * 4 ** fractionBits);
  if (!(Number.isFinite(scaled) && scaled >= 1)) throw new RangeError(`a noise variance of ${sigma2} on a grid of 2^-${fractionBits} is ${scaled} units`);
  return BigInt(scaled);
}

/** The variance each of `agents` adds, in grid units: their draws add up to the sum's. */
export function localVariance(sigma2: number, fractionBits: number, agents: number): Rational {
  const num = gridVariance(sigma2, fractionBits);
  const den = BigInt(agents);
  if (num >= MAX_RATIONAL_PART) throw new RangeError(`a noise variance of ${sigma2} on a grid of 2^-${fractionBits} is past 2^64 units: fewer fraction bits`);
  // KLS 2021's bound holds from a local standard deviation of half a grid unit.
  if (4n * num < den)
    throw new RangeError(`a noise variance of ${sigma2} shared by ${agents} agents is below a quarter grid unit each (2^-${fractionBits}): more fraction bits`);
  return { num, den };
}

/** The L2 sensitivity of a round's sum on the grid: one agent's clipped values replaced by any others, rounding included. */
const gridSensitivity = (clip: number, fractionBits: number, dimension: number): number => 2 * clip * 2 ** fractionBits + Math.sqrt(dimension);

/** KLS 2021's tau: how far the sum of n discrete Gaussians of variance v each is from one discrete Gaussian. */
function divisibilityGap(agents: number, variance: number): number {
  let tau = 0;
  for (let k = 1; k < agents; k++) tau += Math.exp((-2 * Math.PI * Math.PI * variance * k) / (k + 1));
  return 10 * tau;
}

/** rho (zCDP) of one round's release. */
export function roundRho(release: RoundRelease): number {
  const { clip, sigma2, fractionBits, agents, dimension } = release;
  if (!(clip > 0 && Number.isFinite(clip))) throw new RangeError(`clip must be a positive finite number, got ${clip}`);
  if (!(Number.isSafeInteger(agents) && agents >= 1)) throw new RangeError(`agents must be a positive integer, got ${agents}`);
  if (!(Number.isSafeInteger(dimension) && dimension >= 1)) throw new RangeError(`dimension must be a positive integer, got ${dimension}`);
  const local = localVariance(sigma2, fractionBits, agents);
  const total = Number(local.num);
  const perAgent = total / agents;
  const spread = gridSensitivity(clip, fractionBits, dimension) / Math.sqrt(total) + Math.sqrt(dimension) * divisibilityGap(agents, perAgent);
  return (spread * spread) / 2;
}

/** The most rho a round of the problem can spend, over every roster size from `fewest` agents to `most`. */
export function worstRoundRho(release: Omit<RoundRelease, "agents">, fewest: number, most: number): number {
  let worst = 0;
  for (let agents = fewest; agents <= most; agents++) worst = Math.max(worst, roundRho({ ...release, agents }));
  return worst;
}

/**
 * The least sum variance (problem units squared) at which a round spends at most `rho`, for rosters
 * of `fewest` to `most` agents: the central Gaussian's, then raised until the bound with tau holds.
 */
export function sigma2For(rho: number, release: Omit<RoundRelease, "agents" | "sigma2">, fewest: number, most: number): number {
  if (!(rho > 0 && Number.isFinite(rho))) throw new RangeError(`rho must be a positive finite number, got ${rho}`);
  const sensitivity = gridSensitivity(release.clip, release.fractionBits, release.dimension) / 2 ** release.fractionBits;
  let sigma2 = (sensitivity * sensitivity) / (2 * rho);
  for (let i = 0; worstRoundRho({ ...release, sigma2 }, fewest, most) > rho; i++) {
    if (i > 200) throw new RangeError(`no noise level spends at most rho ${rho} a round`);
    sigma2 *= 1 + 1e-9 * 2 ** Math.min(i, 40);
  }
  return sigma2;
}

/** The values scaled down to an L2 norm of at most `clip` (unchanged within it). */
export function clipToNorm(values: readonly number[], clip: number): number[] {
  const norm = Math.hypot(...values);
  // A hair inside the clip: the scaling's own rounding must not carry the norm past it.
  const within = clip * (1 - 1e-12);
  return norm <= within ? [...values] : values.map((x) => (x * within) / norm);
}
