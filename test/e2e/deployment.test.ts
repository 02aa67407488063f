import { execFileSync } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startEmbeddedServer, type EmbeddedServer } from "../../src/bus/embedded-server.ts";
import { openBus } from "../../src/bus/session.ts";
import { EVENTS_STREAM } from "../../src/bus/streams.ts";
import { readToEnd } from "../../src/replay/replay.ts";
import { isOneLineError, lastJson, runCli, startCli, type Outcome } from "../helpers/cli.ts";
import { publishEvent } from "../../src/governance/signed-publish.ts";
import { eventId, type CatoptEvent } from "../../src/core/event.ts";
import { planSubject } from "../../src/core/subjects.ts";
import { generateIdentity } from "../../src/governance/identity.ts";

// The catopt command as separate processes on one nats-server: agents per node, a coordinator, watch, replay, and what a
// deployment does when a process or its server goes away (test/e2e/cli.test.ts holds the commands on their own).
const deployment = suite("agents, coordinator and watcher as separate processes on one server");
let server: EmbeddedServer;
let dir: string;
deployment.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "catopt-deployment-"));
  server = await startEmbeddedServer();
});
deployment.after(async () => {
  await server?.stop();
});

deployment("agents started per node and a coordinator converge; watch sees the final plan; replay of the stream gives the coordinator's hash", async () => {
  const nats = ["--nats", server.url];
  const streams = await runCli(["streams", "apply", ...nats]);
  assert.is(streams.code, 0, streams.stderr);
  assert.match(streams.stdout, "CATOPT_EVENTS: created");
  assert.match((await runCli(["streams", "apply", ...nats])).stdout, "CATOPT_EVENTS: unchanged");

  // An operator's setup: a key per identity, then the governance identity admits each one.
  const keys = ["--keys", path.join(dir, "deployment-keys")];
  const dids: Record<string, string> = {};
  for (const name of ["governance", "coordinator", "rover", "drone", "habitat"]) {
    const made = await runCli(["id", "new", "--name", name, "--json", ...keys]);
    assert.is(made.code, 0, made.stderr);
    dids[name] = lastJson<{ did: string }>(made).did;
  }
  for (const [name, role] of [
    ["coordinator", "coordinator"],
    ["rover", "agent"],
    ["drone", "agent"],
    ["habitat", "agent"],
  ]) {
    const admitted = await runCli(["governance", "admit", "--tenant", "cosmos", "--role", role, "--name", name, "--did", dids[name], ...keys, ...nats]);
    assert.is(admitted.code, 0, admitted.stderr);
    assert.match(admitted.stdout, `admitted ${dids[name]} in cosmos`);
  }

  // Governance also approves the adapter, and tries to register a schema version that breaks
  // backward-transitive compatibility: the governance service must quarantine that one.
  const breaking = path.join(dir, "telemetry-2.json");
  await writeFile(
    breaking,
    JSON.stringify({
      name: "telemetry",
      version: 2,
      fields: [
        { name: "source", type: "string", required: true },
        { name: "site", type: "string", required: true },
      ],
    }),
  );
  for (const args of [
    ["register", "--schema", breaking],
    ["approve", "--adapter", "energy-asset"],
  ]) {
    const published = await runCli(["governance", ...args, "--tenant", "cosmos", ...keys, ...nats]);
    assert.is(published.code, 0, published.stderr);
  }

  // The deployment's governance service writes the ledger while the run goes on.
  const governanceService = startCli(["governance", "run", "--every", "50", ...keys, ...nats]);

  // A stranger publishes a "converged" plan first, under the id of the real plan of round 1:
  // agents and the watcher act only on plans of an admitted coordinator, and the real plan still lands.
  const stranger = await openBus({ url: server.url });
  const forged: CatoptEvent<"plan/1"> = {
    schema: "plan/1",
    id: eventId("cosmos", "sol-energy", "plan", 1),
    tenant: "cosmos",
    problem: "sol-energy",
    round: 1,
    base: 0,
    body: { status: "converged", rho: 1, signal: { t08: 0 }, allocations: { rover: { t08: 999 } }, objective: 0, primal: 0, dual: 0, epsPrimal: 1, epsDual: 1 },
  };
  await publishEvent(stranger.js, planSubject("cosmos", "sol-energy"), forged, generateIdentity("stranger"));
  await stranger.close();

  // Agents first: they wait for the coordinator to open the problem.
  const agents = ["rover-1", "drone-1", "habitat-1"].map((node) => runCli(["agent", "--scenario", "cosmos-3asset", "--node", node, ...keys, ...nats]));
  const watch = runCli(["watch", "catopt.cosmos.plan.sol-energy", "--all", "--until-final", ...keys, ...nats]);
  const coordinator = await runCli(["coordinator", "--scenario", "cosmos-3asset", "--json", ...keys, ...nats]);
  assert.is(coordinator.code, 0, coordinator.stderr);
  // A plain server still works, and says so once.
  assert.match(coordinator.stderr, `catopt: warning: connecting to ${server.url} without credentials`);
  const outcome = lastJson<Outcome>(coordinator);
  assert.ok(outcome.converged);
  for (const agent of await Promise.all(agents)) {
    assert.is(agent.code, 0, agent.stderr);
    assert.match(agent.stdout, "converged after");
  }
  const watched = await watch;
  assert.is(watched.code, 0, watched.stderr);
  assert.match(watched.stdout, `round ${outcome.rounds} converged`);
  assert.match(watched.stderr, "refused, unknown signer");
  assert.not.match(watched.stdout, "999", "the forged plan is not printed as a plan");
  // The plan topic carries the shared signal, and no agent's values (plan/2).
  assert.match(watched.stdout, "signal       t08=");
  assert.not.match(watched.stdout, "habitat", "no agent's allocation reaches a watcher of the plan topic");

  const replay = await runCli(["replay", ...nats, "--stream", "CATOPT_EVENTS", "--json", "--governance", dids.governance]);
  assert.is(replay.code, 0, replay.stderr);
  assert.is(lastJson<Outcome>(replay).state_hash, outcome.state_hash);
  governanceService.signal("SIGINT");
  const service = await governanceService.done;
  assert.is(service.code, 0, service.stderr);
  assert.match(service.stdout, "stopped:");
  const ledger = await runCli(["ledger", "verify", "--json", "--governance", dids.governance, ...nats]);
  assert.is(ledger.code, 0, ledger.stderr);
  const ledgerReport = lastJson<{ verified: boolean; tree_size: number; checkpoint_size: number }>(ledger);
  // The coordinator folds the tenant's governance events too, refused ones counted as rejected.
  // Every stream message has a leaf: the problem's events (the refused ones as refusals) and the two quarantine notices.
  assert.ok(ledgerReport.verified && ledgerReport.tree_size === outcome.events + 2, JSON.stringify({ ledgerReport, outcome }));
  assert.is(outcome.rejected, 2, "the breaking schema registration and the stranger's plan");
  assert.is(ledgerReport.checkpoint_size, ledgerReport.tree_size, "the final checkpoint covers everything");
  const quarantine = await openBus({ url: server.url });
  try {
    const notices = await readToEnd(quarantine.js, EVENTS_STREAM, { filter: "catopt.cosmos.quarantine.>" });
    assert.equal(notices.map((m) => m.subject).sort(), ["catopt.cosmos.quarantine.incompatible-schema", "catopt.cosmos.quarantine.unknown-signer"]);
  } finally {
    await quarantine.close();
  }

  const unpinned = await runCli(["replay", ...nats, "--json"]);
  assert.match(unpinned.stderr, `trusting governance ${dids.governance}`);
  assert.is(lastJson<Outcome>(unpinned).state_hash, outcome.state_hash);
});

