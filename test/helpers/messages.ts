import { readFile } from "node:fs/promises";
import path from "node:path";
import { decode } from "../../src/core/codec.ts";
import { decodeEnvelope } from "../../src/core/envelope.ts";
import type { CatoptEvent } from "../../src/core/event.ts";
import { envelopeBytes } from "../../src/governance/signed-publish.ts";
import { deltaSubject, governanceSubject, planSubject, roundSubject } from "../../src/core/subjects.ts";
import { identityFromSeed, type Identity } from "../../src/governance/identity.ts";
import type { StreamMessage } from "../../src/core/stream-message.ts";
import { eventKindOf } from "../../src/families/registry.ts";

/** A stream message carrying an event, signed by `signer`, on the subject its schema belongs to, as the runners publish it. */
export function messageOf(seq: number, event: CatoptEvent, signer: Identity, agent?: string): StreamMessage {
  const kind = eventKindOf(event.schema);
  const subject =
    kind === "plan"
      ? planSubject(event.tenant, event.problem)
      : kind === "open" || kind === "change" || kind === "round" || kind === "attempt"
        ? roundSubject(event.tenant, event.problem)
        : kind === "governance"
          ? governanceSubject(event.tenant, event.schema.slice(0, -2))
          : deltaSubject(event.tenant, event.problem, agent ?? signer.name);
  return { subject, seq, data: envelopeBytes(event, signer) };
}

/** The schema an event was sent with, as the wire holds it (decodeEvent reads an old version as today's). */
export const wireSchemaOf = (data: Uint8Array): string => (decode(decodeEnvelope(data).event) as { schema: string }).schema;

/** The fixed test identities the replay fixture was signed with (test/fixtures/fixture-keys.json). */
export async function fixtureIdentities(): Promise<Record<string, Identity>> {
  const file = path.join(import.meta.dirname, "..", "fixtures", "fixture-keys.json");
  const { seeds } = JSON.parse(await readFile(file, "utf8")) as { seeds: Record<string, string> };
  return Object.fromEntries(Object.entries(seeds).map(([name, seed]) => [name, identityFromSeed(name, Buffer.from(seed, "hex"))]));
}
