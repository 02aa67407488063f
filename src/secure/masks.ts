import { createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, type KeyObject } from "node:crypto";
import { accumulate, addHalves, type Words } from "./ring.ts";

/**
 * Pairwise and self masks of secure aggregation (Bonawitz et al., CCS 2017). Each pair of
 * agents of an attempt shares a secret by X25519; a mask is a ChaCha20 keystream read as 64-bit
 * words, keyed by HKDF over that secret, the problem and the pair, with the attempt (round,
 * attempt) as its nonce, so every attempt has fresh masks and no seed is ever folded to fewer
 * bits than its 256. Agents of one problem must run one version of these masks. Of a
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

/**
 * The X25519 secret two agents share; refuses a peer key that is not 32 bytes or that forces the
 * all-zero secret (a low-order point). Kept per own key and peer key: an agent masks with the same
 * peers round after round, and an agreement costs more than the keystream of a small vector.
 */
export function sharedSecret(own: AgreementKey, peerPublicKey: Uint8Array): Uint8Array {
  if (peerPublicKey.length !== 32) throw new RangeError(`an X25519 public key has 32 bytes, not ${peerPublicKey.length}`);
  const held = agreed.get(own) ?? new Map<string, Uint8Array>();
  agreed.set(own, held);
  const peer = Buffer.from(peerPublicKey).toString("hex");
  const known = held.get(peer);
  if (known !== undefined) return known.slice(); // a copy: no caller can change what is held
  const secret = agree(own, peerPublicKey);
  if (held.size >= MAX_HELD_SECRETS) held.clear(); // bounded, whatever keys a hostile stream offers
  held.set(peer, secret.slice());
  return secret;
}

const agreed = new WeakMap<AgreementKey, Map<string, Uint8Array>>();
const MAX_HELD_SECRETS = 4096;