deployment("Ctrl-C makes an agent leave with a leave event: the coordinator stops waiting for it and the others converge", async () => {
  const common = ["--scenario", "cosmos-3asset", "--problem-id", "sol-leave", "--keys", path.join(dir, "deployment-keys"), "--nats", server.url];
  const drone = startCli(["agent", "--node", "drone-1", ...common]);
  const coordinator = runCli(["coordinator", "--json", ...common]);
  // The drone joins as soon as the problem opens; round 0 waits for the others, who are not up yet.
  const bus = await openBus({ url: server.url });
  try {
    while ((await readToEnd(bus.js, EVENTS_STREAM, { filter: "catopt.cosmos.delta.sol-leave.drone" })).length === 0)
      await new Promise((r) => setTimeout(r, 20));
  } finally {
    await bus.close();
  }
  drone.signal("SIGINT");
  const left = await drone.done;
  assert.is(left.code, 0, left.stderr);
  assert.match(left.stdout, "drone: left after");
  const others = await Promise.all(["rover-1", "habitat-1"].map((node) => runCli(["agent", "--node", node, ...common])));
  for (const agent of others) {
    assert.is(agent.code, 0, agent.stderr);
    assert.match(agent.stdout, "converged after");
  }
  const done = await coordinator;
  assert.is(done.code, 0, done.stderr);
  const outcome = lastJson<Outcome & { allocations: Record<string, unknown> }>(done);
  assert.ok(outcome.converged, JSON.stringify(outcome));
  // The rounds were secure: the coordinator holds the fleet's sums, no agent's values (each agent printed its own).
  assert.equal(outcome.allocations, {});
});

