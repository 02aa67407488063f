import { suite } from "uvu";
import * as assert from "uvu/assert";
import { joinEvent } from "../../src/agent/agent-events.ts";
import { envelopeBytes, publishEvent } from "../../src/bus/publish.ts";
import { startEmbeddedServer, type EmbeddedServer } from "../../src/bus/embedded-server.ts";
import { openBus, type BusSession } from "../../src/bus/session.ts";
import { EVENTS_STREAM } from "../../src/bus/streams.ts";
import { decodeEnvelope, encodeEnvelope } from "../../src/core/envelope.ts";
import { decodeEvent, encodeEvent } from "../../src/core/event.ts";
import { deltaSubject, governanceSubject } from "../../src/core/subjects.ts";
import { startGovernance } from "../../src/governance/governance-consumer.ts";
import { admitEvent } from "../../src/governance/governance-events.ts";
import { generateIdentity } from "../../src/governance/identity.ts";
import { verifyLedger } from "../../src/governance/ledger.ts";
import { ledgerFromStream } from "../../src/governance/ledger-source.ts";
import { readToEnd } from "../../src/replay/replay.ts";

const governance = suite("the governance consumer on a real nats-server");
let server: EmbeddedServer;
let bus: BusSession;
const gov = generateIdentity("governance");
const rover = generateIdentity("rover");
const intruder = generateIdentity("intruder");
const local = (n: number) => ({ owner: "rover", constant: 0, variables: [{ resource: `r${n}`, lower: 0, upper: 1, quadratic: 1, linear: 0 }] });

governance.before(async () => {
  server = await startEmbeddedServer();
  bus = await openBus({ url: server.url });
});
governance.after(async () => {
  await bus?.close();
  await server?.stop();
});

const lastSeq = async (): Promise<number> => (await bus.jsm.streams.info(EVENTS_STREAM)).state.last_seq;
const roverEvent = (n: number) => publishEvent(bus.js, deltaSubject("t", `p${n}`, "rover"), joinEvent("t", `p${n}`, local(n)), rover);

governance("admitted events become entries; unsigned, foreign, garbage and forged ones are quarantined with the reason", async () => {
  await publishEvent(bus.js, governanceSubject("t", "admit"), admitEvent("t", rover.did, "agent", "rover"), gov);
  for (let n = 0; n < 5; n++) await roverEvent(n);
  const unsigned = joinEvent("t", "p9", local(9));
  await bus.js.publish(deltaSubject("t", "p9", "rover"), encodeEnvelope({ event: encodeEvent(unsigned), author: rover.did, sig: new Uint8Array(0) }));
  await bus.js.publish(deltaSubject("t", "p8", "rover"), envelopeBytes(joinEvent("t", "p8", local(8)), intruder));
  await bus.js.publish(deltaSubject("t", "p7", "rover"), Uint8Array.of(0x82, 0xa1, 0x00));
  await publishEvent(bus.js, governanceSubject("t", "admit"), admitEvent("t", intruder.did, "agent", "rover"), intruder);

  const consumer = await startGovernance({ nc: bus.nc, signer: gov, origin: "catopt.test/ledger", every: 4 });
  await consumer.caughtUp(await lastSeq());
  const summary = await consumer.stop();
  assert.equal([summary.size, summary.quarantined], [6, 4]);

  const notices = await readToEnd(bus.js, EVENTS_STREAM, { filter: "catopt.t.quarantine.>" });
  assert.equal(notices.map((m) => m.subject.split(".")[3]).sort(), ["malformed", "unknown-signer", "unknown-signer", "unsigned"]);
  for (const m of notices) {
    const notice = decodeEvent(decodeEnvelope(m.data).event);
    assert.is(notice.schema, "quarantine/1");
    assert.is(decodeEnvelope(m.data).author, gov.did, "notices are signed by the governance identity");
  }
});

governance("a restarted consumer resumes where it stopped: no entry lost or duplicated, and the ledger verifies", async () => {
  for (let n = 10; n < 13; n++) await roverEvent(n);
  const again = await startGovernance({ nc: bus.nc, signer: gov, origin: "catopt.test/ledger", every: 4 });
  await again.caughtUp(await lastSeq());
  const summary = await again.stop();
  assert.is(summary.size, 9, "6 before, 3 new");

  const ledger = await ledgerFromStream(bus.js);
  const report = verifyLedger(ledger.entries, ledger.checkpoints, gov.did, summary.vkey);
  assert.is(report.problem, null);
  assert.equal([report.size, report.root], [9, summary.root]);
  assert.is(report.checkpoints, 2, "one per session (each batch ends one), consistent with each other");
});

governance.run();
