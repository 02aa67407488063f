import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { publishDurably } from "../bus/publish.ts";
import { encodeEnvelope } from "../core/envelope.ts";
import { encodeEvent, type CatoptEvent } from "../core/event.ts";
import { signBytes, type Identity } from "./identity.ts";

/**
 * Publishes an event in its envelope, signed by its author over exactly the event's bytes, with
 * the event id as Nats-Msg-Id, so a retry or a restarted publisher inside the server's
 * duplicate window does not append it twice.
 */
export function envelopeBytes(event: CatoptEvent, signer: Identity): Uint8Array {
  const bytes = encodeEvent(event);
  return encodeEnvelope({ event: bytes, author: signer.did, sig: signBytes(signer, bytes) });
}

export function publishEvent(js: JetStreamClient, subject: string, event: CatoptEvent, signer: Identity): Promise<PubAck> {
  return publishDurably(js, subject, envelopeBytes(event, signer), { msgID: event.id });
}
