// bench/round-floor: what a round of a cluster problem costs over NATS, beside the floor: the same
// round trip with the bus alone. First `catopt run` of the scenario (secure aggregation as the
// scenario has it; every party in this process, the embedded nats-server with TLS and
// credentials, as a run is), its main thread profiled: the share of its busy time in signatures
// (Ed25519 signing and verifying) and in secure aggregation's arithmetic (masks, key agreement,
// secret shares), the latter split between the coordinator's fold and the nodes. Then the floor: as many node
// connections and one coordinator on a server set up the same way, exchanging messages of the
// run's own sizes in the run's own order each round (the nodes' contributions, the round event,
// their reveals, the plans), through the same publish and read paths, with no signing, no
// verifying, no folding and no solving. Prints ms per round of both and their ratio.
// Usage: npm run bench:floor [-- --scenario gavel-256 --rounds 40]
import { createPublicKey, randomBytes, sign, verify } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { Session, type Profiler } from "node:inspector/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { jetstreamOf } from "../src/bus/connection.ts";
import { PROJECT_ROOT } from "../src/bus/embedded-server.ts";
import { publishDurably } from "../src/bus/publish.ts";
import { readFilters, readStream } from "../src/bus/read.ts";
import { openBus } from "../src/bus/session.ts";
import { EVENTS_STREAM } from "../src/bus/streams.ts";
import { decode } from "../src/core/codec.ts";
import { decodeEnvelope } from "../src/core/envelope.ts";
import { deltaSubject, planSubject, roundSubject } from "../src/core/subjects.ts";
import { generateIdentity } from "../src/governance/identity.ts";
import { localSecurity } from "../src/governance/local-security.ts";
import { readRecording } from "../src/replay/recording.ts";
import { runScenario } from "../src/run/run-scenario.ts";
import { loadScenario } from "../src/run/scenario-files.ts";
import type { StreamMessage } from "../src/core/stream-message.ts";

const { values } = parseArgs({ options: { scenario: { type: "string" }, rounds: { type: "string" } } });
const name = values.scenario ?? "gavel-256";
const floorRounds = Number(values.rounds ?? 40);
if (!Number.isInteger(floorRounds) || floorRounds < 1 || floorRounds > 10_000) {
  console.error(`bench:floor: --rounds must be a whole number from 1 to 10,000, got ${values.rounds}`);
  process.exit(2);
}
const loaded = await loadScenario(name, PROJECT_ROOT);
const { scenario } = loaded;
const nodes = loaded.family.scenarios.agents(scenario);
const tenants = loaded.family.scenarios.planTenants(scenario);

// 1. The run, its main thread profiled from round 1 to the last round (not its setup, reference solve or replay).
const dir = await mkdtemp(path.join(tmpdir(), "catopt-floor-"));
const record = path.join(dir, "run.catrec");
const session = new Session();
session.connect();
await session.post("Profiler.enable");
await session.post("Profiler.setSamplingInterval", { interval: 500 });
let profiling: Promise<unknown> | undefined;
let stopped: Promise<{ profile: Profiler.Profile }> | undefined;
// The rounds alone, from the first round's close to the last's: not the run's setup, joins or end.
const closed: { round: number; at: number }[] = [];
process.stderr.write(`running ${name} (${nodes.length} nodes)...\n`);
// The temporary folder goes whatever happens to the run.
const report = await runScenario(loaded, {
  record,
  onRound: (p) => {
    closed.push({ round: p.round, at: performance.now() });
    profiling ??= session.post("Profiler.start");
    if (p.phase !== "running") stopped ??= profiling.then(() => session.post("Profiler.stop"));
  },
}).catch(async (err: unknown) => {
  await rm(dir, { recursive: true, force: true });
  throw err;
});
const { profile } = await (stopped ?? Promise.reject(new Error("the run closed no round")));
session.disconnect();
const [first, last] = [closed[0], closed[closed.length - 1]];
const runMs = (last.at - first.at) / Math.max(1, last.round - first.round);
const shares = cryptoShares(profile);

