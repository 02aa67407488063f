import { decode, encode, type Wire } from "./codec.ts";
import { catoptError } from "./errors.ts";
import * as v from "./validate.ts";

/**
 * What travels as a NATS message: the event's own bytes plus who wrote them. The signature
 * covers exactly `event` (the idea of COSE_Sign1), so a verifier checks before it decodes.
 * Until identities land, `sig` is empty and `author` names the publishing actor.
 */
export type Envelope = {
  readonly v: 1;
  readonly event: Uint8Array;
  readonly author: string;
  readonly sig: Uint8Array;
};

export const ENVELOPE_VERSION = 1;
/** The longest author an envelope may name: room for a did:key (56 characters for Ed25519), not for a payload. */
export const MAX_AUTHOR = 64;
const SIGNATURE_BYTES = 64;

export function encodeEnvelope(envelope: Omit<Envelope, "v">): Uint8Array {
  return encode(
    new Map<string, Wire>([
      ["v", ENVELOPE_VERSION],
      ["event", envelope.event],
      ["author", envelope.author],
      ["sig", envelope.sig],
    ]),
  );
}

export function decodeEnvelope(bytes: Uint8Array): Envelope {
  let raw: unknown;
  try {
    raw = decode(bytes);
  } catch (err) {
    throw catoptError("EVENT_INVALID", `envelope: not valid msgpack (${(err as Error).message})`, err);
  }
  try {
    const e = v.record(raw, "envelope");
    if (e.v !== ENVELOPE_VERSION) throw new v.ValidationError("envelope.v", `unsupported envelope version ${String(e.v)}`);
    // Bounded before anyone works on them: a did:key for Ed25519 has 56 characters, a signature 64 bytes.
    const author = v.string(e.author, "envelope.author", MAX_AUTHOR);
    const sig = v.bytes(e.sig, "envelope.sig");
    if (sig.length !== 0 && sig.length !== SIGNATURE_BYTES)
      throw new v.ValidationError("envelope.sig", `${sig.length} bytes; an Ed25519 signature has ${SIGNATURE_BYTES}`);
    return { v: ENVELOPE_VERSION, event: v.bytes(e.event, "envelope.event"), author, sig };
  } catch (err) {
    if (err instanceof v.ValidationError) throw catoptError("EVENT_INVALID", err.message, err);
    throw err;
  }
}
