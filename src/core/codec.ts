import { Unpackr } from "msgpackr";

/**
 * Deterministic, portable MessagePack.
 *
 * - No msgpackr records or extension types, so any msgpack library decodes our bytes.
 * - Plain objects are written with their keys sorted, and a `Map` in its insertion order (for
 *   records whose field order is part of the contract, such as the event and the envelope),
 *   so the same value always gives the same bytes (signatures and hashes cover bytes).
 * - Only finite numbers are allowed: msgpackr would pack NaN and turn -0 into 0 silently.
 */
export type Wire = null | boolean | number | string | Uint8Array | readonly Wire[] | ReadonlyMap<string, Wire> | { readonly [key: string]: Wire | undefined };

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/**
 * Our own writer, in one pass: it checks every number, sorts plain objects' keys as it goes, and
 * writes each value in the smallest format msgpackr itself would choose (positive ints in uint
 * formats, negative in int formats, anything else as float64; -0 as 0), so our bytes equal
 * msgpackr's for the same canonical value (test/core/codec.test.ts holds them to it).
 */
export function encode(value: Wire): Uint8Array {
  return writer.encode(value);
}

/** Decodes one value, after checking its shape (checkShape): hostile bytes cost a scan, not a build. */
export function decode(bytes: Uint8Array): unknown {
  checkShape(bytes);
  return unpackr.unpack(bytes);
}

/** Nesting deeper than any message of ours, and maps larger than any (a tenant plan's jobs), are refused before decoding. */
export const MAX_DEPTH = 64;
export const MAX_MAP_ENTRIES = 16_384;

/**
 * Walks msgpack bytes without building anything and throws (a TypeError with the byte offset)
 * on what decoding would pay dearly for or what our wire never holds: nesting beyond
 * MAX_DEPTH, a map beyond MAX_MAP_ENTRIES (objects with many keys are slow to build),
 * extension types, a reserved byte, a length beyond the bytes, or bytes after the value.
 */
