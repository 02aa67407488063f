import { createHash } from "node:crypto";
import type { Hash } from "./merkle.ts";
import { signBytes, verifyBytes, type Identity } from "./identity.ts";
import { didFromPublicKey } from "./did-key.ts";

/**
 * Signed checkpoints in the formats the transparency-log ecosystem verifies:
 * - C2SP tlog-checkpoint: the text "<origin>\n<tree size>\n<base64 root hash>\n", and
 * - C2SP signed-note: that text, a blank line, then signature lines
 *   "— <key name> <base64(key id || Ed25519 signature)>\n", where
 *   key id = SHA-256(key name || 0x0A || 0x01 || public key)[:4]. Verifiers are given a
 *   verifier key "<name>+<hex key id>+<base64(0x01 || public key)>".
 * Go's golang.org/x/mod/sumdb/note is the reference; test/governance/checkpoint.test.ts checks
 * its published example byte for byte.
 */
export type Checkpoint = { readonly origin: string; readonly size: number; readonly root: Hash };

const ED25519 = 0x01;
const SIGNATURE_PREFIX = "\u2014 "; // em dash, space

export function checkpointText(c: Checkpoint): string {
  return `${c.origin}\n${c.size}\n${Buffer.from(c.root).toString("base64")}\n`;
}

export function parseCheckpointText(text: string): Checkpoint {
  const lines = text.split("\n");
  const [origin, size, root] = lines;
  if (lines.length < 4 || lines[lines.length - 1] !== "" || !origin) throw new Error("a checkpoint has an origin, a size and a root hash, one per line");
  if (!/^(0|[1-9][0-9]*)$/.test(size ?? "")) throw new Error(`checkpoint size "${size}" is not a decimal number`);
  const rootBytes = Buffer.from(root ?? "", "base64");
  if (rootBytes.length !== 32 || rootBytes.toString("base64") !== root) throw new Error(`checkpoint root "${root}" is not a base64 SHA-256 hash`);
  return { origin, size: Number(size), root: Uint8Array.from(rootBytes) };
}

export function noteKeyId(name: string, publicKey: Uint8Array): Uint8Array {
  const digest = createHash("sha256").update(name).update(Uint8Array.of(0x0a, ED25519)).update(publicKey).digest();
  return Uint8Array.from(digest.subarray(0, 4));
}

export function verifierKey(name: string, publicKey: Uint8Array): string {
  checkKeyName(name);
  return `${name}+${Buffer.from(noteKeyId(name, publicKey)).toString("hex")}+${Buffer.from([ED25519, ...publicKey]).toString("base64")}`;
}

export type ParsedVerifierKey = { readonly name: string; readonly keyId: Uint8Array; readonly publicKey: Uint8Array; readonly did: string };

export function parseVerifierKey(vkey: string): ParsedVerifierKey {
  // The key is base64, which may itself hold '+': only the first two '+' separate fields.
  const first = vkey.indexOf("+");
  const second = vkey.indexOf("+", first + 1);
  const [name, id, key] = [vkey.slice(0, first), vkey.slice(first + 1, second), vkey.slice(second + 1)];
  if (first <= 0 || second < 0 || !key) throw new Error(`verifier key "${vkey}" is not <name>+<key id>+<key>`);
  if (!/^[0-9a-f]{8}$/.test(id)) throw new Error(`verifier key id "${id}" is not 8 lower-case hex digits`);
  const bytes = Buffer.from(key, "base64");
  if (bytes.length !== 33 || bytes[0] !== ED25519) throw new Error("verifier key is not an Ed25519 key (type 0x01 and 32 bytes)");
  const publicKey = Uint8Array.from(bytes.subarray(1));
  if (Buffer.from(noteKeyId(name, publicKey)).toString("hex") !== id) throw new Error(`verifier key id ${id} does not match its name and key`);
  return { name, keyId: Uint8Array.from(Buffer.from(id, "hex")), publicKey, did: didFromPublicKey(publicKey) };
}

export function signNote(text: string, name: string, signer: Identity): string {
  checkKeyName(name);
  if (!text.endsWith("\n") || text.includes("\n\n")) throw new Error("note text must end with a newline and hold no blank line");
  const signature = signBytes(signer, Buffer.from(text, "utf8"));
  const blob = Buffer.concat([noteKeyId(name, signer.publicKey), signature]).toString("base64");
  return `${text}\n${SIGNATURE_PREFIX}${name} ${blob}\n`;
}

/** The note's text if the verifier key's signature on it is valid; throws with the reason otherwise. */
export function openNote(note: string, vkey: string): string {
  const key = parseVerifierKey(vkey);
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new Error("not a signed note: no blank line before the signatures");
  const text = note.slice(0, split + 1);
  const wantedId = Buffer.from(key.keyId).toString("hex");
  for (const line of note.slice(split + 2, -1).split("\n")) {
    if (!line.startsWith(SIGNATURE_PREFIX)) throw new Error(`malformed signature line "${line.slice(0, 40)}"`);
    const [name, blob, ...rest] = line.slice(SIGNATURE_PREFIX.length).split(" ");
    const bytes = Buffer.from(blob ?? "", "base64");
    if (!name || rest.length > 0 || bytes.length < 5) throw new Error(`malformed signature line "${line.slice(0, 40)}"`);
    if (name !== key.name || bytes.subarray(0, 4).toString("hex") !== wantedId) continue; // another signer's line
    if (!verifyBytes(key.did, Buffer.from(text, "utf8"), Uint8Array.from(bytes.subarray(4)))) throw new Error(`the signature of ${name} does not verify`);
    return text;
  }
  throw new Error(`the note carries no signature by ${key.name}+${wantedId}`);
}

export function signCheckpoint(checkpoint: Checkpoint, name: string, signer: Identity): string {
  return signNote(checkpointText(checkpoint), name, signer);
}

export function verifyCheckpoint(note: string, vkey: string): Checkpoint {
  return parseCheckpointText(openNote(note, vkey));
}

function checkKeyName(name: string): void {
  if (name.length === 0 || /[\s+]/u.test(name)) throw new Error(`key name "${name}" must be non-empty, without spaces or '+'`);
}
