import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { didFromPublicKey, publicKeyFromDid } from "./did-key.ts";

/**
 * An Ed25519 identity: a name for humans, its did:key, and the private key (a KeyObject, which
 * never leaves Node's crypto unless exported on purpose). Signatures are RFC 8032 Ed25519 over
 * exactly the bytes given.
 */
export type Identity = {
  readonly name: string;
  readonly did: string;
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
};

// DER wrappers of a raw 32-byte Ed25519 seed (PKCS#8) and public key (SPKI), RFC 8410.
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export function generateIdentity(name: string): Identity {
  return fromPrivateKey(name, generateKeyPairSync("ed25519").privateKey);
}

/** From an RFC 8032 private key seed (32 bytes), e.g. a key made elsewhere. */
export function identityFromSeed(name: string, seed: Uint8Array): Identity {
  if (seed.length !== 32) throw new Error(`an Ed25519 seed has 32 bytes, not ${seed.length}`);
  return fromPrivateKey(name, createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" }));
}

export function seedOf(identity: Identity): Uint8Array {
  const der = identity.privateKey.export({ format: "der", type: "pkcs8" });
  return Uint8Array.from(der.subarray(der.length - 32));
}

export function signBytes(identity: Identity, bytes: Uint8Array): Uint8Array {
  const signature = Uint8Array.from(sign(null, bytes, identity.privateKey));
  // What we signed is good by construction: reading it back (the coordinator folds its own rounds and plans) verifies nothing again.
  // Held under the key's own DID, never the one the identity states: a hand-made { did: someone else's, privateKey: ours } plants nothing.
  holdGood(verdictId(didOfKey(identity.privateKey), bytes, signature));
  return signature;
}

const keyDids = new WeakMap<KeyObject, string>();

function didOfKey(privateKey: KeyObject): string {
  let did = keyDids.get(privateKey);
  if (did === undefined) {
    did = fromPrivateKey("", privateKey).did;
    keyDids.set(privateKey, did);
  }
  return did;
}

/** Whether `signature` is the Ed25519 signature of `bytes` by the key of `did` (false on any malformed input). */
export function verifyBytes(did: string, bytes: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  const key = publicKeyObject(did);
  if (key === undefined) return false;
  const id = verdictId(did, bytes, signature);
  if (verified.has(id)) return true;
  verifications++;
  const good = verify(null, bytes, key, signature);
  if (good) holdGood(id);
  return good;
}

let verifications = 0;

/** How many Ed25519 verifications this process has done (a held verdict is none): what a benchmark counts per round. */
export const verificationsDone = (): number => verifications;

const verdictId = (did: string, bytes: Uint8Array, signature: Uint8Array): string =>
  `${did}\0${Buffer.from(signature).toString("base64")}\0${createHash("sha256").update(bytes).digest("base64")}`;

function holdGood(id: string): void {
  if (verified.size >= MAX_VERIFIED) verified.clear();
  verified.add(id);
}

/**
 * Signatures found good, by signer, signature and a digest of the bytes. Every party that reads a
 * message verifies it; where several parties share a process (`catopt run`'s agents, its
 * coordinator, ledger writer and replay; an agent and its own messages read back) each would
 * verify it again, and a verification costs a few hundred digests. The verdict is a function of
 * the three, so holding it changes no answer; only good ones are held (a forged message is judged
 * afresh every time), bounded.
 */
const verified = new Set<string>();
const MAX_VERIFIED = 1 << 17;

const publicKeys = new Map<string, KeyObject | undefined>();
const MAX_CACHED_KEYS = 10_000;

/**
 * Decoding a DID and building a KeyObject cost more than the verification itself, and
 * verifiers see the same few signers again and again: cache by DID (undefined: not a key).
 */
function publicKeyObject(did: string): KeyObject | undefined {
  if (publicKeys.has(did)) return publicKeys.get(did);
  let key: KeyObject | undefined;
  try {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKeyFromDid(did)]), format: "der", type: "spki" });
  } catch {
    key = undefined;
  }
  if (publicKeys.size >= MAX_CACHED_KEYS) publicKeys.clear(); // hostile input must not grow it without bound
  publicKeys.set(did, key);
  return key;
}

function fromPrivateKey(name: string, privateKey: KeyObject): Identity {
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  const publicKey = Uint8Array.from(spki.subarray(spki.length - 32));
  return { name, did: didFromPublicKey(publicKey), publicKey, privateKey };
}