deployment(
  "on a problem that already ended, coordinator and agent say so with the --problem-id hint and exit; an agent waiting for its problem ends on the first SIGTERM",
  async () => {
    const common = ["--scenario", "cosmos-3asset", "--keys", path.join(dir, "deployment-keys"), "--nats", server.url];
    const [coordinator, agent] = await Promise.all([
      runCli(["coordinator", ...common], { timeoutMs: 20_000 }),
      runCli(["agent", "--node", "rover-1", ...common], { timeoutMs: 20_000 }),
    ]);
    for (const result of [coordinator, agent]) {
      assert.is(result.code, 1, result.stderr);
      assert.match(result.stderr, "cosmos/sol-energy already ended (converged after round");
      assert.match(result.stderr, "start another with --problem-id <new id>");
    }
    const waiting = startCli(["agent", "--node", "rover-1", ...common, "--problem-id", "sol-never-opened"], { timeoutMs: 20_000 });
    while (!waiting.stdout().includes("starting")) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    waiting.signal("SIGTERM");
    const ended = await waiting.done;
    assert.is.not(ended.code, null, "ended by itself, not killed at the time limit");
    assert.match(ended.stdout, "rover: left");
  },
);

deployment("Ctrl-C on run stops its embedded nats-server and removes its temporary store", async () => {
  const run = startCli(["run", "gavel-256"], { timeoutMs: 60_000 });
  const urlIn = (text: string) => /embedded nats-server at ((?:nats|tls):\/\/[0-9.:]+)/.exec(text)?.[1];
  while (urlIn(run.stdout()) === undefined) await new Promise((r) => setTimeout(r, 50));
  const url = urlIn(run.stdout());
  while (!run.stdout().includes("keys made for this run")) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 1500)); // mid-run: 64 node agents at work
  run.signal("SIGINT");
  const ended = await run.done;
  assert.is(ended.code, 130, ended.stderr);
  assert.match(ended.stderr, "interrupted; stopped the embedded nats-server");
  try {
    await openBus({ url });
    assert.unreachable("the embedded server still answers");
  } catch (err) {
    assert.match(String(err), "cannot reach NATS");
  }
});

deployment("a run whose embedded nats-server is killed mid-run ends with one clear line, never a stack trace", async () => {
  const run = startCli(["run", "gavel-256"], { timeoutMs: 90_000 });
  while (!run.stdout().includes("keys made for this run")) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 1500));
  const server = execFileSync("pgrep", ["-P", String(run.pid()), "nats-server"], { encoding: "utf8" }).trim();
  process.kill(Number(server), "SIGKILL");
  const ended = await run.done;
  assert.is(ended.code, 1, ended.stderr);
  assert.ok(!/\n\s+at /.test(ended.stderr), `no stack trace:\n${ended.stderr}`);
  assert.ok(
    ended.stderr
      .trim()
      .split("\n")
      .filter((l) => l.startsWith("catopt")).length === 1,
    ended.stderr,
  );
});

