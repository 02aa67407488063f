/**
 * An independent decoder of core MessagePack (nil, bool, ints, float32/64, str, bin, array,
 * map), written from the spec, that refuses every extension type. If it reads our bytes,
 * any msgpack library can: that is the portability promise of DESIGN.md principle 4.
 */
export function decodePlain(bytes: Uint8Array): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const text = (n: number): string => new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(at, (at += n)));
  const bin = (n: number): Uint8Array => bytes.slice(at, (at += n));
  const u8 = (): number => view.getUint8(at++);
  const u16 = (): number => ((at += 2), view.getUint16(at - 2));
  const u32 = (): number => ((at += 4), view.getUint32(at - 4));
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
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return bin(u8());
      case 0xc5: return bin(u16());
      case 0xc6: return bin(u32());
      case 0xca: return ((at += 4), view.getFloat32(at - 4));
      case 0xcb: return ((at += 8), view.getFloat64(at - 8));
      case 0xcc: return u8();
      case 0xcd: return u16();
      case 0xce: return u32();
      case 0xcf: return Number(((at += 8), view.getBigUint64(at - 8)));
      case 0xd0: return ((at += 1), view.getInt8(at - 1));
      case 0xd1: return ((at += 2), view.getInt16(at - 2));
      case 0xd2: return ((at += 4), view.getInt32(at - 4));
      case 0xd3: return Number(((at += 8), view.getBigInt64(at - 8)));
      case 0xd9: return text(u8());
      case 0xda: return text(u16());
      case 0xdb: return text(u32());
      case 0xdc: return array(u16());
      case 0xdd: return array(u32());
      case 0xde: return map(u16());
      case 0xdf: return map(u32());
      default: throw new Error(`type byte 0x${b.toString(16)} at ${at - 1} is an extension or reserved type`);
    }
  }
  const value = read();
  if (at !== bytes.length) throw new Error(`${bytes.length - at} trailing bytes`);
  return value;
}

/** The keys of the top-level map in wire order (decodePlain's objects keep insertion order). */
export const wireKeys = (bytes: Uint8Array): string[] => Object.keys(decodePlain(bytes) as object);
