import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { joinEvent } from "../../src/families/energy-qp/agent.ts";
import { envelopeBytes, publishEvent } from "../../src/governance/signed-publish.ts";
import { startEmbeddedServer, type EmbeddedServer } from "../../src/bus/embedded-server.ts";
import { startSecureServer, type SecureServer } from "../helpers/secure-server.ts";
import { openBus, type BusSession } from "../../src/bus/session.ts";
import { EVENTS_STREAM } from "../../src/bus/streams.ts";
import { decodeEnvelope, encodeEnvelope } from "../../src/core/envelope.ts";
import { encodeEvent, type CatoptEvent } from "../../src/core/event.ts";
import { decodeEvent } from "../../src/families/registry.ts";
import { deltaSubject, governanceSubject, parseSubject } from "../../src/core/subjects.ts";
import { startGovernance } from "../../src/governance/governance-consumer.ts";
import { admitEvent, revokeEvent } from "../../src/governance/governance-events.ts";
import { verifierKey } from "../../src/governance/checkpoint.ts";
import { generateIdentity } from "../../src/governance/identity.ts";
import { saveIdentity } from "../../src/governance/keystore.ts";
import {
  decodeEntry,
  encodeBatch,
  encodeEntry,
  isAccepted,
  LEDGER_CHECKPOINT_SUBJECT,
  LEDGER_ENTRY_SUBJECT,
  messageDigest,
  verifyLedger,
  type LedgerLeaf,
} from "../../src/governance/ledger.ts";
import { ledgerFromStream, verifyLedgerStream } from "../../src/governance/ledger-source.ts";
import { readToEnd } from "../../src/replay/replay.ts";
import { startCli } from "../helpers/cli.ts";

const governance = suite("the governance consumer on a real nats-server");
let server: EmbeddedServer;
let bus: BusSession;
const gov = generateIdentity("governance");
const rover = generateIdentity("rover");
const intruder = generateIdentity("intruder");
const local = (n: number) => ({ owner: "rover", constant: 0, variables: [{ resource: `r${n}`, lower: 0, upper: 1, quadratic: 1, linear: 0 }] });

let secure: SecureServer;
governance.before(async () => {
  // Secured as every deployment is; hostile bytes come through the governance service's own connection.
  secure = await startSecureServer({ governance: gov });
  server = secure.server;
  bus = secure.bus;
});
governance.after(async () => {
  await secure?.stop();
});

const lastSeq = async (): Promise<number> => (await bus.jsm.streams.info(EVENTS_STREAM)).state.last_seq;
const roverEvent = (n: number) => publishEvent(bus.js, deltaSubject("t", `p${n}`, "rover"), joinEvent("t", `p${n}`, local(n)), rover);
const leaves = async (): Promise<LedgerLeaf[]> => (await ledgerFromStream(bus.js, gov.did)).entries.map(decodeEntry);
const noticesOf = async (tenant = "*") =>
  (await readToEnd(bus.js, EVENTS_STREAM, { filter: `catopt.${tenant}.quarantine.>` })).map((m) => ({
    m,
    notice: decodeEvent(decodeEnvelope(m.data).event) as CatoptEvent<"quarantine/1">,
  }));

/** Every stream message has exactly one leaf, in order; every refused one exactly one notice; the ledger verifies against the stream. */
async function assertAccountedFor(): Promise<void> {
  const stream = await readToEnd(bus.js, EVENTS_STREAM);
  const all = await leaves();
  assert.equal(
    all.map((l) => l.seq),
    stream.map((m) => m.seq),
    "one leaf per stream message, in order",
  );
  const refused = all.filter((l) => !isAccepted(l)).map((l) => l.seq);
  const genuine = (await noticesOf()).filter(({ m }) => isAccepted(all[m.seq - 1])); // a forged notice is itself refused
  const noticed = genuine.map(({ notice }) => notice.body.seq).sort((a, b) => a - b);
  assert.equal(noticed, refused, "one notice per refused message, none twice");
  const report = await verifyLedgerStream(bus.js, gov.did, verifierKey("catopt.test/ledger", gov.publicKey));
  assert.is(report.problem, null, report.problem?.reason);
  assert.is(report.pending, 0);
}

