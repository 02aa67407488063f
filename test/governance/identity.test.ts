import { chmod, mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isCatoptError } from "../../src/core/errors.ts";
import { base58Decode, base58Encode } from "../../src/governance/base58.ts";
import { didFromPublicKey, didKeyProblem, publicKeyFromDid } from "../../src/governance/did-key.ts";
import { generateIdentity, identityFromSeed, signBytes, verificationsDone, verifyBytes } from "../../src/governance/identity.ts";
import { keyFile, loadIdentity, saveIdentity } from "../../src/governance/keystore.ts";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

test("RFC 8032 test 1: the seed gives the published public key and signature", () => {
  const id = identityFromSeed("rfc", Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex"));
  assert.is(hex(id.publicKey), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  assert.is(
    hex(signBytes(id, new Uint8Array(0))),
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  );
});

test("a did:key from a published vector: public key base58 8HH5g... is did:key:z6MkmjY8...", () => {
  const publicKey = base58Decode("8HH5gYEeNc3z7PYXmd54d4x6qAfCNrqQqEB3nS7Zfu7K");
  assert.is(didFromPublicKey(publicKey), "did:key:z6MkmjY8GnV5i9YTDtPETC2uUAW6ejw3nk5mXF5yci5ab7th");
  assert.is(hex(publicKeyFromDid("did:key:z6MkmjY8GnV5i9YTDtPETC2uUAW6ejw3nk5mXF5yci5ab7th")), hex(publicKey));
  assert.is(base58Encode(publicKey), "8HH5gYEeNc3z7PYXmd54d4x6qAfCNrqQqEB3nS7Zfu7K");
  assert.is(base58Encode(Uint8Array.from([0, 0, 1])), "112");
  assert.equal([...base58Decode("112")], [0, 0, 1]);
});

test("strings that are not Ed25519 did:keys are refused with the reason", () => {
  const cases: [string, string][] = [
    ["did:web:example.com", 'must start with "did:key:"'],
    ["did:key:uAe0B", 'expected "z" after "did:key:"'],
    ["did:key:z6MkmjY8GnV5i9YTDtPETC2uUAW6ejw3nk5mXF5yci5ab7tI", "'I' at position 46 is not a base58btc character"],
    ["did:key:z6LShLeXRTzevtwcfehaGEzCMyL3bNsAeKCwcqwJxyCo63yE", "not an Ed25519 key (multicodec 0xec01"],
    ["did:key:zTjsVPtY", "holds 3 key bytes; an Ed25519 key has 32"], // w3c-ccg/did-key-test-suite: "too small"
  ];
  for (const [did, reason] of cases) assert.match(didKeyProblem(did) ?? "accepted", reason, did);
  assert.is(didKeyProblem(generateIdentity("x").did), undefined);
});

test("a signature verifies for exactly its bytes and its signer", () => {
  const alice = generateIdentity("alice");
  const bob = generateIdentity("bob");
  const bytes = new TextEncoder().encode("round 12: took rover, drone");
  const sig = signBytes(alice, bytes);
  assert.ok(verifyBytes(alice.did, bytes, sig));
  assert.not.ok(verifyBytes(bob.did, bytes, sig), "another signer");
  assert.not.ok(verifyBytes(alice.did, Uint8Array.from([...bytes.slice(0, -1), 0x21]), sig), "a changed byte");
  assert.not.ok(verifyBytes(alice.did, bytes, sig.slice(0, 63)), "a short signature");
  assert.not.ok(verifyBytes("did:key:zbad", bytes, sig), "a malformed did");
  // A good verdict is held: asked again, the same answer; a signature one bit off is judged afresh.
  assert.ok(verifyBytes(alice.did, bytes, sig), "again");
  const flipped = Uint8Array.from(sig, (b, i) => (i === 5 ? b ^ 1 : b));
  assert.not.ok(verifyBytes(alice.did, bytes, flipped), "a flipped signature bit");
  assert.not.ok(verifyBytes(alice.did, bytes, flipped), "and again");
});

test("nobody verifies what it signed itself, and a message read by several parties of one process is verified once", () => {
  const alice = generateIdentity("alice");
  const bytes = new TextEncoder().encode("plan 7");
  const before = verificationsDone();
  const sig = signBytes(alice, bytes);
  assert.ok(verifyBytes(alice.did, bytes, sig), "its own signature reads back good");
  assert.is(verificationsDone(), before, "without a verification");
  const bob = generateIdentity("bob");
  const other = signBytes(bob, bytes);
  const tampered = Uint8Array.from(other, (b, i) => (i === 0 ? b ^ 1 : b));
  assert.not.ok(verifyBytes(bob.did, bytes, tampered));
  assert.not.ok(verifyBytes(bob.did, bytes, tampered), "a bad one is judged afresh");
  assert.is(verificationsDone(), before + 2);
  // An identity that states someone else's DID beside its own key plants no good verdict for that DID.
  const posing = { ...alice, did: bob.did };
  const claimed = signBytes(posing, bytes);
  assert.not.ok(verifyBytes(bob.did, bytes, claimed), "a signature by alice's key is not bob's");
});

test("the key store writes 0600 files, reads them back, and refuses missing, exposed, corrupt or duplicate keys", async () => {
  const dir = path.join(await mkdtemp(path.join(tmpdir(), "catopt-keys-")), "keys");
  const rover = generateIdentity("rover");
  const file = await saveIdentity(dir, rover);
  assert.is((await stat(file)).mode & 0o777, 0o600);
  assert.is((await stat(dir)).mode & 0o777, 0o700);
  assert.is((await loadIdentity(dir, "rover")).did, rover.did);
  assert.match(await readFile(file, "utf8"), '"format": "catopt-key/1"');

  const expectCode = async (run: () => Promise<unknown>, code: Parameters<typeof isCatoptError>[1], message: string) => {
    try {
      await run();
      assert.unreachable(message);
    } catch (err) {
      assert.ok(isCatoptError(err, code), String(err));
      assert.match((err as Error).message, message);
    }
  };
  await expectCode(() => saveIdentity(dir, generateIdentity("rover")), "KEY_EXISTS", 'a key named "rover" already exists');
  await expectCode(() => loadIdentity(dir, "drone"), "KEY_MISSING", "catopt id new --name drone");
  await chmod(file, 0o644);
  await expectCode(() => loadIdentity(dir, "rover"), "KEY_INVALID", "readable by others (mode 644): chmod 600");
  await writeFile(keyFile(dir, "broken"), "{", { mode: 0o600 });
  await expectCode(() => loadIdentity(dir, "broken"), "KEY_INVALID", "not a key file");
  await chmod(file, 0o600);
  await chmod(dir, 0o777); // anyone could swap rover.key for their own, whatever its mode
  await expectCode(() => loadIdentity(dir, "rover"), "KEY_INVALID", `the key directory ${dir} is writable by others (mode 777): chmod 700`);
  await expectCode(() => saveIdentity(dir, generateIdentity("drone")), "KEY_INVALID", "writable by others");
  await chmod(dir, 0o700);
  assert.is((await loadIdentity(dir, "rover")).did, rover.did);
});

test.run();
