import { Packr, Unpackr } from "msgpackr";

/**
 * Deterministic, portable MessagePack.
 *
 * - No msgpackr records or extension types, so any msgpack library decodes our bytes.
 * - Plain objects are written with their keys sorted, and a `Map` in its insertion order (for
 *   records whose field order is part of the contract, such as the event and the envelope),
 *   so the same value always gives the same bytes (signatures and hashes cover bytes).
 * - Only finite numbers are allowed: msgpackr would pack NaN and turn -0 into 0 silently.
 */
export type Wire =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | readonly Wire[]
  | ReadonlyMap<string, Wire>
  | { readonly [key: string]: Wire | undefined };

const packr = new Packr({ useRecords: false, variableMapSize: true, useToJSON: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export function encode(value: Wire): Uint8Array {
  // pack() returns a view into a shared arena: copy before the next pack overwrites it.
  return Uint8Array.from(packr.pack(canonical(value, "$")));
}

export function decode(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}

/**
 * Decodes concatenated msgpack values (a recording). On bad bytes it throws a SequenceError
 * that says at which byte offset and which value decoding stopped.
 */
export class SequenceError extends Error {
  readonly offset: number;
  readonly index: number;

  constructor(offset: number, index: number, cause: unknown) {
    super(`corrupt or truncated msgpack at byte ${offset} (value ${index})`, { cause });
    this.name = "SequenceError";
    this.offset = offset;
    this.index = index;
  }
}

export function decodeSequence(bytes: Uint8Array): unknown[] {
  const values: unknown[] = [];
  try {
    unpackr.unpackMultiple(bytes, (value) => void values.push(value));
  } catch (err) {
    throw new SequenceError((err as { lastPosition?: number }).lastPosition ?? 0, values.length, err);
  }
  return values;
}

function canonical(value: Wire, path: string): unknown {
  if (value === null || typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`${path}: ${value} is not a finite number`);
    return Object.is(value, -0) ? 0 : value;
  }
  if (value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map((item, i) => canonical(item, `${path}[${i}]`));
  if (value instanceof Map) {
    const ordered = new Map<string, unknown>();
    for (const [key, item] of value) ordered.set(key, canonical(item, `${path}.${key}`));
    return ordered;
  }
  const object = value as { readonly [key: string]: Wire | undefined };
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(object).sort()) {
    const item = object[key];
    if (item === undefined) continue;
    sorted[key] = canonical(item, `${path}.${key}`);
  }
  return sorted;
}