governance("admitted events become entries; unsigned, foreign, garbage and forged ones are refused leaves with a quarantine notice each", async () => {
  await publishEvent(bus.js, governanceSubject("t", "admit"), admitEvent("t", rover.did, "agent", "rover"), gov);
  for (let n = 0; n < 5; n++) await roverEvent(n);
  const unsigned = joinEvent("t", "p9", local(9));
  await bus.js.publish(deltaSubject("t", "p9", "rover"), encodeEnvelope({ event: encodeEvent(unsigned), author: rover.did, sig: new Uint8Array(0) }));
  await bus.js.publish(deltaSubject("t", "p8", "rover"), envelopeBytes(joinEvent("t", "p8", local(8)), intruder));
  await bus.js.publish(deltaSubject("t", "p7", "rover"), Uint8Array.of(0x82, 0xa1, 0x00));
  await publishEvent(bus.js, governanceSubject("t", "admit"), admitEvent("t", intruder.did, "agent", "rover"), intruder);

  const consumer = await startGovernance({ nc: bus.nc, signer: gov, origin: "catopt.test/ledger", every: 4 });
  await consumer.caughtUp((await lastSeq()) + 4); // its own four notices too
  const summary = await consumer.stop();
  assert.equal([summary.size, summary.quarantined], [14, 4]);
  const all = await leaves();
  assert.equal(
    all.filter((l) => !isAccepted(l)).map((l) => l.seq),
    [7, 8, 9, 10],
  );

  const notices = await noticesOf("t");
  assert.equal(notices.map(({ m }) => m.subject.split(".")[3]).sort(), ["malformed", "unknown-signer", "unknown-signer", "unsigned"]);
  for (const { m, notice } of notices) {
    assert.is(notice.schema, "quarantine/1");
    assert.is(decodeEnvelope(m.data).author, gov.did, "notices are signed by the governance identity");
  }
});

governance("a restarted consumer resumes where it stopped: no entry lost or duplicated, and the ledger verifies", async () => {
  for (let n = 10; n < 13; n++) await roverEvent(n);
  const again = await startGovernance({ nc: bus.nc, signer: gov, origin: "catopt.test/ledger", every: 4 });
  await again.caughtUp(await lastSeq());
  const summary = await again.stop();
  assert.is(summary.size, 17, "14 before, 3 new");

  const ledger = await ledgerFromStream(bus.js, gov.did);
  const report = verifyLedger(ledger.entries, ledger.checkpoints, gov.did, summary.vkey);
  assert.is(report.problem, null);
  assert.equal([report.size, report.root], [17, summary.root]);
  assert.is(report.checkpoints, 3, "one as each batch ends (the first session had two: events, then its notices), consistent with each other");
  await assertAccountedFor();
});

governance("an event copied under a new Nats-Msg-Id enters the ledger once: the copy is refused as a duplicate", async () => {
  const ack = await roverEvent(20);
  const stored = await bus.jsm.streams.getMessage(EVENTS_STREAM, { seq: ack.seq });
  if (stored === null) throw new Error(`stream message ${ack.seq} is gone`);
  const copy = await bus.js.publish(stored.subject, stored.data, { msgID: "another-id" });
  const consumer = await startGovernance({ nc: bus.nc, signer: gov, origin: "catopt.test/ledger" });
  await consumer.caughtUp(copy.seq + 1);
  await consumer.stop();
  const leaf = (await leaves()).find((l) => l.seq === copy.seq);
  assert.ok(leaf !== undefined && !isAccepted(leaf), "the copy is a refusal leaf");
  assert.match(leaf.refused, `duplicate of event t/p20/join/0/rover (accepted at seq ${ack.seq})`);
  assert.ok((await noticesOf("t")).some(({ m, notice }) => notice.body.seq === copy.seq && m.subject === "catopt.t.quarantine.duplicate"));
});

