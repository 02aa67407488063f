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
    return {
      v: ENVELOPE_VERSION,
      event: v.bytes(e.event, "envelope.event"),
      author: v.string(e.author, "envelope.author"),
      sig: v.bytes(e.sig, "envelope.sig"),
    };
  } catch (err) {
    if (err instanceof v.ValidationError) throw catoptError("EVENT_INVALID", err.message, err);
    throw err;
  }
}
