import { decode, encode, type Wire } from "./codec.ts";
import { catoptError } from "./errors.ts";
import type { BodyOf, SchemaEntry, SchemaId, SchemaTable } from "./schemas.ts";
import * as v from "./validate.ts";

/**
 * An event, as DESIGN.md fixes it: a msgpack map with its fields in this order. `base` is the
 * round a delta is relative to (-1 where nothing precedes it).
 */
export type CatoptEvent<S extends SchemaId = SchemaId> = {
  readonly schema: S;
  /** Unique and deterministic; also the Nats-Msg-Id header, so a re-publish is de-duplicated. */
  readonly id: string;
  readonly tenant: string;
  readonly problem: string;
  readonly round: number;
  readonly base: number;
  readonly body: BodyOf[S];
};

export type AnyEvent = { [S in SchemaId]: CatoptEvent<S> }[SchemaId];

/** Ids are derived from what the event is, never from a clock or a random source. */
export function eventId(tenant: string, problem: string, kind: string, round: number, agent?: string): string {
  return [tenant, problem, kind, String(round), ...(agent === undefined ? [] : [agent])].join("/");
}

/** A plan the coordinator publishes after round `round` of a problem, on `tenant`'s plan subject: the frame every family's plan events share. */
export function planEventOf<S extends SchemaId>(schema: S, tenant: string, problem: string, round: number, body: BodyOf[S]): CatoptEvent<S> {
  return { schema, id: eventId(tenant, problem, "plan", round), tenant, problem, round, base: round - 1, body };
}

export function encodeEvent(event: CatoptEvent): Uint8Array {
  return encode(
    new Map<string, Wire>([
      ["schema", event.schema],
      ["id", event.id],
      ["tenant", event.tenant],
      ["problem", event.problem],
      ["round", event.round],
      ["base", event.base],
      ["body", event.body as unknown as Wire],
    ]),
  );
}

/**
 * Decodes and validates against `schemas` (the registry's: src/families/registry.ts decodeEvent);
 * throws EVENT_INVALID with the reason (bad bytes, unknown schema, bad field).
 */
export function decodeEventWith(bytes: Uint8Array, schemas: SchemaTable): AnyEvent {
  let raw: unknown;
  try {
    raw = decode(bytes);
  } catch (err) {
    throw catoptError("EVENT_INVALID", `event: not valid msgpack (${(err as Error).message})`, err);
  }
  try {
    const e = v.record(raw, "event");
    const schema = v.string(e.schema, "event.schema");
    let entry = Object.hasOwn(schemas, schema) ? (schemas[schema as SchemaId] as SchemaEntry<SchemaId> | undefined) : undefined;
    if (entry === undefined) throw new v.ValidationError("event.schema", `unknown schema "${schema}"`);
    const event = {
      schema: schema as SchemaId,
      id: v.string(e.id, "event.id"),
      tenant: v.string(e.tenant, "event.tenant"),
      problem: v.string(e.problem, "event.problem"),
      round: v.integer(e.round, "event.round"),
      base: v.integer(e.base, "event.base", -1),
      body: entry.parse(e.body, "event.body") as unknown,
    };
    // An old version reads as today's, here and only here: no fold reads two versions (its signature stays over the bytes as sent).
    while (entry.upcast !== undefined) {
      const { to, body } = entry.upcast as { to: SchemaId; body: (old: unknown) => unknown };
      [event.schema, event.body] = [to, body(event.body)];
      entry = schemas[to] as SchemaEntry<SchemaId>;
    }
    return event as AnyEvent;
  } catch (err) {
    if (err instanceof v.ValidationError) throw catoptError("EVENT_INVALID", err.message, err);
    throw err;
  }
}