export function checkShape(bytes: Uint8Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const open: number[] = []; // items still to read in each open container
  let at = 0;
  const fail = (why: string): never => {
    throw new TypeError(`${why} at byte ${at}`);
  };
  const need = (n: number): number => {
    if (at + n > bytes.length) fail("truncated msgpack");
    const from = at;
    at += n;
    return from;
  };
  /** Opens a container; false when it is empty, and so already a whole item. */
  const container = (items: number, map: boolean): boolean => {
    if (map && items > MAX_MAP_ENTRIES) fail(`a map of ${items} entries (more than ${MAX_MAP_ENTRIES})`);
    if (open.length >= MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`);
    if (items > 0) open.push(map ? items * 2 : items);
    return items > 0;
  };
  do {
    const b = bytes[need(1)];
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) {
      // fixint, nil, booleans
    } else if (b <= 0x9f) {
      if (container(b & 0x0f, b <= 0x8f)) continue; // its items come next
    } else if (b <= 0xbf) need(b & 0x1f);
    else {
      switch (b) {
        case 0xc4:
        case 0xd9:
          need(view.getUint8(need(1)));
          break;
        case 0xc5:
        case 0xda:
          need(view.getUint16(need(2)));
          break;
        case 0xc6:
        case 0xdb:
          need(view.getUint32(need(4)));
          break;
        case 0xca:
          need(4);
          break;
        case 0xcb:
          need(8);
          break;
        case 0xcc:
        case 0xd0:
          need(1);
          break;
        case 0xcd:
        case 0xd1:
          need(2);
          break;
        case 0xce:
        case 0xd2:
          need(4);
          break;
        case 0xcf:
        case 0xd3:
          need(8);
          break;
        case 0xdc:
          if (container(view.getUint16(need(2)), false)) continue;
          break;
        case 0xdd:
          if (container(view.getUint32(need(4)), false)) continue;
          break;
        case 0xde:
          if (container(view.getUint16(need(2)), true)) continue;
          break;
        case 0xdf:
          if (container(view.getUint32(need(4)), true)) continue;
          break;
        default:
          fail(`byte 0x${b.toString(16)} (an extension type or reserved) is not plain msgpack`);
      }
    }
    // One item done: close every container it completes.
    while (open.length > 0 && --open[open.length - 1] === 0) open.pop();
  } while (open.length > 0);
  if (at !== bytes.length) fail("bytes after the value");
}

const utf8 = new TextEncoder();

class Writer {
  private bytes = new Uint8Array(256);
  private view = new DataView(this.bytes.buffer);
  private at = 0;
  /** Keys from the root to the value being written: turned into a path only for an error. */
  private readonly trail: (string | number)[] = [];

  /**
   * One writer serves every call (encoding calls nothing back, so it cannot re-enter). The
   * result is a copy in a Buffer from Node's pool, which allocates small sizes far faster than
   * a new Uint8Array: like any pooled Buffer, never read its `.buffer` without its byteOffset.
   */
  encode(value: Wire): Uint8Array {
    this.at = 0;
    this.trail.length = 0;
    this.value(value);
    const out = Buffer.allocUnsafe(this.at);
    out.set(this.bytes.subarray(0, this.at));
    return out;
  }

  value(value: Wire): void {
    if (value === null) {
      this.byte(0xc0);
      return;
    }
    switch (typeof value) {
      case "boolean":
        this.byte(value ? 0xc3 : 0xc2);
        return;
      case "number":
        this.number(value);
        return;
      case "string":
        this.string(value);
        return;
    }
    if (value instanceof Uint8Array) {
      this.header(value.length, -1, 0xc4, 0xc5, 0xc6);
      this.room(value.length);
      this.bytes.set(value, this.at);
      this.at += value.length;
      return;
    }
    if (Array.isArray(value)) {
      this.header(value.length, 0x90, -1, 0xdc, 0xdd);
      for (let i = 0; i < value.length; i++) this.nested(i, value[i]);
      return;
    }
    if (value instanceof Map) {
      this.header(value.size, 0x80, -1, 0xde, 0xdf);
      for (const [key, item] of value) {
        this.string(key);
        this.nested(key, item);
      }
      return;
    }
    const object = value as { readonly [key: string]: Wire | undefined };
    const keys = Object.keys(object)
      .filter((key) => object[key] !== undefined)
      .sort();
    this.header(keys.length, 0x80, -1, 0xde, 0xdf);
    for (const key of keys) {
      this.string(key);
      this.nested(key, object[key] as Wire);
    }
  }

  private nested(key: string | number, value: Wire): void {
    this.trail.push(key);
    this.value(value);
    this.trail.pop();
  }

  private number(n: number): void {
    if (!Number.isFinite(n)) {
      const path = this.trail.map((k) => (typeof k === "number" ? `[${k}]` : `.${k}`)).join("");
      throw new TypeError(`$${path}: ${n} is not a finite number`);
    }
    this.room(9);
    if (n >>> 0 === n) {
      // 0 <= n < 2^32, integral (and -0, which becomes 0)
      if (n < 0x80) this.bytes[this.at++] = n;
      else if (n < 0x100) this.bytes[this.tag(0xcc, 1)] = n;
      else if (n < 0x10000) this.view.setUint16(this.tag(0xcd, 2), n);
      else this.view.setUint32(this.tag(0xce, 4), n);
    } else if (n >> 0 === n) {
      // -2^31 <= n < 0, integral
      if (n >= -0x20) this.bytes[this.at++] = 0x100 + n;
      else if (n >= -0x80) this.view.setInt8(this.tag(0xd0, 1), n);
      else if (n >= -0x8000) this.view.setInt16(this.tag(0xd1, 2), n);
      else this.view.setInt32(this.tag(0xd2, 4), n);
    } else {
      this.bytes[this.at] = 0xcb;
      this.view.setFloat64(this.at + 1, n);
      this.at += 9;
    }
  }

  private string(text: string): void {
    let ascii = true;
    for (let i = 0; i < text.length && ascii; i++) ascii = text.charCodeAt(i) < 0x80;
    if (ascii) {
      // The common case (keys, ids): the byte length is known, so header first, then the bytes.
      this.header(text.length, 0xa0, 0xd9, 0xda, 0xdb, 0x20);
      this.room(text.length);
      for (let i = 0; i < text.length; i++) this.bytes[this.at + i] = text.charCodeAt(i);
      this.at += text.length;
      return;
    }
    // Worst case 3 bytes per UTF-16 unit: encode after a 5-byte header slot, then close the gap.
    this.room(5 + text.length * 3);
    const start = this.at;
    const { written } = utf8.encodeInto(text, this.bytes.subarray(start + 5));
    const headerSize = written < 0x20 ? 1 : written < 0x100 ? 2 : written < 0x10000 ? 3 : 5;
    this.bytes.copyWithin(start + headerSize, start + 5, start + 5 + written);
    this.header(written, 0xa0, 0xd9, 0xda, 0xdb, 0x20);
    this.at = start + headerSize + written;
  }

  /** Writes a length header in the smallest of: fix (below fixLimit), 8-, 16- or 32-bit form. */
  private header(length: number, fix: number, b8: number, b16: number, b32: number, fixLimit = 0x10): void {
    this.room(5);
    if (fix >= 0 && length < fixLimit) this.bytes[this.at++] = fix | length;
    else if (b8 >= 0 && length < 0x100) this.bytes[this.tag(b8, 1)] = length;
    else if (length < 0x10000) this.view.setUint16(this.tag(b16, 2), length);
    else this.view.setUint32(this.tag(b32, 4), length);
  }

  /** Writes a type byte and makes room after it for `size` bytes of payload: returns where the payload goes. */
  private tag(type: number, size: number): number {
    this.bytes[this.at] = type;
    this.at += 1 + size;
    return this.at - size;
  }

  private byte(b: number): void {
    this.room(1);
    this.bytes[this.at++] = b;
  }

  private room(extra: number): void {
    if (this.at + extra <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.at + extra));
    grown.set(this.bytes.subarray(0, this.at));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }
}

const writer = new Writer();

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