function agree(own: AgreementKey, peerPublicKey: Uint8Array): Uint8Array {
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

/**
 * The words of a problem's vector that an agent may write, as spans in order (a family's layout:
 * a cluster node writes its type's columns and the shared scalars, not other types' columns).
 * Its masked contribution carries those words only; a pair of agents masks the words both may
 * write (the others are not in both their sums), so masks still cancel in every word's sum, and
 * an agent's keystreams are as long as what it writes, not as the whole vector.
 */
type Span = { readonly offset: number; readonly length: number };
export type Support = readonly Span[];

/** The whole vector of `length` words: every agent writes every word (the default). */
export const wholeVector = (length: number): Support => [{ offset: 0, length }];

export const supportLength = (support: Support): number => support.reduce((n, s) => n + s.length, 0);

/** A support's spans must be in order, apart, non-empty and within the vector. */
export function checkSupport(support: Support, length: number): Support {
  let end = 0;
  for (const { offset, length: n } of support) {
    if (!(Number.isInteger(offset) && Number.isInteger(n) && n > 0 && offset >= end && offset + n <= length))
      throw new RangeError(`a support's spans must be in order, apart and within ${length} words (${JSON.stringify(support)})`);
    end = offset + n;
  }
  return support;
}

/** The words both supports hold, in order. */
export function commonSupport(a: Support, b: Support): Support {
  const common: Span[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const start = Math.max(a[i].offset, b[j].offset);
    const end = Math.min(a[i].offset + a[i].length, b[j].offset + b[j].length);
    if (end > start) common.push({ offset: start, length: end - start });
    if (a[i].offset + a[i].length < b[j].offset + b[j].length) i++;
    else j++;
  }
  return common;
}

/** The words of `words` (a whole vector) on a support, in order. */
function gather(words: Words, support: Support): Words {
  const out = new BigUint64Array(supportLength(support));
  let at = 0;
  for (const { offset, length } of support) {
    out.set(words.subarray(offset, offset + length), at);
    at += length;
  }
  return out;
}

/** Adds words held on a support (as gather lays them out) into a whole vector, in place. */
export function scatterAdd(target: Words, words: Words, support: Support): Words {
  if (words.length !== supportLength(support)) throw new RangeError(`${words.length} words for a support of ${supportLength(support)}`);
  let at = 0;
  for (const { offset, length } of support) {
    accumulate(target.subarray(offset, offset + length), words.subarray(at, at + length));
    at += length;
  }
  return target;
}

/**
 * Adds (sign 1) or subtracts (-1) ChaCha20's keystream under a 32-byte key and a 16-byte IV (the
 * block counter, then the nonce: zero for a key used once), read as big-endian 64-bit words, into
 * a whole vector's words on a support, in place.
 */
function addKeystream(target: Words, key: Uint8Array, support: Support, sign: 1 | -1, iv: Uint8Array = ZERO_IV): void {
  const cipher = createCipheriv("chacha20", key, iv);
  const bytes = Buffer.concat([cipher.update(Buffer.alloc(supportLength(support) * 8)), cipher.final()]);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const t = new Uint32Array(target.buffer, target.byteOffset, target.length * 2);
  let at = 0;
  for (const { offset, length } of support)
    for (let k = offset; k < offset + length; k++, at += 8) addHalves(t, 2 * k, view.getUint32(at + 4), view.getUint32(at), sign);
}

/** `length` words of ChaCha20 keystream under a 32-byte key. */
export function keystreamWords(key: Uint8Array, length: number): Words {
  const words = new BigUint64Array(length);
  addKeystream(words, key, wholeVector(length), 1);
  return words;
}

const ZERO_IV = new Uint8Array(16);

/**
 * The key a pair masks with in a problem, and the IV of an attempt: the key is derived once (HKDF
 * costs more than a small vector's keystream: at 64 nodes each node derived 63 a round) and each
 * attempt has a nonce of its own, its round and attempt, so no keystream is ever used twice.
 */
function pairKey(secret: Uint8Array, a: string, b: string, context: MaskContext): { readonly key: Uint8Array; readonly iv: Uint8Array } {
  const [first, second] = a < b ? [a, b] : [b, a];
  // Each (round, attempt) its own nonce: both must fit their fields exactly (events hold rounds to 1e15, attempts to 1,000).
  if (!Number.isSafeInteger(context.round) || context.round < 0 || !Number.isInteger(context.attempt) || context.attempt < 0 || context.attempt >= 2 ** 32)
    throw new RangeError(`no mask for round ${context.round}, attempt ${context.attempt}: each must be a whole number in range`);
  const iv = new Uint8Array(16); // bytes 0-3: ChaCha20's block counter, from 0
  const view = new DataView(iv.buffer);
  view.setUint32(4, Math.floor(context.round / 2 ** 32));
  view.setUint32(8, context.round >>> 0);
  view.setUint32(12, context.attempt);
  return { key: problemKey(secret, `pair/2\0${context.tenant}\0${context.problem}\0${first}\0${second}`), iv };
}

/** A key of a pair's for one purpose in one problem, from their shared secret: derived once, then held (bounded). */
function problemKey(secret: Uint8Array, purpose: string): Uint8Array {
  const id = `${Buffer.from(secret).toString("hex")}\0${purpose}`;
  const held = problemKeys.get(id);
  if (held !== undefined) return held;
  const key = new Uint8Array(hkdfSync("sha256", secret, VERSION, purpose, 32));
  if (problemKeys.size >= MAX_HELD_KEYS) problemKeys.clear();
  problemKeys.set(id, key);
  return key;
}

const problemKeys = new Map<string, Uint8Array>();
// A node holds three a peer (its pair key, a share key each way); `catopt run` holds every node's, a pair's shared: 64 nodes hold 6,048.
const MAX_HELD_KEYS = 1 << 16;

const selfKey = (seed: Uint8Array, context: MaskContext): Uint8Array => {
  if (seed.length !== 32) throw new RangeError(`a self-mask seed has 32 bytes, not ${seed.length}`);
  return new Uint8Array(hkdfSync("sha256", seed, contextBytes(context), "self", 32));
};

/** The self mask of an attempt, from a seed of 32 random bytes that the agent reveals once the sum is fixed. */
export const selfMask = (seed: Uint8Array, context: MaskContext, length: number): Words => keystreamWords(selfKey(seed, context), length);

/** Subtracts an agent's self mask (from its seed) from a whole vector's words on the agent's support, in place. */
export const removeSelfMask = (target: Words, seed: Uint8Array, context: MaskContext, support: Support): void =>
  addKeystream(target, selfKey(seed, context), support, -1);

/**
 * An agent's masked contribution to an attempt: its words (a whole vector; it writes those on its
 * support), plus its self mask, plus or minus the mask it shares with each other agent of the
 * roster on the words both write; the words of its support, in order. The roster is the
 * attempt's, as the coordinator announced it; every name in it once, the agent's own among them.
 * `support` gives each agent's (absent: every agent writes the whole vector).
 */
export function maskContribution(
  own: { readonly name: string; readonly key: AgreementKey },
  roster: readonly RosterEntry[],
  context: MaskContext,
  words: Words,
  selfSeed: Uint8Array,
  support: (agent: string) => Support = () => wholeVector(words.length),
): Words {
  const names = roster.map((r) => r.name);
  if (new Set(names).size !== names.length) throw new RangeError(`a roster names an agent twice (${names.join(", ")})`);
  if (!names.includes(own.name)) throw new RangeError(`${own.name} is not in the attempt's roster (${names.join(", ")})`);
  const mine = checkSupport(support(own.name), words.length);
  const masked = words.slice();
  addKeystream(masked, selfKey(selfSeed, context), mine, 1);
  for (const peer of roster) {
    if (peer.name === own.name) continue;
    const common = commonSupport(mine, checkSupport(support(peer.name), words.length));
    if (common.length === 0) continue;
    const { key, iv } = pairKey(sharedSecret(own.key, peer.publicKey), own.name, peer.name, context);
    addKeystream(masked, key, common, own.name < peer.name ? 1 : -1, iv);
  }
  return gather(masked, mine);
}

/**
 * Seals a Shamir share of the sender's self-mask seed for one peer: ChaCha20-Poly1305 under a
 * key only the two of them can derive for the problem and the direction, with a nonce bound to
 * the attempt and the seed's commitment (so no nonce serves two seeds), so the stream carries it
 * and only the peer can open it, for that attempt and seed alone.
 */
export function sealShare(secret: Uint8Array, from: string, to: string, context: MaskContext, share: Uint8Array, commitment: Uint8Array): Uint8Array {
  const { key, nonce } = shareKey(secret, from, to, context, commitment);
  const cipher = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
  return new Uint8Array(Buffer.concat([cipher.update(share), cipher.final(), cipher.getAuthTag()]));
}

/** Opens a share sealed for us; throws on any change to it (or to the attempt, or the direction). */
export function openShare(secret: Uint8Array, from: string, to: string, context: MaskContext, sealed: Uint8Array, commitment: Uint8Array): Uint8Array {
  if (sealed.length < 16) throw new RangeError("a sealed share is shorter than its tag");
  const { key, nonce } = shareKey(secret, from, to, context, commitment);
  const decipher = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return new Uint8Array(Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]));
}

const shareKey = (secret: Uint8Array, from: string, to: string, context: MaskContext, commitment: Uint8Array): { key: Uint8Array; nonce: Uint8Array } => ({
  key: problemKey(secret, `share/2\0${context.tenant}\0${context.problem}\0${from}\0${to}`),
  nonce: new Uint8Array(createHash("sha256").update(contextBytes(context)).update(commitment).digest().subarray(0, 12)),
});
