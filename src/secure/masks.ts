import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, type KeyObject } from "node:crypto";
import { addWords, subtractWords, type Words } from "./ring.ts";

/**
 * Pairwise and self masks of secure aggregation (Bonawitz et al., CCS 2017). Each pair of
 * agents of an attempt shares a secret by X25519; a mask is a ChaCha20 keystream read as 64-bit
 * words, keyed by HKDF over that secret and the attempt (tenant, problem, round, attempt), so
 * every attempt has fresh masks and no seed is ever folded to fewer bits than its 256. Of a
 * pair, the agent whose name sorts first adds the mask and the other subtracts it: over the
 * whole roster of an attempt the pairwise masks cancel, and what is left is the sum plus the
 * self masks, which only the agents' reveals (or their Shamir shares) remove.
 */
export type AgreementKey = { readonly publicKey: Uint8Array; readonly privateKey: KeyObject };

/** Where masks belong: every mask is for one attempt of one round of one problem. */
export type MaskContext = { readonly tenant: string; readonly problem: string; readonly round: number; readonly attempt: number };

export type RosterEntry = { readonly name: string; readonly publicKey: Uint8Array };

const VERSION = "catopt-secagg/1";
// PKCS#8 of an X25519 private key is this prefix and the 32 raw bytes (RFC 8410).
const X25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
const X25519_SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");

/**
 * An agent's agreement key for one problem, derived from its identity's seed: a restarted agent
 * has the same key without keeping any file (the stream is the source of truth), and the key
 * of one problem says nothing of another's.
 */
export function agreementKeyOf(identitySeed: Uint8Array, tenant: string, problem: string): AgreementKey {
  const raw = Buffer.from(hkdfSync("sha256", identitySeed, VERSION, `x25519\0${tenant}\0${problem}`, 32));
  const privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, raw]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return { publicKey: new Uint8Array(spki.subarray(spki.length - 32)), privateKey };
}

/** The X25519 secret two agents share; refuses a peer key that is not 32 bytes or that forces the all-zero secret (a low-order point). */
export function sharedSecret(own: AgreementKey, peerPublicKey: Uint8Array): Uint8Array {
  if (peerPublicKey.length !== 32) throw new RangeError(`an X25519 public key has 32 bytes, not ${peerPublicKey.length}`);
  const publicKey = createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, peerPublicKey]), format: "der", type: "spki" });
  let secret: Uint8Array | undefined;
  try {
    secret = new Uint8Array(diffieHellman({ privateKey: own.privateKey, publicKey }));
  } catch {
    secret = undefined; // OpenSSL refuses a low-order point itself
  }
  if (secret === undefined || secret.every((b) => b === 0)) throw new RangeError("a peer's X25519 key is a low-order point (the shared secret would be zero)");
  return secret;
}

const contextBytes = (c: MaskContext): Buffer => Buffer.from(`${VERSION}\0${c.tenant}\0${c.problem}\0${c.round}\0${c.attempt}`);

/** `length` words of ChaCha20 keystream under a 32-byte key (a fresh key each time: the nonce may be zero). */
export function keystreamWords(key: Uint8Array, length: number): Words {
  const cipher = createCipheriv("chacha20", key, Buffer.alloc(16));
  const bytes = Buffer.concat([cipher.update(Buffer.alloc(length * 8)), cipher.final()]);
  const words = new BigUint64Array(length);
  for (let i = 0; i < length; i++) words[i] = bytes.readBigUInt64BE(i * 8);
  return words;
}

/** The mask the pair (a, b) shares in an attempt, the same whichever of them computes it. */
export function pairwiseMask(secret: Uint8Array, a: string, b: string, context: MaskContext, length: number): Words {
  const [first, second] = a < b ? [a, b] : [b, a];
  const key = new Uint8Array(hkdfSync("sha256", secret, contextBytes(context), `pair\0${first}\0${second}`, 32));
  return keystreamWords(key, length);
}

/** The self mask of an attempt, from a seed of 32 random bytes that the agent reveals once the sum is fixed. */
export function selfMask(seed: Uint8Array, context: MaskContext, length: number): Words {
  if (seed.length !== 32) throw new RangeError(`a self-mask seed has 32 bytes, not ${seed.length}`);
  const key = new Uint8Array(hkdfSync("sha256", seed, contextBytes(context), "self", 32));
  return keystreamWords(key, length);
}

/**
 * An agent's masked contribution to an attempt: its words, plus its self mask, plus or minus
 * the mask it shares with each other agent of the roster. The roster is the attempt's, as the
 * coordinator announced it; every name in it once, the agent's own among them.
 */
export function maskContribution(
  own: { readonly name: string; readonly key: AgreementKey },
  roster: readonly RosterEntry[],
  context: MaskContext,
  words: Words,
  selfSeed: Uint8Array,
): Words {
  const names = roster.map((r) => r.name);
  if (new Set(names).size !== names.length) throw new RangeError(`a roster names an agent twice (${names.join(", ")})`);
  if (!names.includes(own.name)) throw new RangeError(`${own.name} is not in the attempt's roster (${names.join(", ")})`);
  let masked = addWords(words, selfMask(selfSeed, context, words.length));
  for (const peer of roster) {
    if (peer.name === own.name) continue;
    const mask = pairwiseMask(sharedSecret(own.key, peer.publicKey), own.name, peer.name, context, words.length);
    masked = own.name < peer.name ? addWords(masked, mask) : subtractWords(masked, mask);
  }
  return masked;
}

/**
 * Seals a Shamir share of the sender's self-mask seed for one peer: ChaCha20-Poly1305 under a
 * key only the two of them can derive, bound to the attempt, the direction and the seed's
 * commitment (a key is never used for two seeds, so its zero nonce is never reused), so the
 * stream carries it and only the peer can open it.
 */
export function sealShare(secret: Uint8Array, from: string, to: string, context: MaskContext, share: Uint8Array, commitment: Uint8Array): Uint8Array {
  const key = shareKey(secret, from, to, context, commitment);
  const cipher = createCipheriv("chacha20-poly1305", Buffer.from(key), Buffer.alloc(12), { authTagLength: 16 });
  return new Uint8Array(Buffer.concat([cipher.update(share), cipher.final(), cipher.getAuthTag()]));
}

/** Opens a share sealed for us; throws on any change to it (or to the attempt, or the direction). */
export function openShare(secret: Uint8Array, from: string, to: string, context: MaskContext, sealed: Uint8Array, commitment: Uint8Array): Uint8Array {
  if (sealed.length < 16) throw new RangeError("a sealed share is shorter than its tag");
  const key = shareKey(secret, from, to, context, commitment);
  const decipher = createDecipheriv("chacha20-poly1305", Buffer.from(key), Buffer.alloc(12), { authTagLength: 16 });
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return new Uint8Array(Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]));
}

const shareKey = (secret: Uint8Array, from: string, to: string, context: MaskContext, commitment: Uint8Array): ArrayBuffer =>
  hkdfSync("sha256", secret, Buffer.concat([contextBytes(context), commitment]), `share\0${from}\0${to}`, 32);
