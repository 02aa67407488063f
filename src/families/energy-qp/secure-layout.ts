import type { SecureSettings } from "../../core/problem-spec.ts";
import { fromLimbs, MAX_FRACTION_BITS, toLimbs, type Words } from "../../secure/ring.ts";
import type { ProblemSpec } from "./schemas.ts";
import { sampleDiscreteGaussianVector, type RandomSource } from "../../secure/discrete-gaussian.ts";
import { clipToNorm, localVariance, roundRho, type NoiseSettings } from "../../secure/distributed-noise.ts";

/**
 * What an energy agent contributes to a secure round, in the problem's fixed point: its values
 * on every resource (zero where it has none), one word each; then, exactly, the square of their
 * norm and the square of its step's norm (integers with twice the fraction bits) and its
 * objective, each as limbs (ring.ts toLimbs). Their sums are all the coordinator's step needs
 * (solver/admm.ts RoundAggregate) and what the plan reports; no single agent's appear.
 *
 * Squares are taken of the quantized values, exactly: a step of 1e-10 still counts near
 * convergence, where a square rounded to the values' fraction bits would read 0.
 */
const SCALAR_LIMBS = 4;
/** What those limbs hold of a signed sum: 32 bits each, less the sign bit and one for the carries of the lower limbs. */
const SCALAR_BITS = 32 * SCALAR_LIMBS - 2;
/** What one word holds of a signed sum of values, with a bit to spare. */
const VALUE_BITS = 62;

/**
 * The most fraction bits a problem's secure sums can have: each resource's sum of `agents`
 * values up to `maxAbs` must fit a word, and the sums of squares of values and of steps (up to
 * twice maxAbs), with twice the fraction bits, their limbs. Both the scenario's choice and the
 * fold's check of an open event read this one rule.
 */
export function fractionBitsAvailable(spec: Pick<ProblemSpec, "agents" | "resources">, maxAbs: number, noise?: NoiseSettings): number {
  const bits = (x: number): number => Math.ceil(Math.log2(x + 1));
  const n = spec.agents.length;
  if (noise !== undefined)
    // Clipped values and the noise (64 standard deviations: a draw past it has odds below e^-2000) in a word, and
    // the noise's variance in grid units a sampler's rational (below 2^63).
    return Math.min(
      MAX_FRACTION_BITS,
      VALUE_BITS - bits(n * Math.min(noise.clip, maxAbs) + 64 * Math.sqrt(noise.sigma2)),
      Math.floor((63 - Math.log2(noise.sigma2)) / 2),
    );
  return Math.min(MAX_FRACTION_BITS, VALUE_BITS - bits(n * maxAbs), Math.floor((SCALAR_BITS - bits(spec.resources.length * n)) / 2) - bits(2 * maxAbs));
}

/**
 * What one round of a problem with noise spends (zCDP rho), for its fold's account and its agents'
 * own check of the open against their grant. Each agent adds the share of the sum's noise that the
 * problem's threshold of agents would: the privacy holds as long as that many agents of a round are
 * honest (colluders may add none, or subtract their own), so rho counts those agents' noise only.
 */
export function roundPrivacyCost(spec: ProblemSpec): number {
  const secure = spec.secure as SecureSettings;
  const noise = secure.noise as NoiseSettings;
  return roundRho({ ...noise, fractionBits: secure.fractionBits, dimension: spec.resources.length, agents: secure.threshold });
}

/**
 * Words a contribution holds. With noise, only the values: squares and objectives would need noise
 * of their own (and budget); the fold steps on the noisy sums alone (fold.ts secureStep).
 */
export const contributionLength = (spec: ProblemSpec): number => spec.resources.length + (spec.secure?.noise === undefined ? 3 * SCALAR_LIMBS : 0);

/**
 * An agent's words for a round. With noise (the problem's `secure.noise`), its values clipped to
 * the problem's L2 norm and its share of the round's discrete Gaussian noise, drawn from `random`
 * (the noise must come from fresh randomness: a restarted agent draws anew).
 */
export function contributionWords(
  spec: ProblemSpec,
  settings: SecureSettings,
  next: Readonly<Record<string, number>>,
  previous: Readonly<Record<string, number>>,
  objective: number,
  noise?: { readonly random: RandomSource },
): Words {
  const fixed = (x: number, where: string): bigint => {
    if (!(Math.abs(x) <= settings.maxAbs)) throw new RangeError(`${where} is ${x}, outside the problem's secure bound ${settings.maxAbs}`);
    return BigInt(Math.round(x * 2 ** settings.fractionBits));
  };
  if (settings.noise !== undefined) {
    if (noise === undefined) throw new Error("a problem with noise needs a random source and the roster's size");
    // Held to the secure bound first rather than refused: a refusal that depended on the values would tell of them.
    const clipped = clipToNorm(
      spec.resources.map((r) => Math.max(-settings.maxAbs, Math.min(settings.maxAbs, next[r] ?? 0))),
      settings.noise.clip,
    );
    // Each agent adds the share the threshold's agents would: the noise holds with that many honest agents in a round.
    const draws = sampleDiscreteGaussianVector(localVariance(settings.noise.sigma2, settings.fractionBits, settings.threshold), clipped.length, noise.random);
    return BigUint64Array.from(clipped, (x, j) => BigInt.asUintN(64, fixed(x, spec.resources[j]) + draws[j]));
  }
  const q = spec.resources.map((r) => fixed(next[r] ?? 0, r));
  const step = spec.resources.map((r, j) => q[j] - fixed(previous[r] ?? 0, `${r} (before)`));
  if (!Number.isFinite(objective)) throw new RangeError(`the objective is ${objective}`);
  const objectiveFixed = BigInt(Math.round(objective * 2 ** settings.fractionBits));
  const words = [
    ...q.map((x) => BigInt.asUintN(64, x)),
    ...toLimbs(squares(q), SCALAR_LIMBS),
    ...toLimbs(squares(step), SCALAR_LIMBS),
    ...toLimbs(objectiveFixed, SCALAR_LIMBS),
  ];
  return BigUint64Array.from(words);
}

/** The sums a round's contributions add up to, read back from their layout: with noise, the values' alone. */
export type SecureSums = {
  readonly x: readonly number[];
  readonly scalars?: { readonly sumSquares: number; readonly sumSquaredSteps: number; readonly objective: number };
};

export function sumsOf(spec: ProblemSpec, settings: SecureSettings, words: Words): SecureSums {
  const m = spec.resources.length;
  const f = settings.fractionBits;
  const x = Array.from(words.subarray(0, m), (w) => Number(BigInt.asIntN(64, w)) / 2 ** f);
  if (settings.noise !== undefined) return { x };
  const scalar = (k: number): bigint => fromLimbs(Array.from(words.subarray(m + k * SCALAR_LIMBS, m + (k + 1) * SCALAR_LIMBS)));
  return {
    x,
    scalars: { sumSquares: Number(scalar(0)) / 2 ** (2 * f), sumSquaredSteps: Number(scalar(1)) / 2 ** (2 * f), objective: Number(scalar(2)) / 2 ** f },
  };
}

const squares = (v: readonly bigint[]): bigint => v.reduce((sum, x) => sum + x * x, 0n);
