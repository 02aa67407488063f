/**
 * Exact sampler for the discrete Gaussian N_Z(0, sigma^2): Pr[X = x] ∝ exp(-x^2 / (2 sigma^2)), x ∈ Z.
 *
 * Follows Canonne, Kamath, Steinke, "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020,
 * arXiv:2004.00010), Section 5: Bernoulli(exp(-gamma)) by the alternating-series trick, a discrete
 * Laplace by a geometric built from it, then rejection from the discrete Laplace to the Gaussian.
 * Checked line by line against the authors' reference code (IBM/discrete-gaussian-differential-privacy,
 * discretegauss.py, commit cb190d2a990a78eff6e21159203bc888e095f01b).
 *
 * Why exact: a floating-point Gaussian leaks the input through its low-order bits (Mironov 2012).
 * Every decision here is a comparison of integers; randomness enters only as uniform integers from an
 * injected source, so the output distribution is exactly N_Z(0, sigma^2) given a uniform source.
 *
 * Not constant-time: the number of uniform draws depends on the output. A caller who exposes timing
 * to an adversary leaks information about the noise.
 */
import { createHash, randomBytes } from "node:crypto";

/** A uniform integer in [0, n). The whole sampler's randomness comes through this one call. */
export type RandomSource = { uniformBelow(n: bigint): bigint };
/** A positive rational num/den. */
export type Rational = { num: bigint; den: bigint };

/** Bound on num and den of sigma^2: keeps every intermediate bigint small and the loops short. */
export const MAX_RATIONAL_PART = 1n << 64n;

// ---------------------------------------------------------------- randomness

/**
 * Uniform integer in [0, n) from a byte stream by rejection: draw just enough bits for n - 1, mask the
 * excess in the top byte, and retry on values >= n. No modulo bias; each try succeeds with
 * probability > 1/2.
 */
function uniformBelowFromBytes(n: bigint, nextBytes: (count: number) => Uint8Array): bigint {
  if (typeof n !== "bigint" || n <= 0n) throw new Error(`uniformBelow: n must be a positive bigint, got ${String(n)}`);
  if (n === 1n) return 0n;
  const bits = (n - 1n).toString(2).length;
  const byteCount = Math.ceil(bits / 8);
  const topMask = (1 << (bits - 8 * (byteCount - 1))) - 1;
  for (;;) {
    let value = 0n;
    for (const [i, byte] of nextBytes(byteCount).entries()) value = (value << 8n) | BigInt(i === 0 ? byte & topMask : byte);
    if (value < n) return value;
  }
}

