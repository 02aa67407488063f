import { createHash } from "node:crypto";

/**
 * An append-only Merkle log with RFC 6962 / RFC 9162 (section 2.1) hashing:
 *   leaf hash  = SHA-256(0x00 || entry)
 *   node hash  = SHA-256(0x01 || left || right)
 *   MTH(D[n])  splits at k, the largest power of two smaller than n; MTH({}) = SHA-256("").
 * It keeps every complete subtree's hash (levels[h][i] covers leaves i*2^h .. (i+1)*2^h - 1), so
 * a root or a proof costs O(log^2 n) hashes at most. Inclusion and consistency proofs, and their
 * verification, follow RFC 9162 sections 2.1.3 and 2.1.4; verification needs nothing but the
 * proof, the hashes and the sizes.
 */
export type Hash = Uint8Array;

const sha256 = (...parts: Uint8Array[]): Hash => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return Uint8Array.from(h.digest());
};
const LEAF = Uint8Array.of(0x00);
const NODE = Uint8Array.of(0x01);

export const leafHash = (entry: Uint8Array): Hash => sha256(LEAF, entry);
export const nodeHash = (left: Hash, right: Hash): Hash => sha256(NODE, left, right);
export const EMPTY_ROOT: Hash = sha256();

/** The largest power of two smaller than n (n >= 2). */
const split = (n: number): number => 2 ** Math.floor(Math.log2(n - 1));

export class MerkleLog {
  private readonly levels: Hash[][] = [[]];

  get size(): number {
    return this.levels[0].length;
  }

  /** Appends an entry; returns its index. */
  append(entry: Uint8Array): number {
    return this.appendLeafHash(leafHash(entry));
  }

  appendLeafHash(hash: Hash): number {
    const index = this.size;
    this.levels[0].push(hash);
    // Complete every subtree that this leaf finishes.
    for (let level = 0, i = index; i % 2 === 1; level++, i = Math.floor(i / 2)) {
      this.levels[level + 1] ??= [];
      this.levels[level + 1].push(nodeHash(this.levels[level][i - 1], this.levels[level][i]));
    }
    return index;
  }

  leaf(index: number): Hash {
    return this.levels[0][index];
  }

  /** The root of the tree of the first `size` entries (default: all). */
  root(size = this.size): Hash {
    this.check(size, "size");
    return size === 0 ? EMPTY_ROOT : this.range(0, size);
  }

  /** RFC 9162 PATH(m, D[n]): the audit path of entry m in the tree of the first n entries. */
  inclusionProof(index: number, size = this.size): Hash[] {
    this.check(size, "size");
    if (!(index >= 0 && index < size)) throw new RangeError(`entry ${index} is not in a tree of size ${size}`);
    const path: Hash[] = [];
    const walk = (m: number, start: number, n: number): void => {
      if (n === 1) return;
      const k = split(n);
      if (m < k) {
        walk(m, start, k);
        path.push(this.range(start + k, start + n));
      } else {
        walk(m - k, start + k, n - k);
        path.push(this.range(start, start + k));
      }
    };
    walk(index, 0, size);
    return path;
  }

  /** RFC 9162 PROOF(m, D[n]): that the tree of size m is a prefix of the tree of size n. */
  consistencyProof(first: number, second = this.size): Hash[] {
    this.check(second, "size");
    if (!(first >= 1 && first <= second)) throw new RangeError(`no consistency proof from size ${first} to ${second}`);
    const proof: Hash[] = [];
    const subproof = (m: number, start: number, n: number, whole: boolean): void => {
      if (m === n) {
        if (!whole) proof.push(this.range(start, start + n));
        return;
      }
      const k = split(n);
      if (m <= k) {
        subproof(m, start, k, whole);
        proof.push(this.range(start + k, start + n));
      } else {
        subproof(m - k, start + k, n - k, false);
        proof.push(this.range(start, start + k));
      }
    };
    subproof(first, 0, second, true);
    return proof;
  }

  /** MTH of leaves [start, end), from complete subtrees where it can. */
  private range(start: number, end: number): Hash {
    const n = end - start;
    if ((n & (n - 1)) === 0 && start % n === 0) {
      const level = Math.log2(n);
      const cached = this.levels[level]?.[start / n];
      if (cached !== undefined) return cached;
    }
    const k = split(n);
    return nodeHash(this.range(start, start + k), this.range(start + k, end));
  }

  private check(size: number, what: string): void {
    if (!(Number.isInteger(size) && size >= 0 && size <= this.size)) throw new RangeError(`${what} ${size} is outside the log (size ${this.size})`);
  }
}

/** RFC 9162 2.1.3.2: does `proof` show `leaf` at `index` in the tree of `size` with `root`? */
export function verifyInclusion(leaf: Hash, index: number, size: number, proof: readonly Hash[], root: Hash): boolean {
  if (!(index >= 0 && index < size)) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn >>> 1, sn >>> 1];
    } else {
      r = nodeHash(r, p);
    }
    [fn, sn] = [fn >>> 1, sn >>> 1];
  }
  return sn === 0 && equal(r, root);
}

/** RFC 9162 2.1.4.2: does `proof` show the tree (firstSize, firstRoot) is a prefix of (secondSize, secondRoot)? */
export function verifyConsistency(firstSize: number, secondSize: number, proof: readonly Hash[], firstRoot: Hash, secondRoot: Hash): boolean {
  if (firstSize === secondSize) return proof.length === 0 && equal(firstRoot, secondRoot);
  if (!(firstSize >= 1 && firstSize < secondSize) || proof.length === 0) return false;
  const path = (firstSize & (firstSize - 1)) === 0 ? [firstRoot, ...proof] : [...proof];
  let fn = firstSize - 1;
  let sn = secondSize - 1;
  while (fn % 2 === 1) [fn, sn] = [fn >>> 1, sn >>> 1];
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn >>> 1, sn >>> 1];
    } else {
      sr = nodeHash(sr, c);
    }
    [fn, sn] = [fn >>> 1, sn >>> 1];
  }
  return sn === 0 && equal(fr, firstRoot) && equal(sr, secondRoot);
}

export const toHex = (hash: Hash): string => Buffer.from(hash).toString("hex");
export const fromHex = (hex: string): Hash => Uint8Array.from(Buffer.from(hex, "hex"));

function equal(a: Hash, b: Hash): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