// What a round carries, schema by schema: how many messages and their mean size.
const recorded = await readRecording(record)
  .then((r) => r.messages)
  .finally(() => rm(dir, { recursive: true, force: true }));
const bySchema = new Map<string, { count: number; bytes: number }>();
for (const m of recorded) {
  const schema = (decode(decodeEnvelope(m.data).event) as { schema: string }).schema;
  const entry = bySchema.get(schema) ?? { count: 0, bytes: 0 };
  bySchema.set(schema, { count: entry.count + 1, bytes: entry.bytes + m.data.length });
}
const size = (schema: string): number => {
  const entry = bySchema.get(schema);
  return entry === undefined ? 0 : Math.round(entry.bytes / entry.count);
};
const secure = bySchema.has("masked/1");
const perRound = (schema: string): number => (bySchema.get(schema)?.count ?? 0) / report.rounds;

// 2. The floor: the same round trip, the bus alone.
const floorMs = await floor();

// 3. Signatures on a round's critical path where each party runs in its own process (a deployment):
// the coordinator verifies every node's messages of the round, one after another, and signs its
// own; a node signs its messages and verifies the round event and the plan. (In `catopt run` every
// party shares a process, whose held verdicts spare all but one verification of each message, and
// none of a message it signed itself: identity.ts.)
// Each cost measured at the size of the message it is for.
const nodeCost = signatureCosts(size(secure ? "masked/1" : "node-delta/1"));
const planCost = signatureCosts(size("cluster-plan/1"));
const nodeMessages = secure ? 2 : 1; // masked and reveal, or the delta
const coordinatorSigns = perRound("round/2") + perRound("cluster-plan/1") + perRound("tenant-plan/1");
// The coordinator's own share of secure aggregation (unmasking the sums, recovering seeds) is on the path whole.
const coordinatorMasks = shares.coordinatorSecureMs / report.rounds;
const coordinatorCrypto = (nodes.length * nodeMessages * nodeCost.verifyUs + coordinatorSigns * planCost.signUs) / 1000 + coordinatorMasks;
const nodeCrypto = (nodeMessages * nodeCost.signUs + 2 * planCost.verifyUs) / 1000;
// A node's masking is its own, in parallel with the others': the nodes' share of the run's secure aggregation time, shared out.
const nodeMasks = shares.nodesSecureMs / report.rounds / nodes.length;
const criticalCrypto = coordinatorCrypto + nodeCrypto + nodeMasks;

console.log(`round floor: ${name}, ${nodes.length} node agents, ${secure ? "secure aggregation" : "plain rounds"}, ${report.rounds} rounds`);
console.log("                                    ms/round   vs floor");
console.log(`catopt run (every party here)     ${runMs.toFixed(1).padStart(10)}   ${(runMs / floorMs).toFixed(1).padStart(7)}x`);
console.log(`bus alone (floor)                 ${floorMs.toFixed(1).padStart(10)}   ${"1.0".padStart(7)}x`);
console.log(
  `messages a round: ${secure ? `${nodes.length} masked (${size("masked/1")} B), 1 round event (${size("round/2")} B), ${nodes.length} reveals (${size("reveal/1")} B)` : `${nodes.length} deltas (${size("node-delta/1")} B), 1 round event (${size("round/2")} B)`}, 1 plan (${size("cluster-plan/1")} B), ${perRound("tenant-plan/1").toFixed(1)} tenant plans (${size("tenant-plan/1")} B)`,
);
console.log(
  `crypto on a deployed round's critical path: ${criticalCrypto.toFixed(2)} ms: ${pct(criticalCrypto, floorMs + criticalCrypto)} of the floor and it, ${pct(criticalCrypto, runMs)} of the run's round (Ed25519 here: sign ${nodeCost.signUs.toFixed(0)} us and verify ${nodeCost.verifyUs.toFixed(0)} us at a node's message, sign ${planCost.signUs.toFixed(0)} us at a plan)`,
);
console.log(
  `  coordinator ${coordinatorCrypto.toFixed(2)} ms (verifies ${nodes.length * nodeMessages}, signs ${coordinatorSigns.toFixed(1)}${secure ? `, unmasks ${coordinatorMasks.toFixed(2)} ms` : ""}); a node ${(nodeCrypto + nodeMasks).toFixed(2)} ms (signs ${nodeMessages}, verifies 2${secure ? `, masks ${nodeMasks.toFixed(2)} ms` : ""})`,
);
console.log(
  `run's main thread over its rounds: busy ${(shares.busyMs / 1000).toFixed(1)} s; signatures ${pct(shares.signaturesMs, shares.busyMs)}, secure aggregation ${pct(shares.coordinatorSecureMs + shares.nodesSecureMs, shares.busyMs)} (the coordinator's fold ${pct(shares.coordinatorSecureMs, shares.busyMs)}), profiled every 0.5 ms; the governance consumer verifies on worker threads`,
);

