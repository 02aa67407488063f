import { energyQpScenarios } from "../../src/families/energy-qp/scenario-format.ts";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { PROJECT_ROOT } from "../../src/bus/embedded-server.ts";
import { startLocalCluster, type LocalCluster } from "../../src/bus/local-cluster.ts";
import { openBus, type BusSession } from "../../src/bus/session.ts";
import { localSecurity, type LocalSecurity } from "../../src/governance/local-security.ts";
import { retrying } from "../../src/bus/retry.ts";
import { EVENTS_STREAM } from "../../src/bus/streams.ts";
import { loadScenarioOf, withFamily } from "../../src/run/scenario-files.ts";
import { startGovernance, type GovernanceConsumer } from "../../src/governance/governance-consumer.ts";
import { generateIdentity, type Identity } from "../../src/governance/identity.ts";
import { saveIdentity } from "../../src/governance/keystore.ts";
import { verifyLedgerStream } from "../../src/governance/ledger-source.ts";
import { readToEnd } from "../../src/replay/replay.ts";
import { runScenario } from "../../src/run/run-scenario.ts";

// A 3-node JetStream cluster on loopback, streams with 3 replicas; the server that leads the
// event stream is killed mid-run. The run must complete: publishes retry through the election,
// the stream's sequences stay contiguous, the ledger verifies and replay gives the live hash.
const failover = suite("a run on a 3-node JetStream cluster that loses a server");
let cluster: LocalCluster;
let bus: BusSession;
let governance: GovernanceConsumer;
let keys: string;
let security: LocalSecurity;
const ids: Record<string, Identity> = {};

failover.before(async () => {
  keys = path.join(await mkdtemp(path.join(tmpdir(), "catopt-failover-")), "keys");
  for (const name of ["governance", "coordinator", "rover", "drone", "habitat"]) {
    ids[name] = generateIdentity(name);
    await saveIdentity(keys, ids[name]);
  }
  // Secured as a deployment is: operator mode, TLS for clients and for the routes between the servers.
  security = await localSecurity(ids.governance);
  const own = { access: security.service, tls: security.clientTls };
  cluster = await startLocalCluster(3, { serverConfig: security.serverConfig, routeTls: security.tls, probe: own });
  bus = await openBus({ url: cluster.url, replicas: 3, security: own });
  governance = await startGovernance({ nc: await bus.connect("governance"), signer: ids.governance, origin: "catopt.test/ledger" });
});
failover.after(async () => {
  await governance?.stop();
  await bus?.close();
  await cluster?.stop();
  await security?.close();
});

failover("killing the event stream's leader at round 20: the run converges, contiguous, verified, replayable", async () => {
  const info = await bus.jsm.streams.info(EVENTS_STREAM);
  assert.is(info.config.num_replicas, 3);
  const leader = info.cluster?.leader;
  if (leader === undefined) throw new Error("no stream leader");
  const victim = Number(/catopt-n(\d+)/.exec(leader)?.[1]) - 1;
  let killed: Promise<void> | undefined;
  const loaded = await loadScenarioOf(energyQpScenarios, "cosmos-3asset", PROJECT_ROOT);
  // A round may wait out an election and the clients' move to a live server: seconds, not the 10 s default.
  const scenario = { ...loaded, roundTimeoutMs: 60_000 };
  const report = await runScenario(withFamily(energyQpScenarios, scenario), {
    url: cluster.url,
    keys,
    security,
    onRound: (p) => {
      if (p.round === 20) killed ??= cluster.kill(victim);
    },
  });
  await killed;
  assert.ok(killed !== undefined, "the leader was killed mid-run");
  assert.ok(report.converged, report.status);
  assert.ok((report.gap ?? 1) < 1e-4, `gap ${report.gap}`);
  assert.is(report.replay_state_hash, report.state_hash);
  const after = await retrying(() => bus.jsm.streams.info(EVENTS_STREAM));
  assert.is.not(after.cluster?.leader, leader, "a new leader took over");
  const stream = await readToEnd(bus.js, EVENTS_STREAM);
  assert.equal(
    stream.map((m) => m.seq),
    Array.from({ length: stream.length }, (_, i) => i + 1),
    "no gap in the stream's sequences",
  );
  assert.is(stream.length, after.state.messages);
  await governance.caughtUp(after.state.last_seq);
  const ledger = await verifyLedgerStream(bus.js, ids.governance.did, governance.summary().vkey);
  assert.is(ledger.problem, null, JSON.stringify(ledger.problem));
  assert.is(ledger.size, stream.length, "every event is in the ledger");
});

failover.run();
