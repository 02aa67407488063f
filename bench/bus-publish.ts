/**
 * Bus benchmark: events/s of our publish path (event encode + Ed25519 signature + envelope +
 * JetStream publish with Nats-Msg-Id) beside raw JetStream publish of the same bytes, on the same server in one run.
 * Both keep a window of publishes in flight, as JetStream's request/reply publish wants.
 *
 *   npm run bench -- [--events 20000] [--window 256] [--nats nats://host:4222]
 */
import { parseArgs } from "node:util";
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { openBus } from "../src/bus/session.ts";
import { envelopeBytes, publishEvent } from "../src/governance/signed-publish.ts";
import { eventId, type CatoptEvent } from "../src/core/event.ts";
import { deltaSubject } from "../src/core/subjects.ts";
import { generateIdentity } from "../src/governance/identity.ts";

const { values } = parseArgs({ options: { events: { type: "string" }, window: { type: "string" }, nats: { type: "string" }, repeat: { type: "string" } } });
const events = Number(values.events ?? 20_000);
const window = Number(values.window ?? 256);
const repeats = Number(values.repeat ?? 3);
const agents = 8;

/** A delta like the cosmos agents send: six resources, an objective. */
function delta(run: string, i: number): CatoptEvent<"delta/1"> {
  const agent = `a${i % agents}`;
  const round = Math.floor(i / agents) + 1;
  const entries = Object.fromEntries(["t08", "t10", "t12", "t14", "t16", "t18"].map((r, j) => [r, 100 + Math.sin(i + j) * 50]));
  return {
    schema: "delta/1",
    id: eventId("bench", run, "delta", round, agent),
    tenant: "bench",
    problem: run,
    round,
    base: round - 1,
    body: { entries, objective: 1234.5 + i },
  };
}

async function windowed(count: number, publishOne: (i: number) => Promise<PubAck>): Promise<number> {
  const started = performance.now();
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < count; i++) {
    const p: Promise<unknown> = publishOne(i).then(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return count / ((performance.now() - started) / 1000);
}

const benchSigner = generateIdentity("bench");
const bus = await openBus({ url: values.nats, name: "catopt-bench" });
try {
  const js: JetStreamClient = bus.js;
  console.log(`bus publish: ${events} events x ${repeats} runs, window ${window}, ${bus.embedded ? "embedded nats-server" : "NATS"} at ${bus.url}`);
  const best = { raw: 0, rawWithId: 0, ours: 0 };
  for (let r = 0; r < repeats; r++) {
    // Events are built outside the timed loops; the baselines publish their exact bytes, ours
    // encodes them (event + envelope) inside. The order rotates so no variant always runs last
    // on the largest stream. Ids differ per variant: the server would de-duplicate repeats.
    const run = `r${Date.now().toString(36)}${r}`;
    const prepared = Array.from({ length: events }, (_, i) => {
      const event = delta(run, i);
      return { subject: deltaSubject("bench", run, `a${i % agents}`), event, bytes: envelopeBytes(event, benchSigner) };
    });
    const variants: [keyof typeof best, () => Promise<number>][] = [
      ["raw", () => windowed(events, (i) => js.publish(prepared[i].subject, prepared[i].bytes))],
      ["rawWithId", () => windowed(events, (i) => js.publish(prepared[i].subject, prepared[i].bytes, { msgID: `raw-${prepared[i].event.id}` }))],
      ["ours", () => windowed(events, (i) => publishEvent(js, prepared[i].subject, prepared[i].event, benchSigner))],
    ];
    for (let v = 0; v < variants.length; v++) {
      const [name, measure] = variants[(v + r) % variants.length];
      best[name] = Math.max(best[name], await measure());
    }
  }
  const row = (name: string, rate: number) =>
    console.log(`  ${name.padEnd(48)} ${Math.round(rate).toLocaleString("en-US").padStart(9)} events/s   ${(rate / best.raw).toFixed(2)}x raw`);
  row("raw JetStream publish (same bytes)", best.raw);
  row("raw JetStream publish + Nats-Msg-Id", best.rawWithId);
  row("catopt publishEvent (encode + sign + envelope + id)", best.ours);
  console.log(
    JSON.stringify({
      bench: "bus-publish",
      events,
      window,
      raw_per_s: Math.round(best.raw),
      raw_with_id_per_s: Math.round(best.rawWithId),
      catopt_per_s: Math.round(best.ours),
      ratio: Number((best.ours / best.raw).toFixed(3)),
    }),
  );
} finally {
  await bus.close();
}
