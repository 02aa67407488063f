import { createCipheriv, hkdfSync } from "node:crypto";

/**
 * A stream of secret bytes for one purpose, derived from a party's secret: a ChaCha20 keystream
 * under HKDF(secret, purpose). Where a party would draw fresh randomness (a self-mask seed, the
 * coefficients of its Shamir shares), it reads this instead, so a restarted party derives the
 * same values from the seed it already holds, and no two purposes share a byte.
 */
export function secretStream(secret: Uint8Array, purpose: string): (bytes: number) => Uint8Array {
  const key = Buffer.from(hkdfSync("sha256", secret, "catopt-secret-stream/1", purpose, 32));
  const cipher = createCipheriv("chacha20", key, Buffer.alloc(16));
  return (bytes) => new Uint8Array(cipher.update(Buffer.alloc(bytes)));
}
