import { createHash } from "node:crypto";
import type { JetStreamClient, JetStreamPublishOptions, PubAck } from "@nats-io/jetstream";
import { messageAt } from "./read.ts";
import { catoptError } from "../core/errors.ts";
import { retrying } from "./retry.ts";

/**
 * js.publish through server failures (retry.ts): safe because the msgID makes the server drop a
 * repeated copy. A duplicate ack is believed only when the stream holds exactly these bytes on
 * this subject: anyone may publish first under an id we will use (ids are derived from what an
 * event is, so they can be guessed), and such a squatter must not make our message vanish. A
 * squatted id is published again under `<id>~<digest of the bytes>`: nobody can squat that
 * without knowing the signed bytes beforehand, and a restarted publisher of the same bytes
 * reaches the same id, so it is still de-duplicated. The readers never look at the msgID: the
 * squatter's copy is refused by its signature like any other forgery.
 */
export async function publishDurably(
  js: JetStreamClient,
  subject: string,
  data: Uint8Array,
  options: Partial<JetStreamPublishOptions> & { msgID: string },
): Promise<PubAck> {
  const first = await retrying(() => js.publish(subject, data, options));
  if (!first.duplicate || (await storedAs(js, first, subject, data))) return first;
  const msgID = `${options.msgID}~${createHash("sha256").update(data).digest("hex").slice(0, 32)}`;
  const second = await retrying(() => js.publish(subject, data, { ...options, msgID }));
  if (!second.duplicate || (await storedAs(js, second, subject, data))) return second;
  throw catoptError("PUBLISH_SQUATTED", `${subject}: the stream holds other bytes under message id ${msgID}`);
}

/** Is the message a duplicate ack points to the one we meant to publish? */
async function storedAs(js: JetStreamClient, ack: PubAck, subject: string, data: Uint8Array): Promise<boolean> {
  const stored = await messageAt(js, ack.stream, subject, ack.seq);
  return stored !== undefined && Buffer.compare(stored.data, data) === 0;
}
