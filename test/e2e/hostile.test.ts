import { energyQpScenarios } from "../../src/families/energy-qp/scenario-format.ts";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pack } from "msgpackr";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { PROJECT_ROOT, type EmbeddedServer } from "../../src/bus/embedded-server.ts";
import { startSecureServer, type SecureServer } from "../helpers/secure-server.ts";
import { envelopeBytes } from "../../src/governance/signed-publish.ts";
import type { BusSession } from "../../src/bus/session.ts";
import { EVENTS_STREAM } from "../../src/bus/streams.ts";
import { decodeEnvelope, encodeEnvelope } from "../../src/core/envelope.ts";
import type { CatoptEvent } from "../../src/core/event.ts";
import { decodeEvent } from "../../src/families/registry.ts";
import { loadScenarioOf, withFamily } from "../../src/run/scenario-files.ts";
import { parseSubject } from "../../src/core/subjects.ts";
import { startGovernance, type GovernanceConsumer } from "../../src/governance/governance-consumer.ts";
import { generateIdentity, signBytes, type Identity } from "../../src/governance/identity.ts";
import { saveIdentity } from "../../src/governance/keystore.ts";
import { decodeEntry, isAccepted } from "../../src/governance/ledger.ts";
import { ledgerFromStream } from "../../src/governance/ledger-source.ts";
import { readToEnd } from "../../src/replay/replay.ts";
import { runScenario } from "../../src/run/run-scenario.ts";
import { seeded } from "../helpers/random.ts";

// 10,000 random and mutated envelopes (fixed seed) thrown at a live run of cosmos-3asset on the
// subjects its coordinator, agents and governance consumer read: the run must still converge to
// HiGHS's plan and replay to its hash, and every message the stream holds must end up either a
// ledger entry or a quarantine notice, never both, never neither.
const hostile = suite("hostile input during a run over a real nats-server");
let secure: SecureServer;
let server: EmbeddedServer;
let bus: BusSession;
let governance: GovernanceConsumer;
let keys: string;
const ids: Record<string, Identity> = {};
const HOSTILE = 10_000;

hostile.before(async () => {
  keys = path.join(await mkdtemp(path.join(tmpdir(), "catopt-hostile-")), "keys");
  for (const name of ["governance", "coordinator", "rover", "drone", "habitat", "intruder"]) {
    ids[name] = generateIdentity(name);
    await saveIdentity(keys, ids[name]);
  }
  // A secured server, as every deployment is: the hostile bytes come through the governance
  // service's own connection (which may publish anywhere), so what they test is the second wall, the fold.
  secure = await startSecureServer({ governance: ids.governance });
  server = secure.server;
  bus = secure.bus;
  governance = await startGovernance({ nc: await bus.connect("governance"), signer: ids.governance, origin: "catopt.test/ledger" });
});
hostile.after(async () => {
  await governance?.stop();
  await secure?.stop();
});

/** One hostile message, built from real traffic seen so far: every kind the issue names. */
function hostileMessage(random: () => number, seen: readonly { subject: string; data: Uint8Array }[]): { subject: string; data: Uint8Array; kind: string } {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const real = pick(seen);
  const event = decodeEvent(decodeEnvelope(real.data).event) as CatoptEvent;
  const subjects = [
    "catopt.cosmos.delta.sol-energy.rover",
    "catopt.cosmos.delta.sol-energy.drone",
    "catopt.cosmos.round.sol-energy",
    "catopt.cosmos.plan.sol-energy",
    "catopt.cosmos.gov.admit",
    real.subject,
  ];
  const subject = pick(subjects);
  const signedBy = (signer: Identity, bytes: Uint8Array) => encodeEnvelope({ event: bytes, author: signer.did, sig: signBytes(signer, bytes) });
  const raw = (fields: Record<string, unknown>) =>
    pack({
      schema: event.schema,
      id: `${event.id}/x${Math.floor(random() * 1e9)}`,
      tenant: "cosmos",
      problem: "sol-energy",
      round: event.round + 1,
      base: event.round,
      ...fields,
    });
  switch (Math.floor(random() * 9)) {
    case 0:
      return { subject, data: Uint8Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256)), kind: "random bytes" };
    case 1: {
      const data = Uint8Array.from(real.data);
      for (let flips = 1 + Math.floor(random() * 3); flips > 0; flips--) data[Math.floor(random() * data.length)] ^= 1 + Math.floor(random() * 255);
      return { subject: real.subject, data, kind: "flipped bytes" };
    }
    case 2:
      return { subject: real.subject, data: real.data.slice(0, Math.floor(random() * real.data.length)), kind: "truncated" };
    case 3:
      return { subject, data: encodeEnvelope({ event: decodeEnvelope(real.data).event, author: ids.rover.did, sig: new Uint8Array(0) }), kind: "unsigned" };
    case 4:
      return { subject: real.subject, data: envelopeBytes({ ...event, id: `${event.id}/intruder` }, ids.intruder), kind: "unadmitted signer" };
    case 5:
      return {
        subject: "catopt.cosmos.delta.sol-energy.rover",
        data: envelopeBytes({ ...event, tenant: "mars", id: `${event.id}/mars` } as CatoptEvent, ids.rover),
        kind: "wrong tenant",
      };
    case 6:
      return {
        subject: "catopt.cosmos.delta.sol-energy.rover",
        data: signedBy(ids.rover, raw({ schema: "delta/9", body: { entries: { t08: 1 }, objective: 0 } })),
        kind: "unknown schema version",
      };
    case 7:
      return {
        subject: "catopt.cosmos.delta.sol-energy.rover",
        data: signedBy(ids.rover, raw({ schema: "delta/1", body: { entries: { t08: pick([NaN, Infinity, -Infinity]) }, objective: 0 } })),
        kind: "NaN or Infinity",
      };
    default:
      return {
        subject: "catopt.cosmos.delta.sol-energy.rover",
        data: signedBy(ids.rover, raw({ schema: "delta/1", body: { entries: pick(["t08", [1, 2], { t08: "1" }, null]), objective: "0" } })),
        kind: "wrong field types",
      };
  }
}