governance("garbage and strangers' messages on the ledger stream are refused by sequence; the consumer and the verifier carry on", async () => {
  const garbage = await bus.js.publish(LEDGER_ENTRY_SUBJECT, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
  const forged = await bus.js.publish(LEDGER_ENTRY_SUBJECT, encodeEnvelope({ event: Uint8Array.of(0x80), author: intruder.did, sig: new Uint8Array(64) }));
  await bus.js.publish(LEDGER_CHECKPOINT_SUBJECT, new TextEncoder().encode("not a checkpoint"));
  await roverEvent(21);
  const refusedOnStart: string[] = [];
  const consumer = await startGovernance({ nc: bus.nc, signer: gov, origin: "catopt.test/ledger", onRefusedLedgerMessage: (r) => refusedOnStart.push(r.what) });
  await consumer.caughtUp(await lastSeq());
  const summary = await consumer.stop();
  assert.equal(refusedOnStart, [`ledger stream seq ${garbage.seq}`, `ledger stream seq ${forged.seq}`]);
  const report = await verifyLedgerStream(bus.js, gov.did, summary.vkey);
  assert.is(report.problem, null, report.problem?.reason);
  assert.equal(report.refused.map((r) => r.what).slice(0, 2), [`ledger stream seq ${garbage.seq}`, `ledger stream seq ${forged.seq}`]);
  assert.match(report.refused[2].what, "checkpoint at ledger stream seq");
  await assertAccountedFor();
});

governance("a squatted Nats-Msg-Id does not make a real event vanish: the publish lands under a fallback id", async () => {
  const revoke = revokeEvent("t", intruder.did, "squat test");
  await bus.js.publish(governanceSubject("t", "revoke"), Uint8Array.of(0x01), { msgID: revoke.id });
  const ack = await publishEvent(bus.js, governanceSubject("t", "revoke"), revoke, gov);
  assert.is(ack.duplicate, false);
  const stored = await bus.jsm.streams.getMessage(EVENTS_STREAM, { seq: ack.seq });
  assert.equal(decodeEvent(decodeEnvelope(stored?.data ?? new Uint8Array()).event).id, revoke.id);
  const again = await publishEvent(bus.js, governanceSubject("t", "revoke"), revoke, gov);
  assert.equal([again.seq, again.duplicate], [ack.seq, true], "a retry of the real event is still de-duplicated");
});

governance("a message too large for the ledger, and one whose refusal reason is long, each get one refusal leaf and one accepted notice", async () => {
  const huge = await bus.js.publish(deltaSubject("t", "huge", "rover"), new Uint8Array(1024 * 1024 - 4096).fill(7));
  const longTenant = { ...joinEvent("t", "p30", local(30)), tenant: "x".repeat(4000) };
  const long = await bus.js.publish(deltaSubject("t", "p30", "rover"), envelopeBytes(longTenant as never, rover));
  const consumer = await startGovernance({ nc: bus.nc, signer: gov, origin: "catopt.test/ledger" });
  await consumer.caughtUp(long.seq + 2);
  await consumer.stop();
  const all = await leaves();
  const hugeLeaf = all.find((l) => l.seq === huge.seq);
  assert.ok(
    hugeLeaf !== undefined && !isAccepted(hugeLeaf) && hugeLeaf.refused.includes("too large for the ledger"),
    JSON.stringify(hugeLeaf && "refused" in hugeLeaf ? hugeLeaf.refused : hugeLeaf),
  );
  const notices = (await noticesOf("t")).filter(({ notice }) => notice.body.seq === huge.seq || notice.body.seq === long.seq);
  assert.is(notices.length, 2);
  assert.is(notices.find(({ notice }) => notice.body.seq === huge.seq)?.notice.body.data.length, 0, "the notice leaves a message that large in the stream");
  for (const { m } of notices) assert.ok(isAccepted(all.find((l) => l.seq === m.seq) as LedgerLeaf), "the notice itself is accepted");
  await assertAccountedFor();
});

governance("a forged notice (the governance DID, a junk signature) does not settle a notice a crash left owed", async () => {
  const bad = await bus.js.publish(deltaSubject("t", "owed", "rover"), Uint8Array.of(0xc1));
  // As a consumer killed between its batch and its notice leaves it: the refusal leaf, no notice.
  const before = await leaves();
  assert.is(before[before.length - 1].seq, bad.seq - 1, "the ledger is caught up to just before it");
  const leaf = encodeEntry({
    index: before.length,
    seq: bad.seq,
    subject: deltaSubject("t", "owed", "rover"),
    refused: "event: not valid msgpack",
    digest: messageDigest(Uint8Array.of(0xc1)),
  });
  await bus.js.publish(LEDGER_ENTRY_SUBJECT, encodeBatch([leaf], gov));
  const forgedNotice = {
    schema: "quarantine/1",
    id: "t/quarantine/malformed/forged",
    tenant: "t",
    problem: "quarantine",
    round: 0,
    base: -1,
    body: { seq: bad.seq, subject: "x", reason: "x", data: new Uint8Array(0) },
  } as const;
  await bus.js.publish("catopt.t.quarantine.malformed", encodeEnvelope({ event: encodeEvent(forgedNotice), author: gov.did, sig: new Uint8Array(64) }));
  const consumer = await startGovernance({ nc: bus.nc, signer: gov, origin: "catopt.test/ledger" });
  assert.is(consumer.summary().owedNotices, 1, "the real notice is still owed, and published");
  await consumer.caughtUp((await lastSeq()) + 1);
  await consumer.stop();
  const real = (await noticesOf("t")).filter(({ m, notice }) => notice.body.seq === bad.seq && decodeEnvelope(m.data).author === gov.did);
  assert.is(real.length, 2, "the forged one and the real one are on the subject");
  await assertAccountedFor();
});

governance("a consumer whose connection dies mid-run stops for good (no batch after a failed one); a new one accounts for everything", async () => {
  const nc = await bus.connect("doomed-governance");
  const consumer = await startGovernance({ nc, signer: gov, origin: "catopt.test/ledger" });
  for (let n = 40; n < 140; n++) void roverEvent(n);
  await sleep(30);
  await nc.close();
  const failure = await consumer.failed;
  assert.match(failure.message, /closed|CONNECTION/i);
  try {
    await consumer.caughtUp((await lastSeq()) + 1000);
    assert.unreachable("caughtUp after a failure");
  } catch (err) {
    assert.is(err, failure);
  }
  await sleep(200); // every publish in flight has settled
  const again = await startGovernance({ nc: bus.nc, signer: gov, origin: "catopt.test/ledger" });
  await again.caughtUp(await lastSeq());
  await again.stop();
  await assertAccountedFor();
});

governance("kill -9 of `catopt governance run` several times mid-run: every message ends in exactly one leaf, every refusal in one notice", async () => {
  const keys = await mkdtemp(path.join(tmpdir(), "catopt-gov-keys-"));
  await saveIdentity(keys, gov);
  const args = [
    "governance",
    "run",
    "--nats",
    server.url,
    "--tls-ca",
    secure.security.tls.caFile,
    "--keys",
    keys,
    "--origin",
    "catopt.test/ledger",
    "--every",
    "7",
    "--every-ms",
    "200",
  ];
  let publishing = true;
  const publisher = (async () => {
    for (let n = 100; publishing; n++) {
      if (n % 9 === 0) await bus.js.publish(deltaSubject("t", `k${n}`, "rover"), Uint8Array.of(0xc1, n & 0xff));
      else await roverEvent(n);
      if (n % 20 === 0) await sleep(5);
    }
  })();
  try {
    for (let kill = 0; kill < 4; kill++) {
      const consumer = startCli(args, { timeoutMs: 60_000 });
      while (!consumer.stdout().includes("governance consumer for")) await sleep(50);
      await sleep(300 + 250 * kill);
      consumer.signal("SIGKILL");
      assert.is((await consumer.done).code, null, "killed, not exited");
    }
    publishing = false;
    await publisher;
    const last = startCli(args, { timeoutMs: 60_000 });
    while (!last.stdout().includes("governance consumer for")) await sleep(50);
    for (let stable = 0; stable < 3; ) {
      const [all, end] = [await leaves(), await lastSeq()];
      stable = all.length === end ? stable + 1 : 0;
      await sleep(300);
    }
    last.signal("SIGTERM");
    assert.is((await last.done).code, 0);
  } finally {
    publishing = false;
    await rm(keys, { recursive: true, force: true });
  }
  await assertAccountedFor();
  const stream = await readToEnd(bus.js, EVENTS_STREAM);
  assert.ok(stream.length > 600, `a run of ${stream.length} messages`);
  assert.ok(stream.filter((m) => parseSubject(m.subject)?.kind === "quarantine").length > 50, "many refusals across the crashes");
});

governance.run();

const origin = suite("a stranger's checkpoint note on a fresh ledger");
let fresh: EmbeddedServer;
origin.before(async () => {
  fresh = await startEmbeddedServer();
});
origin.after(async () => {
  await fresh?.stop();
});

origin("published before the first real checkpoint, with another origin, it does not decide what verifiers check", async () => {
  const session = await openBus({ url: fresh.url });
  try {
    await session.js.publish(
      LEDGER_CHECKPOINT_SUBJECT,
      new TextEncoder().encode(
        `evil\n5\n${Buffer.alloc(32).toString("base64")}\n\n\u2014 evil AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n`,
      ),
    );
    await publishEvent(session.js, governanceSubject("t", "admit"), admitEvent("t", rover.did, "agent", "rover"), gov);
    const consumer = await startGovernance({ nc: session.nc, signer: gov, origin: "catopt.test/ledger" });
    await consumer.caughtUp(1); // the admission: the stranger's note is on the ledger stream
    await consumer.stop();
    const keys = await mkdtemp(path.join(tmpdir(), "catopt-origin-"));
    const verified = await (await import("../helpers/cli.ts")).runCli(["ledger", "verify", "--nats", fresh.url, "--governance", gov.did, "--keys", keys]);
    assert.is(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, "ledger verified against governance");
    assert.match(verified.stderr, "refused checkpoint at ledger stream seq 1");
    await rm(keys, { recursive: true, force: true });
  } finally {
    await session.close();
  }
});

origin.run();
