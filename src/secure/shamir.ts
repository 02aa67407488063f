/**
 * Shamir secret sharing of a self-mask seed (32 bytes) over the prime field of the Mersenne
 * prime 2^521 - 1, which holds any 256-bit secret whole. Agent k of a roster (1-based, in the
 * roster's order) holds the polynomial's value at x = k; any `threshold` of them give the
 * secret back, fewer say nothing of it. Used when a taken agent does not reveal its seed:
 * the others' shares remove its self mask, so the round closes without a second attempt
 * (which could let two sums differ by one agent's values).
 */
const P = (1n << 521n) - 1n;
const SHARE_BYTES = 66; // 521 bits

export type Share = { readonly x: number; readonly y: Uint8Array };

/** `random(n)`: n bytes from a secure source; randomness enters only through it. */
export function splitSecret(secret: Uint8Array, holders: number, threshold: number, random: (bytes: number) => Uint8Array): Share[] {
  if (secret.length !== 32) throw new RangeError(`a secret to share has 32 bytes, not ${secret.length}`);
  if (!(Number.isInteger(threshold) && Number.isInteger(holders) && threshold >= 1 && threshold <= holders && holders <= 1000))
    throw new RangeError(`shares need 1 <= threshold <= holders <= 1000 (threshold ${threshold}, holders ${holders})`);
  const coefficients = [toBigInt(secret)];
  while (coefficients.length < threshold) {
    const bytes = random(SHARE_BYTES);
    bytes[0] &= 0x01; // 521 bits
    const c = toBigInt(bytes);
    if (c < P) coefficients.push(c); // rejects only c = P itself
  }
  return Array.from({ length: holders }, (_, i) => {
    const x = BigInt(i + 1);
    let y = 0n;
    for (let k = coefficients.length - 1; k >= 0; k--) y = mersenne(y * x + coefficients[k]);
    return { x: i + 1, y: fromBigInt(y, SHARE_BYTES) };
  });
}

/** The secret from `threshold` or more shares (Lagrange at 0). Shares of other secrets, or too few, give a wrong value: check it against a commitment. */
export function combineShares(shares: readonly Share[]): Uint8Array {
  const xs = shares.map((s) => s.x);
  if (shares.length === 0 || new Set(xs).size !== xs.length || xs.some((x) => !(Number.isInteger(x) && x >= 1 && x <= 1000)))
    throw new RangeError(`shares must have distinct holders 1..1000 (got ${xs.join(", ")})`);
  let secret = 0n;
  for (const { x, y } of shares) {
    if (y.length !== SHARE_BYTES) throw new RangeError(`a share has ${SHARE_BYTES} bytes, not ${y.length}`);
    const value = toBigInt(y);
    if (value >= P) throw new RangeError("a share is outside the field");
    let numerator = 1n;
    let denominator = 1n;
    for (const other of xs) {
      if (other === x) continue;
      numerator = (numerator * BigInt(other)) % P;
      denominator = (denominator * mod(BigInt(other) - BigInt(x))) % P;
    }
    secret = (secret + value * numerator * inverse(denominator)) % P;
  }
  if (secret >= 1n << 256n) throw new RangeError("the shares do not give back a 32-byte secret");
  return fromBigInt(secret, 32);
}

const mod = (a: bigint): bigint => ((a % P) + P) % P;

/** v mod P for 0 <= v < P * 2^521, P a Mersenne prime: a shift and a mask instead of a division. */
function mersenne(v: bigint): bigint {
  const r = (v & P) + (v >> 521n);
  return r >= P ? r - P : r;
}

/** a^(P-2) mod P: the inverse in a prime field (Fermat). */
function inverse(a: bigint): bigint {
  let [result, base, exponent] = [1n, mod(a), P - 2n];
  while (exponent > 0n) {
    if (exponent & 1n) result = (result * base) % P;
    base = (base * base) % P;
    exponent >>= 1n;
  }
  return result;
}

// Through hex: a byte at a time in BigInt arithmetic cost more than the field's own products (a secure round converts every share).
function toBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")}`);
}

function fromBigInt(value: bigint, length: number): Uint8Array {
  const hex = value.toString(16);
  if (hex.length > 2 * length) throw new RangeError(`${value} does not fit ${length} bytes`);
  return Uint8Array.from(Buffer.from(hex.padStart(2 * length, "0"), "hex"));
}
