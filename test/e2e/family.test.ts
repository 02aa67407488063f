import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runAgent } from "../../src/agent/agent-runner.ts";
import { startEmbeddedServer, type EmbeddedServer } from "../../src/bus/embedded-server.ts";
import { openBus, type BusSession } from "../../src/bus/session.ts";
import { EVENTS_STREAM } from "../../src/bus/streams.ts";
import { governanceSubject, tenantSubjects } from "../../src/core/subjects.ts";
import { runCoordinator } from "../../src/coordinator/coordinator-runner.ts";
import { FAMILIES, registerFamily } from "../../src/families/registry.ts";
import { admitEvent } from "../../src/governance/governance-events.ts";
import { generateIdentity } from "../../src/governance/identity.ts";
import { publishEvent } from "../../src/governance/signed-publish.ts";
import { readToEnd, replayMessages } from "../../src/replay/replay.ts";
import { stateHash } from "../../src/replay/state-hash.ts";
import { summarize } from "../../src/replay/summary.ts";
import { runScenario } from "../../src/run/run-scenario.ts";
import { loadScenario, parseAnyScenario } from "../../src/run/scenario-files.ts";
import { tallyAgent, tallyFamily, tallyOpen } from "../helpers/tally-family.ts";

// A family defined only under test/ (helpers/tally-family.ts), run end to end by the engine on
// a real nats-server: its coordinator, its agents, the fold, replay and summary all reach it
// through the registry, with no engine file that knows it.
const family = suite("a problem family from outside the engine, run end to end");
let server: EmbeddedServer;
let bus: BusSession;

family.before(async () => {
  server = await startEmbeddedServer();
  bus = await openBus({ url: server.url });
  registerFamily(tallyFamily);
});
family.after(async () => {
  await bus?.close();
  await server?.stop();
});

family("the engine runs the tally: agents join, rounds close, plans converge to the mean of private targets, and replay agrees", async () => {
  const targets: Record<string, number> = { north: 3, south: -1, east: 10.5 };
  const [tenant, problem] = ["survey", "census"];
  const governance = generateIdentity("governance");
  const coordinator = generateIdentity("coordinator");
  const agents = Object.fromEntries(Object.keys(targets).map((name) => [name, generateIdentity(name)]));
  await publishEvent(bus.js, governanceSubject(tenant, "admit"), admitEvent(tenant, coordinator.did, "coordinator", "coordinator"), governance);
  for (const [name, id] of Object.entries(agents))
    await publishEvent(bus.js, governanceSubject(tenant, "admit"), admitEvent(tenant, id.did, "agent", name), governance);

  const running = Object.entries(targets).map(async ([name, target]) =>
    runAgent({
      nc: await bus.connect(`tally-${name}`),
      tenant,
      problem,
      agent: tallyAgent(tenant, problem, name, target),
      planTimeoutMs: 20_000,
      signer: agents[name],
      trustRoot: governance.did,
    }),
  );
  const open = tallyOpen(tenant, problem, { agents: Object.keys(targets), tolerance: 1e-9, maxRounds: 200 });
  const outcome = await runCoordinator({ nc: bus.nc, tenant, problem, open, roundTimeoutMs: 10_000, signer: coordinator, trustRoot: governance.did });
  const agentOutcomes = await Promise.all(running);

  assert.is(outcome.status, "converged", outcome.error ?? "");
  assert.ok(
    agentOutcomes.every((a) => a.status === "converged"),
    JSON.stringify(agentOutcomes.map((a) => a.error)),
  );
  const summary = summarize(outcome.replay, outcome.problem, { scenario: null, tenant, problem, referenceObjective: 12.5 / 3 });
  assert.ok((summary.gap ?? 1) < 1e-8, `the plan's mean ${summary.objective} is the targets' mean`);
  assert.ok(summary.rounds > 10 && summary.rounds < 60, `${summary.rounds} rounds`);
  assert.is(summary.rejected, 0);

  const messages = await readToEnd(bus.js, EVENTS_STREAM, { filter: tenantSubjects(tenant) });
  const replayed = replayMessages(
    messages.filter((m) => m.seq <= outcome.replay.lastSeq),
    governance.did,
    { tenant, problem },
  );
  assert.is(stateHash(replayed), stateHash(outcome.replay), "replay reaches the live state");
});

family("a tally scenario file runs through the one run orchestration: its agents, coordinator, ledger and replay, as any family's", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "catopt-tally-"));
  try {
    const file = path.join(dir, "tally.json");
    await writeFile(
      file,
      JSON.stringify({
        format: "tally-scenario/1",
        name: "census",
        tenant: "survey",
        problem: "census-run",
        targets: { north: 3, south: -1, east: 10.5 },
        tolerance: 1e-9,
        maxRounds: 200,
      }),
    );
    const loaded = await loadScenario(file, dir);
    assert.is(loaded.family, tallyFamily);
    const notes: string[] = [];
    const report = await runScenario(loaded, { onNote: (line) => notes.push(line) });
    assert.ok(report.converged, `${report.status} after ${report.rounds} rounds`);
    assert.ok((report.gap ?? 1) < 1e-8, `gap ${report.gap} to the mean of the targets`);
    assert.is(report.replay_state_hash, report.state_hash);
    assert.ok(report.ledger?.verified, report.ledger?.problem ?? "no ledger");
    assert.equal(
      report.agents.map((a) => a.status),
      ["converged", "converged", "converged"],
    );
    assert.ok(
      notes.some((n) => n.startsWith("embedded nats-server")),
      notes.join("\n"),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

family("a scenario file of a format no family knows is refused, naming the known formats and the nearest", () => {
  assert.throws(
    () => parseAnyScenario({ format: "taly-scenario/1" }, "x.json"),
    (err: Error) =>
      err.message.includes(
        'x.json: scenario.format: unknown format "taly-scenario/1" (did you mean "tally-scenario/1"?); known: catopt-scenario/1, catopt-cluster/1, tally-scenario/1',
      ),
  );
  assert.throws(
    () => parseAnyScenario({}, "x.json"),
    (err: Error) => err.message.includes("x.json: scenario.format: missing; known:"),
  );
  // The file's own value is echoed short, however long it is.
  assert.throws(
    () => parseAnyScenario({ format: "x".repeat(200_000) }, "x.json"),
    (err: Error) => err.message.length < 200 && err.message.includes('unknown format "xxxx'),
  );
});

family("a family whose name or schemas are taken is refused", () => {
  assert.ok(FAMILIES.includes(tallyFamily));
  assert.throws(() => registerFamily(tallyFamily), /a problem family named tally is registered already/);
  assert.throws(() => registerFamily({ ...tallyFamily, name: "tally-again" }), /schema tally-open\/1 belongs to tally already/);
});

family.run();
