/**
 * Bus benchmark: events/s of our publish path (event encode + Ed25519 signature + envelope +
 * JetStream publish with Nats-Msg-Id) beside raw JetStream publish of the same bytes, on the same server in one run;
 * without --nats, on a plain embedded server and then on one secured as every deployment is
 * (operator mode, the publisher with an agent's credentials, TLS), with the ratio secured/plain.
 * Both keep a window of publishes in flight, as JetStream's request/reply publish wants.
 *
 *   npm run bench -- [--events 20000] [--window 256] [--nats nats://host:4222]
 */
import { parseArgs } from "node:util";
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { jetstreamOf } from "../src/bus/connection.ts";
import { startEmbeddedServer } from "../src/bus/embedded-server.ts";
import { openBus } from "../src/bus/session.ts";
import { localSecurity } from "../src/governance/local-security.ts";
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

type Rates = { raw: number; rawWithId: number; ours: number };

async function measure(js: JetStreamClient): Promise<Rates> {
  const best: Rates = { raw: 0, rawWithId: 0, ours: 0 };
  for (let r = 0; r < repeats; r++) {
    // Events are built outside the timed loops; the baselines publish their exact bytes, ours
    // encodes them (event + envelope) inside. The order rotates so no variant always runs last
    // on the largest stream. Ids differ per variant: the server would de-duplicate repeats.
    const run = `r${Date.now().toString(36)}${r}`;
    const prepared = Array.from({ length: events }, (_, i) => {
      const event = delta(run, i);
      return { subject: deltaSubject("bench", run, `a${i % agents}`), event, bytes: envelopeBytes(event, benchSigner) };
    });
    const variants: [keyof Rates, () => Promise<number>][] = [
      ["raw", () => windowed(events, (i) => js.publish(prepared[i].subject, prepared[i].bytes))],
      ["rawWithId", () => windowed(events, (i) => js.publish(prepared[i].subject, prepared[i].bytes, { msgID: `raw-${prepared[i].event.id}` }))],
      ["ours", () => windowed(events, (i) => publishEvent(js, prepared[i].subject, prepared[i].event, benchSigner))],
    ];
    for (let v = 0; v < variants.length; v++) {
      const [name, measureOne] = variants[(v + r) % variants.length];
      best[name] = Math.max(best[name], await measureOne());
    }
  }
  return best;
}

function print(label: string, best: Rates): void {
  console.log(label);
  const row = (name: string, rate: number) =>
    console.log(`  ${name.padEnd(48)} ${Math.round(rate).toLocaleString("en-US").padStart(9)} events/s   ${(rate / best.raw).toFixed(2)}x raw`);
  row("raw JetStream publish (same bytes)", best.raw);
  row("raw JetStream publish + Nats-Msg-Id", best.rawWithId);
  row("catopt publishEvent (encode + sign + envelope + id)", best.ours);
}

/** The publisher as a secured deployment sees it: an agent of tenant bench (all eight names), over TLS. */
async function securedRates(): Promise<Rates> {
  const governance = generateIdentity("governance");
  const security = await localSecurity(governance);
  const server = await startEmbeddedServer({ extraConfig: security.serverConfig });
  const tls = security.clientTls;
  const admin = await openBus({ url: server.url, name: "catopt-bench-admin", security: { access: security.service, tls } });
  try {
    const grants = Array.from({ length: agents }, (_, i) => ({ role: "agent" as const, tenant: "bench", name: `a${i}` }));
    const nc = await admin.connect("catopt-bench", undefined, security.accessFor(benchSigner, grants));
    return await measure(jetstreamOf(nc));
  } finally {
    await admin.close();
    await server.stop();
    await security.close();
  }
}

const bus = await openBus({ url: values.nats, name: "catopt-bench" });
let plain: Rates;
try {
  console.log(`bus publish: ${events} events x ${repeats} runs, window ${window}, ${bus.embedded ? "embedded nats-server" : "NATS"} at ${bus.url}`);
  plain = await measure(bus.js);
} finally {
  await bus.close();
}
print(bus.embedded ? "plain server (no auth, no TLS):" : `${bus.url}:`, plain);
// On our own server, the same again secured as every deployment is: auth and TLS, beside plain.
const secured = bus.embedded ? await securedRates() : undefined;
if (secured !== undefined) {
  print("secured server (operator mode, an agent's credentials, TLS):", secured);
  console.log(`  secured / plain: publishEvent ${(secured.ours / plain.ours).toFixed(2)}x, raw publish ${(secured.raw / plain.raw).toFixed(2)}x`);
}
console.log(
  JSON.stringify({
    bench: "bus-publish",
    events,
    window,
    raw_per_s: Math.round(plain.raw),
    raw_with_id_per_s: Math.round(plain.rawWithId),
    catopt_per_s: Math.round(plain.ours),
    ratio: Number((plain.ours / plain.raw).toFixed(3)),
    ...(secured === undefined
      ? {}
      : {
          secured_catopt_per_s: Math.round(secured.ours),
          secured_raw_per_s: Math.round(secured.raw),
          secured_ratio: Number((secured.ours / plain.ours).toFixed(3)),
        }),
  }),
);