hostile("10,000 hostile messages: the run converges, replays, and every stored message is an entry or a quarantine notice", async () => {
  const scenario = await loadScenarioOf(energyQpScenarios, "cosmos-3asset", PROJECT_ROOT);
  const seen: { subject: string; data: Uint8Array }[] = [];
  // Real traffic to mutate: whatever decodes on the problem's subjects (our own hostile messages mostly do not).
  const tap = bus.nc.subscribe("catopt.cosmos.>", {
    callback: (_err, m) => {
      if (parseSubject(m.subject)?.kind === "quarantine") return;
      try {
        decodeEvent(decodeEnvelope(m.data).event);
        seen.push({ subject: m.subject, data: m.data });
      } catch {
        // not a base to mutate
      }
    },
  });
  const kinds = new Map<string, number>();
  let refusedByServer = 0;
  const random = seeded(5);
  const attack = (async () => {
    while (seen.length < 5) await new Promise((resolve) => setTimeout(resolve, 5));
    const genuine = seen.slice(0, 5); // published by the run (publishEvent: Nats-Msg-Id = event id) before any attack
    for (let sent = 0; sent < HOSTILE; sent += 100) {
      const batch = Array.from({ length: 100 }, () => hostileMessage(random, seen));
      for (const m of batch) kinds.set(m.kind, (kinds.get(m.kind) ?? 0) + 1);
      await Promise.all(batch.map((m) => bus.js.publish(m.subject, m.data).catch(() => refusedByServer++)));
    }
    // Duplicates of real events under their own Nats-Msg-Id, and an oversized message: the server refuses both.
    const replays = await Promise.all(
      genuine.map(async (m) => (await bus.js.publish(m.subject, m.data, { msgID: decodeEvent(decodeEnvelope(m.data).event).id })).duplicate),
    );
    assert.ok(replays.every(Boolean), "a re-published event is de-duplicated by its id");
    await bus.js.publish("catopt.cosmos.delta.sol-energy.rover", new Uint8Array(2 * 2 ** 20)).then(
      () => assert.unreachable("2 MiB accepted"),
      () => refusedByServer++,
    );
  })();
  const report = await runScenario(withFamily(energyQpScenarios, scenario), { url: server.url, keys, security: secure.security });
  await attack;
  tap.unsubscribe();

  assert.ok(report.converged, report.status);
  assert.ok((report.gap ?? 1) < 1e-4, `gap ${report.gap}`);
  assert.is(report.replay_state_hash, report.state_hash);
  assert.ok(
    [...kinds.values()].every((n) => n > 800),
    `every kind sent: ${JSON.stringify([...kinds])}`,
  );
  assert.is(refusedByServer, 1, "only the oversized message is refused at publish");

  // Wait until the governance consumer has judged everything, its own notices included.
  let last = -1;
  for (;;) {
    const now = (await bus.jsm.streams.info(EVENTS_STREAM)).state.last_seq;
    if (now === last) break;
    last = now;
    await governance.caughtUp(now);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const stream = await readToEnd(bus.js, EVENTS_STREAM);
  const notices = stream.filter((m) => parseSubject(m.subject)?.kind === "quarantine");
  const events = stream.filter((m) => parseSubject(m.subject)?.kind !== "quarantine");
  const quarantined = notices.map((m) => (decodeEvent(decodeEnvelope(m.data).event) as CatoptEvent<"quarantine/1">).body.seq);
  const leaves = (await ledgerFromStream(bus.js, ids.governance.did)).entries.map(decodeEntry);
  assert.ok(events.length >= HOSTILE, `${events.length} events stored`);
  assert.equal(
    leaves.map((l) => l.seq),
    stream.map((m) => m.seq),
    "every stored message has exactly one leaf, in order",
  );
  const refused = leaves.filter((l) => !isAccepted(l)).map((l) => l.seq);
  assert.equal(
    [...quarantined].sort((a, b) => a - b),
    refused,
    "every refused message has one quarantine notice, and only those",
  );
  assert.ok(leaves.filter((l) => parseSubject(l.subject)?.kind === "quarantine").every(isAccepted), "the notices themselves are accepted");
  assert.ok(quarantined.length >= HOSTILE, `${quarantined.length} quarantined`);
  const lastRound = Math.max(...events.filter((m) => parseSubject(m.subject)?.kind === "round").map((m) => m.seq));
  const during = quarantined.filter((seq) => seq < lastRound).length;
  assert.ok(during >= 1000, `the attack overlapped the run: ${during} hostile messages before its last round`);
  const reasons = new Set(notices.map((m) => parseSubject(m.subject)?.agent ?? parseSubject(m.subject)?.problem));
  for (const reason of ["unsigned", "bad-signature", "unknown-signer", "malformed", "unknown-schema"])
    assert.ok(reasons.has(reason), `a ${reason} notice (${[...reasons]})`);
});

hostile.run();