deployment("an agent without its key, and a malformed DID, each get one clear line", async () => {
  const noKey = await runCli(["agent", "--scenario", "cosmos-3asset", "--node", "rover-1", "--keys", path.join(dir, "empty-keys"), "--nats", server.url]);
  assert.is(noKey.code, 1);
  assert.match(noKey.stderr, 'no key named "rover"');
  assert.ok(isOneLineError(noKey.stderr), noKey.stderr);
  const badDid = await runCli(["id", "show", "--did", "did:key:z6LShLeXRTzevtwcfehaGEzCMyL3bNsAeKCwcqwJxyCo63yE"]);
  assert.is(badDid.code, 1);
  assert.match(badDid.stderr, "not an Ed25519 key");
});

deployment("commands that join a deployment say how to name one when none is given", async () => {
  const result = await runCli(["agent", "--scenario", "cosmos-3asset", "--node", "rover-1"]);
  assert.is(result.code, 2);
  assert.match(result.stderr, "pass --nats nats://host:4222 or set CATOPT_NATS_URL");
});

deployment(
  "README §7 on one machine: catopt server, agents and a coordinator with their own credentials; a viewer sees its tenant's plans, another tenant's viewer is refused",
  async () => {
    const keys = path.join(dir, "secured-keys");
    const env = { CATOPT_KEYS: keys };
    for (const name of ["governance", "coordinator", "rover", "drone", "habitat", "ops", "intruder"]) {
      assert.is((await runCli(["id", "new", "--name", name], { env })).code, 0);
    }
    const admit = "coordinator:cosmos:coordinator,agent:cosmos:rover,agent:cosmos:drone,agent:cosmos:habitat,viewer:cosmos:ops,viewer:other:intruder";
    const server = startCli(["server", "--dir", path.join(dir, "secured"), "--admit", admit], { env, timeoutMs: 90_000 });
    while (!server.stdout().includes("export CATOPT_NATS_URL")) {
      if (server.stderr().includes("catopt server:")) assert.unreachable(`catopt server ended: ${server.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const exported = /export (CATOPT_NATS_URL=\S+) (CATOPT_TLS_CA=\S+) (CATOPT_GOVERNANCE=\S+)/.exec(server.stdout());
    assert.ok(exported, server.stdout());
    const deployed = { ...env, ...Object.fromEntries((exported as RegExpExecArray).slice(1).map((pair) => pair.split("=") as [string, string])) };
    const agents = ["rover-1", "drone-1", "habitat-1"].map((node) => runCli(["agent", "--scenario", "cosmos-3asset", "--node", node], { env: deployed }));
    const viewer = runCli(["watch", "catopt.cosmos.plan.sol-energy", "--as", "ops", "--all", "--until-final"], { env: deployed });
    const coordinator = await runCli(["coordinator", "--scenario", "cosmos-3asset", "--json"], { env: deployed });
    assert.is(coordinator.code, 0, coordinator.stderr);
    assert.not.match(coordinator.stderr, "warning", "a party with credentials and TLS gets no warning");
    for (const agent of await Promise.all(agents)) assert.is(agent.code, 0, agent.stderr);
    const watched = await viewer;
    assert.is(watched.code, 0, watched.stderr);
    assert.match(watched.stdout, "converged");
    const intruder = await runCli(["watch", "catopt.cosmos.plan.sol-energy", "--as", "intruder", "--all", "--until-final"], {
      env: deployed,
      timeoutMs: 30_000,
    });
    assert.is(intruder.code, 1, intruder.stderr);
    assert.match(intruder.stderr, "the NATS server refused it: Permissions Violation");
    assert.ok(isOneLineError(intruder.stderr), intruder.stderr);
    const anonymous = await runCli(["watch", "catopt.cosmos.plan.sol-energy", "--all"], { env: deployed });
    assert.is(anonymous.code, 1);
    assert.match(anonymous.stderr, "Authorization Violation");
    // Credentials never go out in the clear: a party with them but no CA to pin is stopped.
    const clear = await runCli(["watch", "catopt.cosmos.plan.sol-energy", "--as", "ops", "--all"], { env: { ...deployed, CATOPT_TLS_CA: "" } });
    assert.is(clear.code, 2, clear.stderr);
    assert.match(clear.stderr, "credentials go only over TLS");
    const shown = await runCli(["creds", "show", path.join(keys, "ops.jwt")], { env: deployed });
    assert.is(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, "catopt.cosmos.plan.*");
    server.signal("SIGINT");
    const stopped = await server.done;
    assert.is(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, "stopped: ledger of");
  },
);

deployment.run();