/** Ed25519 signing and verifying of a message of `bytes`, in microseconds, as a party does each (median of 5 runs of 200). */
function signatureCosts(bytes: number): { signUs: number; verifyUs: number } {
  const signer = generateIdentity("cost");
  const publicKey = createPublicKey(signer.privateKey);
  const samples = { sign: [] as number[], verify: [] as number[] };
  for (let run = 0; run < 5; run++) {
    const messages = Array.from({ length: 200 }, () => randomBytes(bytes));
    let started = performance.now();
    const signatures = messages.map((m) => sign(null, m, signer.privateKey));
    samples.sign.push(((performance.now() - started) * 1000) / messages.length);
    started = performance.now();
    for (const [i, m] of messages.entries()) if (!verify(null, m, publicKey, signatures[i])) throw new Error("a signature did not verify");
    samples.verify.push(((performance.now() - started) * 1000) / messages.length);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { signUs: median(samples.sign), verifyUs: median(samples.verify) };
}

function pct(part: number, whole: number): string {
  return `${((100 * part) / Math.max(1, whole)).toFixed(1)}%`;
}

/**
 * Busy time of the profiled thread (all but idle), and the part of it under signatures (identity.ts) and under
 * secure aggregation's arithmetic (src/secure's masks, shares, streams, words), each frame counted
 * once, to the outermost such function above it.
 */
function cryptoShares(profile: Profiler.Profile): { busyMs: number; signaturesMs: number; coordinatorSecureMs: number; nodesSecureMs: number } {
  const self = new Map<number, number>();
  const deltas = profile.timeDeltas ?? [];
  for (const [i, id] of (profile.samples ?? []).entries()) self.set(id, (self.get(id) ?? 0) + (deltas[i] ?? 0));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const category = (frame: Profiler.ProfileNode["callFrame"]): "signatures" | "secure" | undefined => {
    if (frame.url.endsWith("/src/governance/identity.ts") && (frame.functionName === "signBytes" || frame.functionName === "verifyBytes")) return "signatures";
    if (/\/src\/secure\/(masks|shamir|secret-stream|aggregation|ring)\.ts$/.test(frame.url)) return "secure";
    return undefined;
  };
  const totals = { busy: 0, signatures: 0, coordinatorSecure: 0, nodesSecure: 0 };
  // Below the reducer is the coordinator's fold (agents run no reducer; the end-of-run replay is outside the profile).
  const walk = (id: number, inherited: "signatures" | "secure" | undefined, inFold: boolean): void => {
    const node = byId.get(id);
    if (node === undefined) return;
    const mine = inherited ?? category(node.callFrame);
    const folding = inFold || node.callFrame.url.endsWith("/src/replay/reducer.ts");
    const time = self.get(id) ?? 0;
    if (node.callFrame.functionName !== "(idle)") totals.busy += time;
    if (mine === "signatures") totals.signatures += time;
    if (mine === "secure") totals[folding ? "coordinatorSecure" : "nodesSecure"] += time;
    for (const child of node.children ?? []) walk(child, mine, folding);
  };
  walk(profile.nodes[0].id, undefined, false);
  return {
    busyMs: totals.busy / 1000,
    signaturesMs: totals.signatures / 1000,
    coordinatorSecureMs: totals.coordinatorSecure / 1000,
    nodesSecureMs: totals.nodesSecure / 1000,
  };
}

/** ms per round of the run's round trip with the bus alone: same server setup, sizes and order; nothing signed, verified, folded or solved. */
async function floor(): Promise<number> {
  const security = await localSecurity(generateIdentity("floor"));
  const bus = await openBus({ name: "floor", serverConfig: security.serverConfig, security: { access: security.service, tls: security.clientTls } });
  const stops: { stop(): void }[] = [];
  try {
    const [tenant, problem] = ["floor", "round"];
    const coordinator = await bus.connect("coordinator");
    const parties = await Promise.all(nodes.map((n) => bus.connect(`node-${n}`)));
    const coordinatorJs = jetstreamOf(coordinator);
    const nodeJs = parties.map(jetstreamOf);
    const inboxReader = await readStream(coordinatorJs, EVENTS_STREAM, { filter: `catopt.${tenant}.delta.${problem}.*`, fromSeq: 1 });
    const readers = await Promise.all(
      nodeJs.map(async (js, i) => (await readFilters(js, EVENTS_STREAM, [roundSubject(tenant, problem), planSubject(tenant, problem)], parties[i])).live()),
    );
    stops.push(inboxReader, ...readers);
    const inbox = inboxReader[Symbol.asyncIterator]();
    const announcements = readers.map((r) => r[Symbol.asyncIterator]());
    let sent = 0;
    const publish = (js: (typeof nodeJs)[number], subject: string, bytes: number) =>
      publishDurably(js, subject, randomBytes(bytes), { msgID: `floor-${sent++}` });
    const collect = async (count: number) => {
      for (let k = 0; k < count; k++) await inbox.next();
    };
    const awaitAll = (subject: string) => Promise.all(announcements.map((it) => nextOn(it, subject)));
    // The run's tenant plans went out every tenantPlanEvery rounds, all tenants at once: so here.
    const tenantRate = perRound("tenant-plan/1");
    const tenantEvery = tenantRate > 0 ? Math.max(1, Math.round(tenants.length / tenantRate)) : 0;
    const round = async (r: number): Promise<void> => {
      // The nodes' contributions, the round event, their reveals (secure), the plans.
      await Promise.all(nodeJs.map((js, i) => publish(js, deltaSubject(tenant, problem, nodes[i]), size(secure ? "masked/1" : "node-delta/1"))));
      await collect(nodes.length);
      await publish(coordinatorJs, roundSubject(tenant, problem), size("round/2"));
      await awaitAll(roundSubject(tenant, problem));
      if (secure) {
        await Promise.all(nodeJs.map((js, i) => publish(js, deltaSubject(tenant, problem, nodes[i]), size("reveal/1"))));
        await collect(nodes.length);
      }
      await publish(coordinatorJs, planSubject(tenant, problem), size("cluster-plan/1"));
      if (tenantEvery > 0 && r % tenantEvery === 0)
        await Promise.all(tenants.map(() => publish(coordinatorJs, planSubject(`${tenant}-jobs`, problem), size("tenant-plan/1"))));
      await awaitAll(planSubject(tenant, problem));
    };
    for (let r = 1; r <= 3; r++) await round(r); // warm up
    const started = performance.now();
    for (let r = 1; r <= floorRounds; r++) await round(r);
    return (performance.now() - started) / floorRounds;
  } finally {
    for (const reader of stops) reader.stop();
    await bus.close();
    await security.close();
  }
}

async function nextOn(iterator: AsyncIterator<StreamMessage>, subject: string): Promise<void> {
  for (;;) {
    const next = await iterator.next();
    if (next.done === true) throw new Error("the floor's read ended");
    if (next.value.subject === subject) return;
  }
}
