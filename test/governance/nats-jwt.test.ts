import { test } from "uvu";
import * as assert from "uvu/assert";
import { fromPublic, fromSeed } from "@nats-io/nkeys";
import { generateIdentity, seedOf } from "../../src/governance/identity.ts";
import { credentialsOf, credsFileText, issueUserJwt, parseCredsFile, readUserJwt } from "../../src/governance/nats-accounts.ts";
import { permissionsOf } from "../../src/governance/nats-permissions.ts";
import { nkeyPublic, nkeySeed, publicKeyOfNkey } from "../../src/governance/nkey.ts";

// A did:key is a NATS identity: our nkey encoding against the NATS library's own decoding (the
// server's verdict on the JWTs is in test/e2e/access.test.ts).
test("an Ed25519 identity's nkeys decode as the NATS library reads them, and sign alike", () => {
  const id = generateIdentity("x");
  for (const role of ["operator", "account", "user"] as const) {
    const pair = fromSeed(new TextEncoder().encode(nkeySeed(role, seedOf(id))));
    assert.is(pair.getPublicKey(), nkeyPublic(role, id.publicKey));
    assert.ok(fromPublic(nkeyPublic(role, id.publicKey)).verify(Uint8Array.of(1, 2), pair.sign(Uint8Array.of(1, 2))));
    assert.equal(publicKeyOfNkey(role, nkeyPublic(role, id.publicKey)), id.publicKey);
  }
  assert.match(String(publicKeyOfNkey("user", nkeyPublic("account", id.publicKey))), "is not a NATS user key");
  // Another character, whatever the random key holds there (an "A" replaced by "A" changed nothing, one run in 32).
  const key = nkeyPublic("user", id.publicKey);
  const flipped = `${key.slice(0, 10)}${key[10] === "A" ? "B" : "A"}${key.slice(11)}`;
  assert.type(publicKeyOfNkey("user", flipped), "string", "a changed character fails the checksum");
});

test("a user JWT reads back only against the governance identity that issued it, and not once altered", () => {
  const governance = generateIdentity("governance");
  const party = generateIdentity("rover");
  const jwt = issueUserJwt(governance, party, [{ role: "agent", tenant: "cosmos", name: "rover" }], 60);
  const account = nkeyPublic("account", governance.publicKey);
  const claims = readUserJwt(jwt, account);
  assert.is(claims.sub, nkeyPublic("user", party.publicKey));
  assert.is((claims.exp ?? 0) - claims.iat, 60);
  assert.throws(() => readUserJwt(jwt, nkeyPublic("account", generateIdentity("other").publicKey)), /issued by .*, not by/);
  const [head, body, sig] = jwt.split(".");
  const widened = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, "base64url").toString()), name: "x" })).toString("base64url");
  assert.throws(() => readUserJwt(`${head}.${widened}.${sig}`, account), /bad signature/);
  assert.throws(() => readUserJwt("x".repeat(20_000), account), /characters/);
});

test("a grant whose name or tenant is not a subject token gives no permission", () => {
  const none = permissionsOf([{ role: "agent", tenant: "cosmos", name: "*" }], "U");
  assert.not.ok(
    none.pub.allow.some((s) => s.includes("delta")),
    none.pub.allow.join(" "),
  );
  const one = permissionsOf([{ role: "agent", tenant: "cosmos", name: "rover" }], "U");
  assert.ok(one.pub.allow.includes("catopt.cosmos.delta.*.rover"));
});

test("a creds file is read line by line: its JWT and seed, or one line saying it is not one", () => {
  const party = generateIdentity("rover");
  const credentials = credentialsOf(party, issueUserJwt(generateIdentity("g"), party, [{ role: "viewer", tenant: "t", name: "rover" }], 60));
  assert.equal(parseCredsFile(credsFileText(credentials), "rover.creds"), { jwt: credentials.jwt, seed: credentials.seed });
  assert.throws(() => parseCredsFile("just text", "x.creds"), /x.creds: no "BEGIN NATS USER JWT" block/);
  const started = performance.now();
  assert.throws(() => parseCredsFile(`-----BEGIN NATS USER JWT${"-".repeat(60_000)}`, "dashes.creds"), /no "BEGIN/);
  assert.throws(() => parseCredsFile(`-----BEGIN NATS USER JWT-----\n${"  \n".repeat(20_000)}`, "blank.creds"), /no "BEGIN/);
  assert.ok(performance.now() - started < 200, "hostile files are refused in linear time");
});

test.run();
