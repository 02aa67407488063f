/**
 * Fixed point in the ring of integers mod 2^64, where secure aggregation adds: masks wrap
 * around, and a sum of masked words is exact and independent of the order of addition, so the
 * live fold and every replay reach the same sum. A real value x is carried as round(x * 2^f),
 * its two's complement in 64 bits; a sum of n values decodes exactly as long as the true sum of
 * the carried integers stays below 2^63 in magnitude (`fractionBitsFor` checks that headroom).
 *
 * The bound, stated once: each value is off by at most 2^-(f+1) (rounding to nearest), so a sum
 * over n agents is off by at most n * 2^-(f+1), and a mean by at most 2^-(f+1).
 */
export type Words = BigUint64Array;

/** The most fraction bits: beyond 2^-40 a 64-bit word has no room for any sizable value. */
export const MAX_FRACTION_BITS = 40;
/** The most bits a sum may need: one below the sign bit, so no sum of in-range values wraps. */
const SUM_BITS = 62;

export type Headroom = {
  /** The largest magnitude of any one coordinate of one agent's contribution. */
  readonly maxAbs: number;
  /** How many contributions a sum adds up. */
  readonly agents: number;
  /** The resolution the sums need: a quantization error below it (the problem's tolerance). */
  readonly resolution: number;
};

/**
 * The fraction bits for sums of `agents` contributions of magnitude at most `maxAbs`, fine
 * enough that one value's rounding error 2^-(f+1) is below `resolution`. Throws when 64 bits
 * cannot hold both: the problem's values are too large for its tolerance.
 */
export function fractionBitsFor({ maxAbs, agents, resolution }: Headroom): number {
  if (!(resolution > 0 && Number.isFinite(resolution))) throw new RangeError(`a resolution must be a positive number, not ${resolution}`);
  if (!(maxAbs >= 0 && Number.isFinite(maxAbs)) || !(Number.isInteger(agents) && agents >= 1))
    throw new RangeError(`a sum needs a finite bound and at least one agent (bound ${maxAbs}, ${agents} agents)`);
  const bits = Math.max(0, Math.ceil(-Math.log2(resolution)));
  if (bits > MAX_FRACTION_BITS)
    throw new RangeError(`a resolution of ${resolution} needs ${bits} fraction bits; at most ${MAX_FRACTION_BITS} fit a 64-bit sum`);
  const integerBits = Math.ceil(Math.log2(Math.max(1, maxAbs * agents) + 1));
  if (integerBits + bits > SUM_BITS)
    throw new RangeError(
      `sums of ${agents} values up to ${maxAbs} at a resolution of ${resolution} need ${integerBits + bits} bits; 64-bit secure sums hold ${SUM_BITS}`,
    );
  return bits;
}

/** round(x * 2^f) in the ring; `maxAbs` bounds x first, so that no word is out of its range. */
export function quantize(values: readonly number[], fractionBits: number, maxAbs: number): Words {
  const words = new BigUint64Array(values.length);
  const scale = 2 ** fractionBits;
  values.forEach((x, i) => {
    if (!(Math.abs(x) <= maxAbs)) throw new RangeError(`value ${x} at ${i} is outside [-${maxAbs}, ${maxAbs}]`);
    words[i] = BigInt.asUintN(64, BigInt(Math.round(x * scale)));
  });
  return words;
}

/** The real values of words that hold sums in range (two's complement). */
export function dequantize(words: Words, fractionBits: number): number[] {
  const scale = 2 ** fractionBits;
  return Array.from(words, (w) => Number(BigInt.asIntN(64, w)) / scale);
}

/**
 * Word arithmetic on each word's two 32-bit halves (a carry from the low to the high one) rather
 * than on BigInts, which cost an allocation a word: masking and summing are most of a secure
 * round's work. A BigUint64Array's halves are its buffer's Uint32 lanes, low half first on the
 * little-endian machines Node runs on (checked once, here).
 */
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error("secure words need a little-endian machine");

const lanes = (words: Words): Uint32Array => new Uint32Array(words.buffer, words.byteOffset, words.length * 2);

/** target += sign * source, word by word, mod 2^64, in place. */
export function accumulate(target: Words, source: Words, sign: 1 | -1 = 1): Words {
  if (target.length !== source.length) throw new RangeError(`words of different lengths (${target.length}, ${source.length})`);
  const t = lanes(target);
  const s = lanes(source);
  for (let i = 0; i < t.length; i += 2) addHalves(t, i, s[i], s[i + 1], sign);
  return target;
}

/** Adds (sign 1) or subtracts (-1) the word (high, low) to the word at lanes i (low) and i + 1 (high). */
export function addHalves(t: Uint32Array, i: number, low: number, high: number, sign: 1 | -1): void {
  if (sign === 1) {
    const l = t[i] + low;
    t[i] = l; // Uint32Array keeps the low 32 bits
    t[i + 1] = t[i + 1] + high + (l > 0xffffffff ? 1 : 0);
  } else {
    const l = t[i] - low;
    t[i] = l;
    t[i + 1] = t[i + 1] - high - (l < 0 ? 1 : 0);
  }
}

/** a + b, word by word, mod 2^64 (into a new array). */
export const addWords = (a: Words, b: Words): Words => accumulate(a.slice(), b, 1);

/** a - b, word by word, mod 2^64. */
export const subtractWords = (a: Words, b: Words): Words => accumulate(a.slice(), b, -1);

export const zeroWords = (length: number): Words => new BigUint64Array(length);

/** Words as bytes on the wire: 8 each, big-endian (plain msgpack binary, readable anywhere). */
export function wordsToBytes(words: Words): Uint8Array {
  const bytes = new Uint8Array(words.length * 8);
  const view = new DataView(bytes.buffer);
  const w = lanes(words);
  for (let i = 0; i < words.length; i++) {
    view.setUint32(i * 8, w[2 * i + 1]);
    view.setUint32(i * 8 + 4, w[2 * i]);
  }
  return bytes;
}

export function bytesToWords(bytes: Uint8Array): Words {
  if (bytes.length % 8 !== 0) throw new RangeError(`${bytes.length} bytes are not whole 64-bit words`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const words = new BigUint64Array(bytes.length / 8);
  const w = lanes(words);
  for (let i = 0; i < words.length; i++) {
    w[2 * i + 1] = view.getUint32(i * 8);
    w[2 * i] = view.getUint32(i * 8 + 4);
  }
  return words;
}

/**
 * A wide integer as `limbs` words that add without carries: every limb but the last holds 32
 * bits (a sum of up to 2^31 of them stays below 2^63), the last the rest, signed. For what a
 * single word cannot hold exactly: a square of fixed-point values has twice their fraction bits.
 */
export function toLimbs(value: bigint, limbs: number): bigint[] {
  const out: bigint[] = [];
  let rest = value;
  for (let k = 0; k < limbs - 1; k++) {
    out.push(rest & 0xffffffffn);
    rest >>= 32n; // floor division, also for negative values
  }
  if (rest >= 1n << 31n || rest < -(1n << 31n)) throw new RangeError(`${value} does not fit ${limbs} limbs`);
  out.push(BigInt.asUintN(64, rest));
  return out;
}

/** The integer a sum of limbs (as toLimbs wrote them, added word by word) stands for. */
export function fromLimbs(words: readonly bigint[]): bigint {
  let value = BigInt.asIntN(64, words[words.length - 1]);
  for (let k = words.length - 2; k >= 0; k--) value = (value << 32n) + words[k];
  return value;
}