/** Serves `count` bytes at a time out of blocks produced by `refill`, so small draws are cheap. */
function byteStream(refill: () => Uint8Array): (count: number) => Uint8Array {
  let block: Uint8Array = new Uint8Array(0);
  let offset = 0;
  return (count) => {
    const out = new Uint8Array(count);
    for (let filled = 0; filled < count; ) {
      if (offset === block.length) {
        block = refill();
        offset = 0;
      }
      const take = Math.min(count - filled, block.length - offset);
      out.set(block.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
    }
    return out;
  };
}

/** The operating system's CSPRNG (node:crypto randomBytes), buffered 4 KiB at a time. */
export function cryptoRandom(): RandomSource {
  const nextBytes = byteStream(() => randomBytes(4096));
  return { uniformBelow: (n) => uniformBelowFromBytes(n, nextBytes) };
}

/**
 * Deterministic source for tests and reproducible experiments ONLY: SHA-256 in counter mode,
 * block i = SHA-256("catopt-seeded-random/1" || seed || i as 8-byte big-endian). Never use it
 * for real noise: anyone who knows the seed knows the noise.
 */
export function seededRandom(seed: string | Uint8Array): RandomSource {
  const seedBytes = typeof seed === "string" ? new TextEncoder().encode(seed) : seed;
  let counter = 0n;
  const nextBytes = byteStream(() => {
    const counterBytes = Buffer.alloc(8);
    counterBytes.writeBigUInt64BE(counter++);
    return createHash("sha256").update("catopt-seeded-random/1").update(seedBytes).update(counterBytes).digest();
  });
  return { uniformBelow: (n) => uniformBelowFromBytes(n, nextBytes) };
}

// ---------------------------------------------------------------- Bernoulli building blocks

/** Bernoulli(num/den) for 0 <= num <= den: one uniform draw, one comparison. */
function bernoulli(num: bigint, den: bigint, random: RandomSource): boolean {
  return random.uniformBelow(den) < num;
}

/**
 * Bernoulli(exp(-num/den)) for 0 <= num/den <= 1. Draw A_k ~ Bernoulli(gamma/k) for k = 1, 2, ...
 * until the first 0 at step K; Pr[K odd] = 1 - gamma + gamma^2/2! - ... = exp(-gamma).
 */
function bernoulliExpAtMostOne(num: bigint, den: bigint, random: RandomSource): boolean {
  let k = 1n;
  while (bernoulli(num, den * k, random)) k++;
  return k % 2n === 1n;
}

/**
 * Bernoulli(exp(-num/den)) for num/den >= 0: exp(-gamma) = exp(-1)^floor(gamma) * exp(-frac(gamma)),
 * so AND together floor(gamma) coins of exp(-1) (stopping at the first 0) and one of the remainder.
 * The loop stops early with probability 1 - 1/e per step, so a huge gamma costs little.
 */
export function bernoulliExp(num: bigint, den: bigint, random: RandomSource): boolean {
  if (num < 0n || den <= 0n) throw new Error(`bernoulliExp: need num >= 0 and den > 0, got ${num}/${den}`);
  for (let whole = num / den; whole > 0n; whole--) {
    if (!bernoulliExpAtMostOne(1n, 1n, random)) return false;
  }
  return bernoulliExpAtMostOne(num % den, den, random);
}

/**
 * Discrete Laplace with integer scale t >= 1: Pr[Y = y] ∝ exp(-|y| / t). The magnitude is a
 * geometric with ratio exp(-1/t) built as U + t*V: U uniform in [0, t) kept with probability
 * exp(-U/t), V ~ Geometric(1 - exp(-1)). A random sign; (negative, 0) is rejected so 0 isn't counted twice.
 */
function sampleDiscreteLaplace(t: bigint, random: RandomSource): bigint {
  for (;;) {
    const u = random.uniformBelow(t);
    if (!bernoulliExp(u, t, random)) continue;
    let v = 0n;
    while (bernoulliExpAtMostOne(1n, 1n, random)) v++;
    const magnitude = u + t * v;
    const negative = bernoulli(1n, 2n, random);
    if (negative && magnitude === 0n) continue;
    return negative ? -magnitude : magnitude;
  }
}

// ---------------------------------------------------------------- discrete Gaussian

/** floor(sqrt(n)) for n >= 0, exactly (Newton's method on integers). */
function floorSqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(n.toString(2).length / 2)); // >= sqrt(n)
  for (;;) {
    const next = (x + n / x) / 2n;
    if (next >= x) return x;
    x = next;
  }
}

function checkVariance(sigma2: Rational): void {
  if (typeof sigma2 !== "object" || sigma2 === null || typeof sigma2.num !== "bigint" || typeof sigma2.den !== "bigint") {
    throw new Error("discrete Gaussian: sigma2 must be {num: bigint, den: bigint}");
  }
  const { num, den } = sigma2;
  if (num <= 0n || den <= 0n) throw new Error(`discrete Gaussian: sigma2 must be positive, got ${num}/${den}`);
  if (num >= MAX_RATIONAL_PART || den >= MAX_RATIONAL_PART) {
    throw new Error(`discrete Gaussian: sigma2 num and den must be below 2^64, got ${num}/${den}`);
  }
}

/**
 * One exact sample of N_Z(0, sigma2), sigma2 = num/den. With t = floor(sigma) + 1, draw Y from the
 * discrete Laplace of scale t and accept it with probability exp(-(|Y| - sigma^2/t)^2 / (2 sigma^2)).
 * In integers: (|Y| - n/(d t))^2 / (2 n/d) = (|Y| d t - n)^2 / (2 n d t^2). The expected number of
 * tries is a small constant for every sigma (CKS 2020, Section 5), about 15-30 uniform draws a sample.
 */
export function sampleDiscreteGaussian(sigma2: Rational, random: RandomSource): bigint {
  checkVariance(sigma2);
  const { num, den } = sigma2;
  const t = floorSqrt(num / den) + 1n; // floor(sqrt(num/den)) = floor(sqrt(floor(num/den)))
  const acceptDen = 2n * num * den * t * t;
  for (;;) {
    const candidate = sampleDiscreteLaplace(t, random);
    const magnitude = candidate < 0n ? -candidate : candidate;
    const offset = magnitude * den * t - num;
    if (bernoulliExp(offset * offset, acceptDen, random)) return candidate;
  }
}

/** `length` independent samples of N_Z(0, sigma2): the noise for an integer vector. */
export function sampleDiscreteGaussianVector(sigma2: Rational, length: number, random: RandomSource): bigint[] {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new Error(`discrete Gaussian: length must be a non-negative integer, got ${length}`);
  }
  checkVariance(sigma2);
  return Array.from({ length }, () => sampleDiscreteGaussian(sigma2, random));
}
