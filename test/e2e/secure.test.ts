import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  clusterScenarios,
  energyQpScenarios,
  loadScenarioOf,
  readRecording,
  replayMessages,
  runScenario,
  startEmbeddedServer,
  stateHash,
  withFamily,
  type EmbeddedServer,
  type Scenario,
} from "../../src/index.ts";
import { PROJECT_ROOT } from "../../src/bus/embedded-server.ts";
import { verifyMessage } from "../../src/governance/admission.ts";
import { generateIdentity } from "../../src/governance/identity.ts";
import { saveIdentity } from "../../src/governance/keystore.ts";
import { decodeEnvelope } from "../../src/core/envelope.ts";
import type { StreamMessage } from "../../src/core/stream-message.ts";

// Secure aggregation end to end on a real nats-server: the coordinator, the stream, the ledger
// and every replay hold masked words and reveals, never an agent's values.
const secure = suite("secure aggregation over a real nats-server");
let server: EmbeddedServer;
let scenario: Scenario;
let dir: string;
let recorded: { file: string; governance: string; stateHash: string; values: Record<string, Readonly<Record<string, number>>> };

secure.before(async () => {
  server = await startEmbeddedServer();
  scenario = await loadScenarioOf(energyQpScenarios, "cosmos-3asset", PROJECT_ROOT);
  dir = await mkdtemp(path.join(tmpdir(), "catopt-secure-"));
});
secure.after(async () => {
  await server?.stop();
});

/** msgpack float64 (0xcb, big-endian) of each value, and its 64-bit fixed point word: how a plaintext value would sit in a recording. */
function plaintextsOf(values: Readonly<Record<string, number>>, fractionBits: number): Buffer[] {
  return Object.values(values)
    .filter((x) => Math.abs(x) > 1)
    .flatMap((x) => {
      const float = Buffer.alloc(9);
      float[0] = 0xcb;
      float.writeDoubleBE(x, 1);
      const word = Buffer.alloc(8);
      word.writeBigUInt64BE(BigInt.asUintN(64, BigInt(Math.round(x * 2 ** fractionBits))));
      return [float, word];
    });
}

secure("cosmos-3asset secure against plain: the same plan, and the recording holds masked words only", async () => {
  assert.ok(scenario.spec.secure !== undefined, "secure by default");
  const file = path.join(dir, "secure.catrec");
  const plainFile = path.join(dir, "plain.catrec");
  const report = await runScenario(withFamily(energyQpScenarios, scenario), { url: server.url, record: file });
  const { secure: _on, ...plainSpec } = scenario.spec;
  const plain = await runScenario(withFamily(energyQpScenarios, { ...scenario, spec: plainSpec }), {
    url: server.url,
    record: plainFile,
    problemId: "sol-energy-plain",
  });
  assert.equal([report.status, plain.status], ["converged", "converged"]);
  assert.ok(
    Math.abs((report.objective ?? 0) - (plain.objective ?? 1)) <= 1e-9 * Math.abs(plain.objective ?? 1),
    `objective ${report.objective} against plain ${plain.objective}`,
  );
  assert.ok((report.gap ?? 1) < 1e-6 && (report.max_violation ?? 1) < 1e-6, `gap ${report.gap}, violation ${report.max_violation}`);
  assert.is(report.replay_state_hash, report.state_hash);

  const recording = await readRecording(file);
  assert.is(stateHash(replayMessages(recording.messages, report.governance)), report.state_hash, "a replay of the recording reaches the live hash");
  const schemas = new Set(recording.messages.flatMap((m) => (m.subject.includes(".delta.") ? [verifyMessage(m.data).event.schema] : [])));
  assert.equal([...schemas].sort(), ["join/2", "masked/1", "reveal/1"], "agents sent masked contributions and reveals, never a delta");

  // No agent's final values, as msgpack floats or as fixed-point words, appear anywhere in the secure recording; in the plain one they do.
  const values = Object.fromEntries(report.agents.map((a) => [a.agent, a.values ?? {}]));
  const f = scenario.spec.secure?.fractionBits ?? 0;
  const [secureBytes, plainBytes] = [await readFile(file), await readFile(plainFile)];
  const plaintexts = Object.values(values).flatMap((v) => plaintextsOf(v, f));
  assert.ok(plaintexts.length >= 20);
  assert.equal(
    plaintexts.filter((p) => secureBytes.includes(p)),
    [],
  );
  const plainValues = Object.values(Object.fromEntries(plain.agents.map((a) => [a.agent, a.values ?? {}]))).flatMap((v) => plaintextsOf(v, f));
  assert.ok(
    plainValues.some((p) => plainBytes.includes(p)),
    "the search finds values where they are (a plain recording)",
  );
  recorded = { file, governance: report.governance, stateHash: report.state_hash, values };
});

