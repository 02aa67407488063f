import type { CatoptEvent } from "../../src/core/event.ts";
import { envelopeBytes } from "../../src/bus/publish.ts";
import { deltaSubject, planSubject, roundSubject } from "../../src/core/subjects.ts";
import type { StreamMessage } from "../../src/replay/reducer.ts";

/** A stream message carrying an event on the subject its schema belongs to, as the runners publish it. */
export function messageOf(seq: number, event: CatoptEvent, agent?: string): StreamMessage {
  const subject =
    event.schema === "plan/1"
      ? planSubject(event.tenant, event.problem)
      : event.schema === "open/1" || event.schema === "round/1"
        ? roundSubject(event.tenant, event.problem)
        : deltaSubject(event.tenant, event.problem, agent ?? "unknown");
  return { subject, seq, data: envelopeBytes(event, { name: agent ?? "coordinator" }) };
}
