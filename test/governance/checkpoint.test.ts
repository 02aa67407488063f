import { test } from "uvu";
import * as assert from "uvu/assert";
import { checkpointText, openNote, parseVerifierKey, signCheckpoint, signNote, verifierKey, verifyCheckpoint } from "../../src/governance/checkpoint.ts";
import { generateIdentity, identityFromSeed } from "../../src/governance/identity.ts";
import { MerkleLog } from "../../src/governance/merkle.ts";

// The example of Go's reference implementation (golang.org/x/mod/sumdb/note): its key, text and note.
const VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const SKEY_SEED = Buffer.from("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", "base64").subarray(1); // PRIVATE+KEY+PeterNeumann+c74f20a3+...
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const NOTE = `${TEXT}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

test("Go's reference note: our signer reproduces it byte for byte, our verifier opens it", () => {
  const peter = identityFromSeed("peter", SKEY_SEED);
  assert.is(verifierKey("PeterNeumann", peter.publicKey), VKEY);
  assert.is(signNote(TEXT, "PeterNeumann", peter), NOTE);
  assert.is(openNote(NOTE, VKEY), TEXT);
  assert.is(parseVerifierKey(VKEY).did, peter.did);
});

test("a signed checkpoint verifies; a changed size, root or signature, or another key, does not", () => {
  const log = new MerkleLog();
  for (let i = 0; i < 11; i++) log.append(Uint8Array.of(i));
  const signer = generateIdentity("governance");
  const vkey = verifierKey("catopt.example/ledger", signer.publicKey);
  const note = signCheckpoint({ origin: "catopt.example/ledger", size: 11, root: log.root() }, "catopt.example/ledger", signer);
  assert.match(note, /^catopt\.example\/ledger\n11\n[A-Za-z0-9+/]{43}=\n\n\u2014 catopt\.example\/ledger [A-Za-z0-9+/=]+\n$/);
  const checkpoint = verifyCheckpoint(note, vkey);
  assert.equal(
    [checkpoint.origin, checkpoint.size, Buffer.from(checkpoint.root).toString("hex")],
    ["catopt.example/ledger", 11, Buffer.from(log.root()).toString("hex")],
  );

  const refusals: [string, string, string][] = [
    [note.replace("\n11\n", "\n12\n"), vkey, "does not verify"],
    [note.replace(checkpointText(checkpoint), checkpointText({ ...checkpoint, root: log.root(10) })), vkey, "does not verify"],
    [note.replace(/ ([A-Za-z0-9+/]{10})/, " AAAAAAAAAA"), vkey, "catopt.example/ledger"],
    [note, verifierKey("catopt.example/ledger", generateIdentity("other").publicKey), "carries no signature by"],
    [TEXT, vkey, "not a signed note"],
    [note, VKEY.replace("c74f20a3", "c74f20a4"), "does not match its name and key"],
  ];
  for (const [candidate, key, reason] of refusals) {
    try {
      verifyCheckpoint(candidate, key);
      assert.unreachable(`accepted: ${reason}`);
    } catch (err) {
      assert.match((err as Error).message, reason);
    }
  }
});

test.run();
