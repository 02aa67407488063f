/**
 * Delta-sync benchmark: bytes on the wire per round of real allocation runs over NATS (node
 * agents' node-deltas and the coordinator's cluster plans, as stored: signed envelopes), in
 * two runs of one scenario on one server:
 *
 *   censored      as the scenario says (admm.censor; by default epsAbs): a node leaves out
 *                 changes below a threshold and commits what it sent
 *   every change  censor 0: a delta carries every entry that moved at all
 *
 * beside the baseline, the same messages of the censored run carrying full vectors (a node's
 * whole y, the plan's whole signal, values only: what a protocol without deltas sends), encoded
 * and signed the same way. As the plan settles fewer entries cross the threshold, so the
 * censored bytes per round fall.
 *
 *   npm run bench:delta-sync -- [--scenario gavel-256] [--nats nats://host:4222]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { PROJECT_ROOT } from "../src/bus/embedded-server.ts";
import { envelopeBytes } from "../src/governance/signed-publish.ts";
import { loadScenarioOf, withFamily } from "../src/run/scenario-files.ts";
import { clusterScenarios } from "../src/families/accelerator-allocation/scenario-format.ts";
import type { ClusterScenario } from "../src/families/accelerator-allocation/cluster-scenario.ts";
import { applyUpdate } from "../src/families/accelerator-allocation/node-solver.ts";
import { derivedOf } from "../src/families/accelerator-allocation/cluster-fold.ts";
import { decodeEnvelope } from "../src/core/envelope.ts";
import { decodeEvent } from "../src/families/registry.ts";
import type { SparseUpdate } from "../src/families/accelerator-allocation/schemas.ts";
import { generateIdentity } from "../src/governance/identity.ts";
import { readRecording } from "../src/replay/recording.ts";
import { runScenario } from "../src/run/run-scenario.ts";

type RoundBytes = { readonly delta: number; readonly full: number };
type Measured = { readonly label: string; readonly rounds: number; readonly gap: number | null; readonly perRound: ReadonlyMap<number, RoundBytes> };

const { values } = parseArgs({ options: { scenario: { type: "string" }, nats: { type: "string" } } });
const scenario = await loadScenarioOf(clusterScenarios, values.scenario ?? "gavel-256", PROJECT_ROOT);
if (scenario.admm.censor === 0) throw new Error(`${scenario.name} sets admm.censor to 0: there is no censored run to compare`);
const dir = await mkdtemp(path.join(tmpdir(), "catopt-delta-sync-"));
try {
  const censored = await measure(scenario, `censored (${scenario.admm.censor})`, path.join(dir, "censored.catrec"));
  const everyChange = await measure({ ...scenario, admm: { ...scenario.admm, censor: 0 } }, "every change", path.join(dir, "every.catrec"));
  const runs = [censored, everyChange];
  console.log(
    `delta-sync: ${scenario.name}, ${scenario.cluster.nodes.length} node agents, ${scenario.cluster.jobs.length} jobs; bytes per round, node-deltas + cluster plan`,
  );
  for (const run of runs) console.log(`  ${run.label.padEnd(22)} ${run.rounds} rounds, gap to HiGHS ${run.gap?.toExponential(2)}`);
  console.log("  rounds          censored   every change   full vectors   censored / full");
  for (const [from, to] of windows(Math.max(...runs.map((r) => r.rounds)))) {
    const [c, e] = runs.map((run) => average(run.perRound, from, to));
    const full = average(censored.perRound, from, to, "full");
    const cell = (x: number | null) => (x === null ? "-" : String(Math.round(x))).padStart(12);
    const ratio = c === null || full === null ? null : c / full;
    console.log(
      `  ${`${from}-${to}`.padEnd(11)} ${cell(c)}   ${cell(e)}   ${cell(full)}   ${ratio === null ? "       -" : ratio.toFixed(3).padStart(8)}  ${ratio === null ? "" : bar(ratio)}`,
    );
  }
  const total = (run: Measured, key: keyof RoundBytes) => [...run.perRound.values()].reduce((sum, row) => sum + row[key], 0);
  const fullTotal = total(censored, "full");
  console.log(`  to convergence: censored ${total(censored, "delta")} B, every change ${total(everyChange, "delta")} B, full vectors ${fullTotal} B`);
  console.log(
    `  ratio censored / full vectors ${(total(censored, "delta") / fullTotal).toFixed(3)}, every change / full vectors ${(total(everyChange, "delta") / total(everyChange, "full")).toFixed(3)}`,
  );
  const peak = Math.max(...windows(censored.rounds).map(([from, to]) => average(censored.perRound, from, to) ?? 0));
  const last = average(censored.perRound, censored.rounds - 9, censored.rounds) ?? 0;
  console.log(`  censored bytes per round: last 10 rounds ${Math.round(last)} / busiest tenth of the run ${Math.round(peak)} = ${(last / peak).toFixed(3)}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}

/** One run over NATS, recorded, and the stored bytes per round beside full-vector messages. */
async function measure(run: ClusterScenario, label: string, file: string): Promise<Measured> {
  const report = await runScenario(withFamily(clusterScenarios, run), {
    url: values.nats,
    record: file,
    onNote: (line) => console.error(line),
    onRound: (state) => state.round % 50 === 0 && process.stderr.write(`\r  ${label}: round ${state.round}`),
  });
  process.stderr.write("\r\x1b[K");
  if (!report.converged) throw new Error(`${label}: ${report.status} after ${report.rounds} rounds`);
  const { messages } = await readRecording(file);
  const signer = generateIdentity("bench"); // signatures are 64 bytes whoever signs: sizes match the run's
  const dense = (update: SparseUpdate, vector: number[]): SparseUpdate => {
    applyUpdate(vector, update);
    return { index: [], value: [...vector] };
  };
  // Full lengths come from the problem as opened: columns per node, coupled resources.
  const events = messages.map((m) => ({ subject: m.subject, size: m.data.length, event: decodeEvent(decodeEnvelope(m.data).event) }));
  const open = events.find((e) => e.event.schema === "cluster-open/1")?.event;
  if (open?.schema !== "cluster-open/1") throw new Error("the recording holds no cluster-open event");
  const { decomposition } = derivedOf(open.body);
  const nodes = new Map<string, number[]>(open.body.cluster.nodes.map((n, i) => [n.name, new Array<number>(decomposition.nodes[i].columns.length).fill(0)]));
  const signal = new Array<number>(decomposition.coupling.resources).fill(0);
  const perRound = new Map<number, RoundBytes>();
  for (const { subject, size, event } of events) {
    let full: number;
    if (event.schema === "node-delta/1")
      full = envelopeBytes({ ...event, body: dense(event.body, nodes.get(subject.split(".")[4] as string) ?? []) }, signer).length;
    else if (event.schema === "cluster-plan/1")
      full = envelopeBytes({ ...event, body: { ...event.body, signal: dense(event.body.signal, signal) } }, signer).length;
    else continue;
    if (event.round < 1) continue;
    const row = perRound.get(event.round) ?? { delta: 0, full: 0 };
    perRound.set(event.round, { delta: row.delta + size, full: row.full + full });
  }
  return { label, rounds: report.rounds, gap: report.gap, perRound };
}

/** The rounds in tenths. */
function windows(last: number): [number, number][] {
  const size = Math.ceil(last / 10);
  const out: [number, number][] = [];
  for (let from = 1; from <= last; from += size) out.push([from, Math.min(last, from + size - 1)]);
  return out;
}

function average(perRound: ReadonlyMap<number, RoundBytes>, from: number, to: number, key: keyof RoundBytes = "delta"): number | null {
  const rows = [...perRound.entries()].filter(([r]) => r >= from && r <= to).map(([, row]) => row[key]);
  return rows.length === 0 ? null : rows.reduce((a, b) => a + b, 0) / rows.length;
}

function bar(share: number): string {
  return "#".repeat(Math.round(Math.min(1, share) * 30));
}
