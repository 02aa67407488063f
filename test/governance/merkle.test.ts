import { test } from "uvu";
import * as assert from "uvu/assert";
import { EMPTY_ROOT, fromHex, leafHash, MerkleLog, toHex, verifyConsistency, verifyInclusion } from "../../src/governance/merkle.ts";

// certificate-transparency's RFC 6962 test data: leaves, roots of sizes 1..8, paths and proofs.
const LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"].map(fromHex);
const ROOTS = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
const PATHS: [number, number, string[]][] = [
  [
    0,
    8,
    [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  ],
  [
    5,
    8,
    [
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  ],
];
const CONSISTENCY: [number, number, string[]][] = [
  [
    1,
    8,
    [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  ],
  [
    6,
    8,
    [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  ],
];

const log = new MerkleLog();
for (const leaf of LEAVES) log.append(leaf);

test("roots match RFC 6962's test data for every size, and the empty tree is SHA-256 of nothing", () => {
  assert.is(toHex(EMPTY_ROOT), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.is(toHex(log.root(0)), toHex(EMPTY_ROOT));
  for (const [i, root] of ROOTS.entries()) assert.is(toHex(log.root(i + 1)), root, `size ${i + 1}`);
});

test("inclusion and consistency proofs match the published ones and verify", () => {
  for (const [index, size, path] of PATHS) {
    assert.equal(log.inclusionProof(index, size).map(toHex), path);
    assert.ok(verifyInclusion(leafHash(LEAVES[index]), index, size, path.map(fromHex), fromHex(ROOTS[size - 1])));
  }
  for (const [first, second, proof] of CONSISTENCY) {
    assert.equal(log.consistencyProof(first, second).map(toHex), proof);
    assert.ok(verifyConsistency(first, second, proof.map(fromHex), fromHex(ROOTS[first - 1]), fromHex(ROOTS[second - 1])));
  }
});

test("every proof in trees up to 70 entries verifies, and fails for a wrong leaf, index, root or proof", () => {
  const big = new MerkleLog();
  for (let i = 0; i < 70; i++) big.append(Uint8Array.of(i, i >> 8, 7));
  for (let size = 1; size <= 70; size++) {
    const root = big.root(size);
    for (let index = 0; index < size; index++) {
      const proof = big.inclusionProof(index, size);
      assert.ok(verifyInclusion(big.leaf(index), index, size, proof, root), `inclusion ${index}/${size}`);
      if (size > 1) {
        assert.not.ok(verifyInclusion(big.leaf((index + 1) % size), index, size, proof, root), `wrong leaf ${index}/${size}`);
        assert.not.ok(verifyInclusion(big.leaf(index), index, size, proof, big.root(size - 1)), `wrong root ${index}/${size}`);
      }
    }
    for (let first = 1; first <= size; first++) {
      const proof = big.consistencyProof(first, size);
      assert.ok(verifyConsistency(first, size, proof, big.root(first), root), `consistency ${first}->${size}`);
      if (first < size) {
        const forged = proof.map((h, i) => (i === proof.length - 1 ? leafHash(h) : h));
        assert.not.ok(verifyConsistency(first, size, forged, big.root(first), root), `forged ${first}->${size}`);
        assert.not.ok(
          verifyConsistency(
            first,
            size,
            proof,
            big.root(first - 1 || 1).map((b) => b ^ 1),
            root,
          ),
          `other first root ${first}->${size}`,
        );
      }
    }
  }
});

test("an appended log and one rebuilt from scratch agree; a changed entry changes the root", () => {
  const again = new MerkleLog();
  for (const leaf of LEAVES) again.append(leaf);
  assert.is(toHex(again.root()), ROOTS[7]);
  const changed = new MerkleLog();
  for (const [i, leaf] of LEAVES.entries()) changed.append(i === 3 ? fromHex("2022") : leaf);
  assert.is.not(toHex(changed.root()), ROOTS[7]);
  assert.is(toHex(changed.root(3)), ROOTS[2], "the prefix before the change is untouched");
});

test.run();