secure("a flipped masked word makes the fold refuse that message and the round that took it", async () => {
  const { messages } = await readRecording(recorded.file);
  const target = messages.findIndex(
    (m) => m.subject.endsWith(".delta.sol-energy.rover") && verifyMessage(m.data).event.schema === "masked/1" && verifyMessage(m.data).event.round === 5,
  );
  assert.ok(target > 0);
  const event = decodeEnvelope(messages[target].data).event;
  const at = Buffer.from(messages[target].data).indexOf(Buffer.from(event)) + event.length - 200; // inside the words, before the shares
  const flipped: StreamMessage = { ...messages[target], data: Uint8Array.from(messages[target].data, (b, i) => (i === at ? b ^ 0x10 : b)) };
  const replayed = replayMessages(
    messages.map((m, i) => (i === target ? flipped : m)),
    recorded.governance,
  );
  assert.not.equal(stateHash(replayed), recorded.stateHash);
  const reasons = replayed.rejected.map((r) => r.reason);
  assert.ok(
    replayed.rejected.some((r) => r.seq === flipped.seq),
    `the flipped message is refused: ${reasons.slice(0, 3).join(" | ")}`,
  );
  assert.ok(
    reasons.some((r) => /round 5 took .*masked.*rover, which the stream has not delivered/.test(r)),
    `round 5 is refused: ${reasons.slice(0, 3).join(" | ")}`,
  );
});

secure("cosmos-leave secure: the round the drone leaves is tried again without it, and the rest converge to their optimum", async () => {
  const leaving = await loadScenarioOf(energyQpScenarios, "cosmos-leave", PROJECT_ROOT);
  assert.ok(leaving.spec.secure !== undefined);
  const file = path.join(dir, "leave.catrec");
  const report = await runScenario(withFamily(energyQpScenarios, leaving), { url: server.url, record: file, problemId: "sol-energy-leave" });
  assert.is(report.status, "converged");
  assert.ok((report.gap ?? 1) < 1e-6, `gap ${report.gap} to the optimum without the drone`);
  const attempts = (await readRecording(file)).messages.filter(
    (m) => m.subject.endsWith(".round.sol-energy-leave") && verifyMessage(m.data).event.schema === "attempt/1",
  );
  assert.ok(attempts.length <= 1, "at most one attempt (none when the leave came between rounds)");
  assert.is(report.replay_state_hash, report.state_hash);
});

secure("with noise: the run spends its tenant's budget over its rounds, the spend replays, and a second problem finds none left", async () => {
  const json = JSON.parse(await readFile(path.join(PROJECT_ROOT, "scenarios", "cosmos-3asset", "scenario.json"), "utf8"));
  const noisy = energyQpScenarios.parse({ ...json, privacy: { epsilon: 500, delta: 1e-6, clip: 1000, rounds: 12 } }, "noisy.json");
  // One deployment, one trust root for both runs: its governance's budget and grants carry over.
  const keys = path.join(dir, "noisy-keys");
  for (const name of ["governance", "coordinator", ...noisy.spec.agents]) await saveIdentity(keys, generateIdentity(name));
  try {
    await runScenario(withFamily(energyQpScenarios, noisy), { url: server.url, problemId: "sol-energy-0.5", keys });
    assert.unreachable("ran a problem id with a dot");
  } catch (err) {
    assert.match((err as Error).message, /problem id "sol-energy-0.5" must be 1-64 letters/, "refused, not a run that waits forever on subjects nobody reads");
  }
  const report = await runScenario(withFamily(energyQpScenarios, noisy), { url: server.url, problemId: "sol-energy-noisy", keys });
  assert.is(report.status, "max-rounds", "it ran the rounds it declared");
  assert.is(report.rounds, 12);
  const privacy = report.privacy;
  if (privacy === null) throw new Error("a run with noise reports its spend");
  assert.ok(privacy.epsilon <= 500 && privacy.epsilon > 499, `epsilon ${privacy.epsilon} of 500`);
  assert.is(report.replay_state_hash, report.state_hash, "a replay spends the same");
  assert.ok(report.objective !== null && report.gap !== null, "the run, which holds every agent, states the objective the fold cannot");

  const again = await runScenario(withFamily(energyQpScenarios, noisy), { url: server.url, problemId: "sol-energy-noisy-again", keys });
  assert.is(again.status, "budget-exhausted", "the tenant's budget is spent: the problem ends at round 0");
  assert.is(again.rounds, 0);
  assert.is(again.privacy?.rho_held, 0);
});

secure("gavel-small secure: the nodes' accelerator-time masked, the plan within 1e-3 of HiGHS, the recording holding masked words only", async () => {
  const json = JSON.parse(await readFile(path.join(PROJECT_ROOT, "scenarios", "gavel-small", "scenario.json"), "utf8"));
  const cluster = clusterScenarios.parse({ ...json, secure: true }, "gavel-small (secure)");
  assert.ok(cluster.secure !== undefined);
  const file = path.join(dir, "gavel-secure.catrec");
  const report = await runScenario(withFamily(clusterScenarios, cluster), { url: server.url, record: file, problemId: "gavel-small-secure" });
  assert.is(report.status, "converged");
  assert.ok((report.gap ?? 1) < 1e-3 && (report.max_violation ?? 1) <= 1e-6, `gap ${report.gap}, violation ${report.max_violation}`);
  assert.is(report.secure.on, true);
  assert.is(report.replay_state_hash, report.state_hash);
  assert.is(report.tenant_plans?.rejected, 0);
  const recording = await readRecording(file);
  const schemas = new Set(recording.messages.flatMap((m) => (m.subject.includes(".delta.") ? [verifyMessage(m.data).event.schema] : [])));
  assert.equal([...schemas].sort(), ["masked/1", "node-join/1", "reveal/1"], "nodes sent masked contributions and reveals, never a delta");
});

secure.run();
