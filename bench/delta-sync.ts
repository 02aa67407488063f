/**
 * Delta-sync benchmark: bytes on the wire per round of a real allocation run (node agents'
 * node-deltas and the coordinator's cluster plan, as stored: signed envelopes) beside the bytes
 * the same rounds would take if every message carried its full vector (a node's whole y, the
 * plan's whole signal), encoded and signed the same way. Delta-sync sends what changed since
 * the version the receiver has; as the plan converges, less changes.
 *
 *   npm run bench:delta-sync -- [--scenario gavel-small] [--nats nats://host:4222]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { PROJECT_ROOT } from "../src/bus/embedded-server.ts";
import { envelopeBytes } from "../src/bus/publish.ts";
import { loadClusterScenario } from "../src/allocation/cluster-scenario.ts";
import { applyUpdate } from "../src/allocation/node-solver.ts";
import { derivedOf } from "../src/allocation/cluster-fold.ts";
import { decodeEnvelope } from "../src/core/envelope.ts";
import { decodeEvent } from "../src/core/event.ts";
import type { SparseUpdate } from "../src/core/schemas.ts";
import { generateIdentity } from "../src/governance/identity.ts";
import { readRecording } from "../src/replay/recording.ts";
import { runCluster } from "../src/run/run-cluster.ts";

const { values } = parseArgs({ options: { scenario: { type: "string" }, nats: { type: "string" } } });
const scenario = await loadClusterScenario(values.scenario ?? "gavel-small", PROJECT_ROOT);
const dir = await mkdtemp(path.join(tmpdir(), "catopt-delta-sync-"));
const file = path.join(dir, "run.catrec");
try {
  const report = await runCluster(scenario, { url: values.nats, record: file, onNote: (line) => console.error(line) });
  const { messages } = await readRecording(file);
  const signer = generateIdentity("bench"); // signatures are 64 bytes whoever signs: sizes match the run's
  const full = (update: SparseUpdate, vector: number[]): SparseUpdate => {
    applyUpdate(vector, update);
    return { index: vector.map((_, k) => k), value: [...vector] };
  };
  // Full lengths come from the problem as opened: columns per node, coupled resources.
  const open = messages.map((m) => decodeEvent(decodeEnvelope(m.data).event)).find((e) => e.schema === "cluster-open/1");
  if (open?.schema !== "cluster-open/1") throw new Error("the recording holds no cluster-open event");
  const { decomposition } = derivedOf(open.body);
  const nodes = new Map<string, number[]>(open.body.cluster.nodes.map((n, i) => [n.name, new Array<number>(decomposition.nodes[i].columns.length).fill(0)]));
  const signal = new Array<number>(decomposition.coupling.resources).fill(0);
  const perRound = new Map<number, { sparse: number; full: number }>();
  for (const m of messages) {
    const event = decodeEvent(decodeEnvelope(m.data).event);
    const row = perRound.get(event.round) ?? { sparse: 0, full: 0 };
    if (event.schema === "node-delta/1") {
      const agent = m.subject.split(".")[4] as string;
      const y = nodes.get(agent) ?? [];
      row.sparse += m.data.length;
      row.full += envelopeBytes({ ...event, body: full(event.body, y) }, signer).length;
    } else if (event.schema === "cluster-plan/1") {
      row.sparse += m.data.length;
      row.full += envelopeBytes({ ...event, body: { ...event.body, signal: full(event.body.signal, signal) } }, signer).length;
    } else continue;
    perRound.set(event.round, row);
  }
  const rounds = [...perRound.keys()].filter((r) => r >= 1).sort((a, b) => a - b);
  const total = rounds.reduce((t, r) => ({ sparse: t.sparse + (perRound.get(r)?.sparse ?? 0), full: t.full + (perRound.get(r)?.full ?? 0) }), { sparse: 0, full: 0 });
  console.log(`delta-sync: ${scenario.name}, ${report.agents.length} node agents, ${report.rounds} rounds (${report.status}), gap to HiGHS ${report.gap?.toExponential(2)}`);
  console.log("  round     delta-sync bytes   full-vector bytes   ratio (delta / full)");
  const shown = new Set([1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, rounds.at(-1) ?? 1]);
  for (const r of rounds.filter((x) => shown.has(x))) {
    const row = perRound.get(r) as { sparse: number; full: number };
    console.log(`  ${String(r).padStart(5)}   ${String(row.sparse).padStart(16)}   ${String(row.full).padStart(17)}   ${(row.sparse / row.full).toFixed(3).padStart(8)}  ${bar(row.sparse / row.full)}`);
  }
  console.log(`  total   ${String(total.sparse).padStart(16)}   ${String(total.full).padStart(17)}   ${(total.sparse / total.full).toFixed(3).padStart(8)}  ${bar(total.sparse / total.full)}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}

function bar(share: number): string {
  return "#".repeat(Math.round(Math.min(1, share) * 30));
}
