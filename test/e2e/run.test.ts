import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { suite } from "uvu";
import * as assert from "uvu/assert";
// Through the public barrel, as a program embedding catopt-flow would.
import {
  connectTo,
  EVENTS_STREAM,
  isCatoptError,
  energyQpScenarios,
  loadScenarioOf,
  readRecording,
  readToEnd,
  replayMessages,
  runScenario,
  startEmbeddedServer,
  stateHash,
  tenantSubjects,
  withFamily,
  type EmbeddedServer,
  type Scenario,
} from "../../src/index.ts";
import { PROJECT_ROOT } from "../../src/bus/embedded-server.ts";

// One real nats-server for the suite: runs of the cosmos scenario over JetStream, checked
// against HiGHS and by replay from the live stream and from the recording.
const run = suite("a scenario run over a real nats-server");
let server: EmbeddedServer;
let scenario: Scenario;
let dir: string;

run.before(async () => {
  server = await startEmbeddedServer();
  scenario = await loadScenarioOf(energyQpScenarios, "cosmos-3asset", PROJECT_ROOT);
  dir = await mkdtemp(path.join(tmpdir(), "catopt-run-"));
});
run.after(async () => {
  await server?.stop();
});

run("the distributed plan matches HiGHS, meets every constraint, and replays to the live hash", async () => {
  const record = path.join(dir, "run.catrec");
  const rounds: number[] = [];
  const report = await runScenario(withFamily(energyQpScenarios, scenario), { url: server.url, record, onRound: (p) => rounds.push(p.round) });
  assert.ok(report.converged, report.status);
  assert.ok((report.gap ?? 1) < 1e-4, `gap ${report.gap}`);
  assert.ok((report.max_violation ?? 1) < 1e-6, `violation ${report.max_violation}`);
  assert.is(report.rejected, 0);
  assert.equal(
    rounds,
    Array.from({ length: report.rounds }, (_, i) => i + 1),
    "progress once per round, in order",
  );
  assert.ok(report.agents.every((a) => a.status === "converged"));

  assert.is(report.replay_state_hash, report.state_hash);
  const recording = await readRecording(record);
  assert.is(stateHash(replayMessages(recording.messages, report.governance)), report.state_hash);
  assert.is(recording.header.governance, report.governance);
  assert.is(recording.header.referenceObjective, report.reference_objective);

  const nc = await connectTo(server.url);
  try {
    const live = await readToEnd(jetstream(nc), EVENTS_STREAM, { filter: tenantSubjects("cosmos") });
    assert.is(stateHash(replayMessages(live, report.governance, { tenant: "cosmos", problem: "sol-energy" })), report.state_hash);
  } finally {
    await nc.drain();
  }
});

run("a second run of the same problem id is refused; under a new id it runs beside the first", async () => {
  try {
    await runScenario(withFamily(energyQpScenarios, scenario), { url: server.url });
    assert.unreachable("re-ran a problem id the stream already holds");
  } catch (err) {
    assert.ok(isCatoptError(err, "STREAM_CONFLICT"), String(err));
    assert.match((err as Error).message, "--problem-id");
  }
  const second = await runScenario(withFamily(energyQpScenarios, scenario), { url: server.url, problemId: "sol-energy-2" });
  assert.ok(second.converged);
  assert.is(second.replay_state_hash, second.state_hash);
});

run("an infeasible scenario stops before touching NATS, naming the file", async () => {
  const tight = { ...scenario, spec: { ...scenario.spec, constraints: [{ name: "tiny", coefficients: { t08: 1 }, limit: 10 }] } };
  try {
    await runScenario(withFamily(energyQpScenarios, tight), { url: "nats://127.0.0.1:1" });
    assert.unreachable("ran an infeasible problem");
  } catch (err) {
    assert.ok(isCatoptError(err, "PROBLEM_INFEASIBLE"), String(err));
    assert.match((err as Error).message, "infeasible");
  }
});

run.run();
