/**
 * NATS nkeys for our Ed25519 identities. An nkey is an Ed25519 key in another encoding: a role
 * prefix byte, the 32 raw bytes and a CRC16 (XMODEM), in unpadded RFC 4648 base32. So a did:key
 * is also a NATS user ("U..."), and the governance identity's key is also the account ("A...")
 * that signs user JWTs. A seed carries two prefix bytes: the seed marker and the role.
 */
export type NkeyRole = "operator" | "account" | "user";

const PREFIX: Readonly<Record<NkeyRole, number>> = { operator: 14 << 3, account: 0, user: 20 << 3 };
const SEED = 18 << 3;

export function nkeyPublic(role: NkeyRole, publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new Error(`an Ed25519 public key has 32 bytes, not ${publicKey.length}`);
  return encode(Uint8Array.of(PREFIX[role], ...publicKey));
}

/** The seed as a NATS client takes it (the text of a creds file's seed block). */
export function nkeySeed(role: NkeyRole, seed: Uint8Array): string {
  if (seed.length !== 32) throw new Error(`an Ed25519 seed has 32 bytes, not ${seed.length}`);
  const prefix = PREFIX[role];
  return encode(Uint8Array.of(SEED | (prefix >> 5), (prefix & 31) << 3, ...seed));
}

/** The raw public key of an nkey of `role`, or the reason it is not one. */
export function publicKeyOfNkey(role: NkeyRole, nkey: string): Uint8Array | string {
  if (nkey.length !== 56) return `an nkey has 56 characters, not ${nkey.length}`;
  const raw = decode(nkey);
  if (raw === undefined) return `"${nkey}" is not base32`;
  if (crc16(raw.subarray(0, 33)) !== (raw[33] | (raw[34] << 8))) return `"${nkey}" fails its checksum`;
  if (raw[0] !== PREFIX[role]) return `"${nkey}" is not a NATS ${role} key`;
  return raw.slice(1, 33);
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function encode(payload: Uint8Array): string {
  const crc = crc16(payload);
  return base32(Uint8Array.of(...payload, crc & 0xff, crc >> 8));
}

/** Unpadded RFC 4648 base32, as nkeys and NATS JWT ids use it. */
export function base32(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

function decode(text: string): Uint8Array | undefined {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of text) {
    const digit = ALPHABET.indexOf(char);
    if (digit < 0) return undefined;
    value = ((value << 5) | digit) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}
