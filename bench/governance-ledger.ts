/**
 * Governance benchmark: ledger entries/s of the governance consumer (verify each event's
 * signature and admission, append to the Merkle log, publish entries in batches, checkpoint)
 * beside the raw rate of reading and acking the same stream with the same client, in one run.
 * Also prints the rate of signature verification alone, the consumer's floor on this machine.
 *
 *   npm run bench:governance -- [--events 20000]
 */
import { parseArgs } from "node:util";
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { joinEvent } from "../src/families/energy-qp/agent.ts";
import { envelopeBytes } from "../src/governance/signed-publish.ts";
import { openBus } from "../src/bus/session.ts";
import { EVENTS_STREAM } from "../src/bus/streams.ts";
import { deltaSubject, governanceSubject } from "../src/core/subjects.ts";
import { verifyMessage } from "../src/governance/admission.ts";
import { startGovernance } from "../src/governance/governance-consumer.ts";
import { admitEvent } from "../src/governance/governance-events.ts";
import { generateIdentity } from "../src/governance/identity.ts";

const { values } = parseArgs({ options: { events: { type: "string" }, nats: { type: "string" } } });
const events = Number(values.events ?? 20_000);
const agents = Array.from({ length: 8 }, (_, i) => generateIdentity(`a${i}`));
const governance = generateIdentity("governance");

const bus = await openBus({ url: values.nats, name: "catopt-bench-governance" });
try {
  // The stream to judge: admissions, then signed events from eight admitted agents (untimed).
  const messages = [
    ...agents.map((a) => ({ subject: governanceSubject("bench", "admit"), data: envelopeBytes(admitEvent("bench", a.did, "agent", a.name), governance) })),
    ...Array.from({ length: events }, (_, i) => {
      const agent = agents[i % agents.length];
      const local = { owner: agent.name, constant: 0, variables: [{ resource: `r${i}`, lower: 0, upper: 1, quadratic: 1, linear: 0 }] };
      return { subject: deltaSubject("bench", `p${i}`, agent.name), data: envelopeBytes(joinEvent("bench", `p${i}`, local), agent) };
    }),
  ];
  const inFlight = new Set<Promise<unknown>>();
  for (const m of messages) {
    const p: Promise<unknown> = bus.js.publish(m.subject, m.data).then(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 256) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const last = (await bus.jsm.streams.info(EVENTS_STREAM)).state.last_seq;
  console.log(`governance ledger: ${messages.length} events on ${bus.embedded ? "embedded nats-server" : "NATS"} at ${bus.url}`);

  // Baseline: read and ack every message of the same stream, same client, same batch size.
  await bus.jsm.consumers.add(EVENTS_STREAM, { durable_name: "bench-raw", ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All });
  const rawStart = performance.now();
  const raw = await (await bus.js.consumers.get(EVENTS_STREAM, "bench-raw")).consume({ max_messages: 256 });
  for await (const m of raw) {
    m.ack();
    if (m.seq >= last) break;
  }
  raw.stop();
  const rawRate = messages.length / ((performance.now() - rawStart) / 1000);

  // Signature verification alone, in a tight loop: the floor of any verifying consumer here.
  const sample = messages.slice(0, 2000);
  const verifyStart = performance.now();
  for (const m of sample) verifyMessage(m.data);
  const verifyRate = sample.length / ((performance.now() - verifyStart) / 1000);

  // Ours: the governance consumer from an empty ledger to the end of the stream.
  const ourStart = performance.now();
  const consumer = await startGovernance({ nc: bus.nc, signer: governance, origin: "bench/ledger" });
  await consumer.caughtUp(last);
  const summary = await consumer.stop();
  const ourRate = summary.size / ((performance.now() - ourStart) / 1000);

  const row = (name: string, rate: number, note = "") => console.log(`  ${name.padEnd(46)} ${Math.round(rate).toLocaleString("en-US").padStart(9)} /s ${note}`);
  row("raw read + ack (same stream, same client)", rawRate, "  1.00x");
  row("signature verification alone (one core)", verifyRate, `  ${(verifyRate / rawRate).toFixed(2)}x`);
  row("governance consumer: ledger entries", ourRate, `  ${(ourRate / rawRate).toFixed(2)}x raw (${summary.size} entries, ${summary.checkpoints} checkpoints)`);
  console.log(
    JSON.stringify({
      bench: "governance-ledger",
      events: messages.length,
      raw_per_s: Math.round(rawRate),
      verify_per_s: Math.round(verifyRate),
      ledger_per_s: Math.round(ourRate),
      ratio: Number((ourRate / rawRate).toFixed(3)),
    }),
  );
} finally {
  await bus.close();
}
