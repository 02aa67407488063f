// A signature-verification worker for the governance consumer (see verify-pool.ts). Plain
// JavaScript with node:crypto only, so it runs in a worker thread without a TypeScript loader.
import { createPublicKey, verify } from "node:crypto";
import { parentPort } from "node:worker_threads";

const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex"); // RFC 8410 Ed25519 SubjectPublicKeyInfo
const keys = new Map();

parentPort.on("message", ({ id, items }) => {
  const results = items.map(({ key, data, sig }) => {
    const hex = Buffer.from(key).toString("hex");
    let publicKey = keys.get(hex);
    if (publicKey === undefined) {
      publicKey = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, key]), format: "der", type: "spki" });
      keys.set(hex, publicKey);
    }
    return verify(null, data, publicKey, sig);
  });
  parentPort.postMessage({ id, results });
});
