import { test } from "uvu";
import * as assert from "uvu/assert";
import { generateIdentity, signBytes } from "../../src/governance/identity.ts";
import { startVerifyPool } from "../../src/governance/verify-pool.ts";

test("the pool verifies in worker threads and returns each verdict in order", async () => {
  const alice = generateIdentity("alice");
  const bob = generateIdentity("bob");
  const items = Array.from({ length: 25 }, (_, i) => {
    const data = Uint8Array.of(i, 1, 2, 3);
    const sig = signBytes(i % 2 === 0 ? alice : bob, data);
    if (i % 5 === 0) data[0] ^= 0xff; // tampered after signing
    return { key: i % 7 === 0 ? bob.publicKey : i % 2 === 0 ? alice.publicKey : bob.publicKey, data, sig, i };
  });
  const expected = items.map(({ i }) => i % 5 !== 0 && !(i % 7 === 0 && i % 2 === 0));
  const pool = startVerifyPool(3);
  try {
    assert.equal(await pool.verify(items.map(({ key, data, sig }) => ({ key, data, sig }))), expected);
    assert.equal(await pool.verify([]), []);
  } finally {
    await pool.close();
  }
});

test.run();
