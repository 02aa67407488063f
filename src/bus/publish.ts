import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { encodeEnvelope } from "../core/envelope.ts";
import { encodeEvent, type CatoptEvent } from "../core/event.ts";

/**
 * Publishes an event in its envelope with the event id as Nats-Msg-Id, so a retry or a
 * restarted publisher inside the server's duplicate window does not append it twice.
 */
export type Author = { readonly name: string };

export function envelopeBytes(event: CatoptEvent, author: Author): Uint8Array {
  // Identities (the governance issue) replace this placeholder author and fill the signature.
  return encodeEnvelope({ event: encodeEvent(event), author: `local:${author.name}`, sig: new Uint8Array(0) });
}

export function publishEvent(js: JetStreamClient, subject: string, event: CatoptEvent, author: Author): Promise<PubAck> {
  return js.publish(subject, envelopeBytes(event, author), { msgID: event.id });
}
