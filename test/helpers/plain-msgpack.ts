/**
 * An independent decoder of core MessagePack (nil, bool, ints, float32/64, str, bin, array,
 * map), written from the spec, that refuses every extension type. If it reads our bytes,
 * any msgpack library can: that is the portability promise of DESIGN.md principle 4.
 */
export function decodePlain(bytes: Uint8Array): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  /** Moves past `n` bytes; returns where they start. */
  const take = (n: number): number => {
    at += n;
    return at - n;
  };
  const text = (n: number): string => {
    const start = take(n);
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start, start + n));
  };
  const bin = (n: number): Uint8Array => {
    const start = take(n);
    return bytes.slice(start, start + n);
  };
  const u8 = (): number => view.getUint8(take(1));
  const u16 = (): number => view.getUint16(take(2));
  const u32 = (): number => view.getUint32(take(4));
  const array = (n: number): unknown[] => Array.from({ length: n }, () => read());
  const map = (n: number): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const key = read();
      if (typeof key !== "string") throw new Error(`map key at byte ${at} is not a string`);
      out[key] = read();
    }
    return out;
  };
  function read(): unknown {
    const b = u8();
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if ((b & 0xf0) === 0x80) return map(b & 0x0f);
    if ((b & 0xf0) === 0x90) return array(b & 0x0f);
    if ((b & 0xe0) === 0xa0) return text(b & 0x1f);
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return bin(u8());
      case 0xc5:
        return bin(u16());
      case 0xc6:
        return bin(u32());
      case 0xca:
        return view.getFloat32(take(4));
      case 0xcb:
        return view.getFloat64(take(8));
      case 0xcc:
        return u8();
      case 0xcd:
        return u16();
      case 0xce:
        return u32();
      case 0xcf:
        return Number(view.getBigUint64(take(8)));
      case 0xd0:
        return view.getInt8(take(1));
      case 0xd1:
        return view.getInt16(take(2));
      case 0xd2:
        return view.getInt32(take(4));
      case 0xd3:
        return Number(view.getBigInt64(take(8)));
      case 0xd9:
        return text(u8());
      case 0xda:
        return text(u16());
      case 0xdb:
        return text(u32());
      case 0xdc:
        return array(u16());
      case 0xdd:
        return array(u32());
      case 0xde:
        return map(u16());
      case 0xdf:
        return map(u32());
      default:
        throw new Error(`type byte 0x${b.toString(16)} at ${at - 1} is an extension or reserved type`);
    }
  }
  const value = read();
  if (at !== bytes.length) throw new Error(`${bytes.length - at} trailing bytes`);
  return value;
}

/** The keys of the top-level map in wire order (decodePlain's objects keep insertion order). */
export const wireKeys = (bytes: Uint8Array): string[] => Object.keys(decodePlain(bytes) as object);
