import { base58Decode, base58Encode } from "./base58.ts";

/**
 * did:key for Ed25519 public keys, per the did:key method specification: "did:key:" + multibase
 * base58btc ('z') of the multicodec ed25519-pub prefix (0xed 0x01, a varint) + the 32-byte key.
 * Such DIDs start "did:key:z6Mk".
 */
const PREFIX = "did:key:z";
const ED25519_PUB = [0xed, 0x01];

export function didFromPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new Error(`an Ed25519 public key has 32 bytes, not ${publicKey.length}`);
  return PREFIX + base58Encode(Uint8Array.from([...ED25519_PUB, ...publicKey]));
}

/** The reason a string is not an Ed25519 did:key, or undefined when it is one. */
export function didKeyProblem(did: string): string | undefined {
  try {
    publicKeyFromDid(did);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** An Ed25519 did:key has 56 characters; base58 decoding is quadratic, so nothing much longer is decoded. */
const MAX_DID = 64;

export function publicKeyFromDid(did: string): Uint8Array {
  if (did.length > MAX_DID) throw new Error(`"${shorten(did)}" has ${did.length} characters; an Ed25519 did:key has 56`);
  if (!did.startsWith("did:key:")) throw new Error(`"${shorten(did)}" is not a did:key (it must start with "did:key:")`);
  if (!did.startsWith(PREFIX)) throw new Error(`"${shorten(did)}" is not base58btc multibase (expected "z" after "did:key:")`);
  let bytes: Uint8Array;
  try {
    bytes = base58Decode(did.slice(PREFIX.length));
  } catch (err) {
    throw new Error(`"${shorten(did)}": bad base58: ${(err as Error).message}`);
  }
  if (bytes[0] !== ED25519_PUB[0] || bytes[1] !== ED25519_PUB[1]) {
    throw new Error(`"${shorten(did)}" is not an Ed25519 key (multicodec 0x${hex(bytes.subarray(0, 2))}, expected ed25519-pub 0xed01)`);
  }
  if (bytes.length !== 34) throw new Error(`"${shorten(did)}" holds ${bytes.length - 2} key bytes; an Ed25519 key has 32`);
  return bytes.slice(2);
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const shorten = (s: string): string => (s.length > 60 ? `${s.slice(0, 57)}...` : s);
