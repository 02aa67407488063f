import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { PROJECT_ROOT, startEmbeddedServer, type EmbeddedServer } from "../../src/bus/embedded-server.ts";
import { openBus } from "../../src/bus/session.ts";
import { EVENTS_STREAM } from "../../src/bus/streams.ts";
import { readToEnd } from "../../src/replay/replay.ts";
import { decodeSequence, encode } from "../../src/core/codec.ts";
import { decodeEntry, encodeEntry, isAccepted } from "../../src/governance/ledger.ts";
import { isOneLineError, lastJson, runCli, startCli, type CliResult } from "../helpers/cli.ts";
import { publishEvent } from "../../src/governance/signed-publish.ts";
import { eventId, type CatoptEvent } from "../../src/core/event.ts";
import { planSubject } from "../../src/core/subjects.ts";
import { generateIdentity } from "../../src/governance/identity.ts";

type Outcome = {
  converged: boolean;
  rounds: number;
  gap: number | null;
  max_violation: number;
  state_hash: string;
  events: number;
  rejected: number;
  scenario: string | null;
};

const cli = suite("the catopt command");
let dir: string;
// One recorded demo serves the tests that read a recording and its ledger; none changes it.
let demo: CliResult;
let record: string;
cli.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "catopt-cli-"));
  record = path.join(dir, "demo.catrec");
  demo = await runCli(["demo", "--json", "--record", record]);
});

cli("demo --json runs the embedded default and prints the outcome last; replay of its recording gives the same hash", async () => {
  assert.is(demo.code, 0, demo.stderr);
  const outcome = lastJson<Outcome & { replay_state_hash: string }>(demo);
  assert.ok(outcome.converged);
  assert.ok((outcome.gap ?? 1) < 1e-4 && outcome.max_violation < 1e-6, JSON.stringify(outcome));
  assert.match(outcome.state_hash, /^[0-9a-f]{64}$/);
  assert.is(outcome.replay_state_hash, outcome.state_hash);
  assert.match(demo.stderr, "round   10", "progress goes to stderr with --json");

  const replay = await runCli(["replay", record, "--json"]);
  assert.is(replay.code, 0, replay.stderr);
  const replayed = lastJson<Outcome>(replay);
  assert.equal(
    [replayed.state_hash, replayed.rounds, replayed.events, replayed.scenario],
    [outcome.state_hash, outcome.rounds, outcome.events, "cosmos-3asset"],
  );
  assert.is(replayed.gap, outcome.gap);
});

cli("output into a pipe its reader already closed (catopt ... | head) ends quietly, without a stack trace", () => {
  const bin = path.join(PROJECT_ROOT, "bin", "catopt.mjs");
  const ended = execFileSync("bash", ["-c", `node '${bin}' contracts list 2>&1 | true; echo "exit \${PIPESTATUS[0]}"`], { encoding: "utf8" });
  assert.is(ended.trim(), "exit 0");
});

cli("the ledger of a recorded run verifies, proves and checks against the pinned trust root; a changed entry in an export is named by its index", async () => {
  const pin = ["--governance", lastJson<{ governance: string }>(demo).governance];
  const verified = await runCli(["ledger", "verify", "--file", record, "--json", ...pin]);
  assert.is(verified.code, 0, verified.stderr);
  const report = lastJson<{ verified: boolean; tree_size: number; checkpoint_size: number }>(verified);
  assert.equal([report.verified, report.tree_size, report.checkpoint_size], [true, 300, 300]);

  const proof = path.join(dir, "proof.json");
  const proved = await runCli(["ledger", "prove", "cosmos/sol-energy/plan/12", "--file", record, "--json", ...pin]);
  assert.is(proved.code, 0, proved.stderr);
  await writeFile(proof, proved.stdout);
  const checked = await runCli(["ledger", "check", proof, ...pin]);
  assert.match(checked.stdout, "in the tree of 300 entries signed by");

  const exported = path.join(dir, "ledger.catledger");
  assert.is((await runCli(["ledger", "export", exported, "--file", record, ...pin])).code, 0);
  const items = decodeSequence(await readFile(exported)) as { entry?: Uint8Array }[];
  const entry = decodeEntry(items[1 + 42].entry as Uint8Array);
  assert.ok(isAccepted(entry), "entry 42 is an accepted event");
  const data = Uint8Array.from(entry.data);
  data[30] ^= 1;
  items[1 + 42] = { entry: encodeEntry({ ...entry, data }) };
  await writeFile(exported, Buffer.concat(items.map((item) => encode(item as never))));
  const tampered = await runCli(["ledger", "verify", exported, ...pin]);
  assert.is(tampered.code, 1);
  assert.match(tampered.stderr, "does not verify at stream message 43, entry 42");
  const fromTampered = await runCli(["ledger", "prove", "cosmos/sol-energy/plan/12", "--file", exported, ...pin]);
  assert.is(fromTampered.code, 1);
  assert.match(fromTampered.stderr, "the ledger does not verify at entry 42");
  assert.ok(isOneLineError(fromTampered.stderr), fromTampered.stderr);
});

cli("a verifier trusts only the pinned governance key: forged exports, self-signed and renamed proofs, no pin at all", async () => {
  const pin = ["--governance", lastJson<{ governance: string }>(demo).governance];
  const keys = path.join(dir, "forger-keys");
  const forger = await runCli(["id", "new", "--keys", keys, "--name", "governance", "--json"]);
  assert.is(forger.code, 0, forger.stderr);

  // Without a pin (an empty key directory, no flag, no environment) a verifier refuses to say anything.
  const unpinned = await runCli(["ledger", "verify", "--file", record, "--keys", path.join(dir, "no-keys")], { env: { CATOPT_GOVERNANCE: "" } });
  assert.is(unpinned.code, 1);
  assert.match(unpinned.stderr, "no trust root pinned");
  assert.ok(isOneLineError(unpinned.stderr), unpinned.stderr);

  // An export with an entry dropped and every checkpoint re-signed by the forger's key: refused under the real pin.
  const exported = path.join(dir, "real.catledger");
  assert.is((await runCli(["ledger", "export", exported, "--file", record, ...pin])).code, 0);
  const items = decodeSequence(await readFile(exported)) as Record<string, unknown>[];
  const forgedKey = await (await import("../../src/governance/keystore.ts")).loadIdentity(keys, "governance");
  const { signCheckpoint, verifierKey } = await import("../../src/governance/checkpoint.ts");
  const { MerkleLog } = await import("../../src/governance/merkle.ts");
  const kept = items
    .slice(1)
    .filter((item) => item.entry !== undefined)
    .filter((_, i) => i !== 100)
    .map((item, i) => encodeEntry({ ...decodeEntry(item.entry as Uint8Array), index: i, ...(i >= 100 ? { seq: i + 1 } : {}) }));
  const log = new MerkleLog();
  for (const e of kept) log.append(e);
  const note = signCheckpoint({ origin: "catopt-flow/ledger", size: log.size, root: log.root() }, "catopt-flow/ledger", forgedKey);
  const header = { ...items[0], governance: forgedKey.did, vkey: verifierKey("catopt-flow/ledger", forgedKey.publicKey), entries: kept.length, checkpoints: 1 };
  const forgedFile = path.join(dir, "forged.catledger");
  await writeFile(forgedFile, Buffer.concat([encode(header as never), ...kept.map((e) => encode({ entry: e })), encode({ checkpoint: note })]));
  const forged = await runCli(["ledger", "verify", "--file", forgedFile, ...pin]);
  assert.is(forged.code, 1, forged.stdout);
  assert.match(forged.stderr, "no checkpoint is signed by the pinned governance key");
  assert.match(forged.stderr, "the file names governance");

  // A proof whose checkpoint the forger signed, and one whose event id was renamed.
  const proved = await runCli(["ledger", "prove", "cosmos/sol-energy/plan/12", "--file", record, "--json", ...pin]);
  const proof = JSON.parse(proved.stdout) as Record<string, unknown>;
  const selfSigned = path.join(dir, "self-signed.json");
  const renamed = path.join(dir, "renamed.json");
  const checkpointText = String(proof.checkpoint).slice(0, String(proof.checkpoint).lastIndexOf("\n\n") + 1);
  const { parseCheckpointText } = await import("../../src/governance/checkpoint.ts");
  await writeFile(
    selfSigned,
    JSON.stringify({
      ...proof,
      checkpoint: signCheckpoint(parseCheckpointText(checkpointText), "catopt-flow/ledger", forgedKey),
      vkey: verifierKey("catopt-flow/ledger", forgedKey.publicKey),
    }),
  );
  await writeFile(renamed, JSON.stringify({ ...proof, event_id: "cosmos/sol-energy/plan/13" }));
  const self = await runCli(["ledger", "check", selfSigned, ...pin]);
  assert.is(self.code, 1);
  assert.match(self.stderr, "its checkpoint is not signed by the pinned governance");
  const rename = await runCli(["ledger", "check", renamed, ...pin]);
  assert.is(rename.code, 1);
  assert.match(rename.stderr, "the entry is event cosmos/sol-energy/plan/12, not cosmos/sol-energy/plan/13");
});

cli("replay of a recording whose messages do not reproduce its signed ledger checkpoint fails, naming the first message that differs", async () => {
  const values = decodeSequence(await readFile(record)) as Record<string, unknown>[];
  const message = values[1 + 120] as { seq: number; subject: string; data: Uint8Array };
  const data = Uint8Array.from(message.data);
  data[40] ^= 0x10;
  values[1 + 120] = { ...message, data };
  const flipped = path.join(dir, "flipped-bit.catrec");
  await writeFile(flipped, Buffer.concat(values.map((value) => encode(value as never))));
  const replayed = await runCli(["replay", flipped]);
  assert.is(replayed.code, 1, replayed.stdout);
  assert.match(replayed.stderr, `message seq ${message.seq} (${message.subject}) is not the one the ledger recorded`);
  const verified = await runCli(["ledger", "verify", "--file", flipped, "--governance", String((values[0] as { governance: string }).governance)]);
  assert.is(verified.code, 1);
  assert.match(verified.stderr, `stream message ${message.seq}`);
});

cli("a plan whose residuals met loose tolerances but misses HiGHS or a constraint is never reported as converged", async () => {
  const scenario = JSON.parse(await readFile(path.join(import.meta.dirname, "..", "..", "scenarios", "cosmos-3asset", "scenario.json"), "utf8"));
  const loose = path.join(dir, "loose.json");
  await writeFile(loose, JSON.stringify({ ...scenario, admm: { ...scenario.admm, epsAbs: 5, epsRel: 0.05 } }));
  const run = await runCli(["run", loose, "--json"]);
  assert.is(run.code, 1);
  const outcome = lastJson<Outcome & { status: string; inaccuracy: string }>(run);
  assert.equal([outcome.converged, outcome.status], [false, "inaccurate"]);
  assert.match(outcome.inaccuracy, "exceeds 0.001");
  assert.match(run.stderr, "is not solved: the residuals met their tolerances, but relative gap");
});

cli("the human output shows the convergence picture, the plan per asset and the constraints", async () => {
  const demo = await runCli(["run", "cosmos-3asset"]);
  assert.is(demo.code, 0, demo.stderr);
  for (const part of [
    "residuals (log scale",
    "rover",
    "habitat",
    "fleet-energy-budget",
    "relay-pass-window",
    "relative gap",
    "replayed stream      same hash",
  ]) {
    assert.match(demo.stdout, part);
  }
});

cli("bad input ends with one clear line and a non-zero exit, never a stack trace", async () => {
  const infeasible = path.join(dir, "infeasible.json");
  const malformed = path.join(dir, "malformed.json");
  const corrupt = path.join(dir, "corrupt.catrec");
  const base = {
    format: "catopt-scenario/1",
    name: "x",
    tenant: "t",
    problem: "p",
    resources: ["a"],
    assets: [{ agent: "x", adapter: "energy-asset", input: { slots: { a: { want: 5, weight: 1, min: 3, max: 10 } } } }],
    constraints: [{ name: "cap", coefficients: { a: 1 }, limit: 2 }],
  };
  await writeFile(infeasible, JSON.stringify(base));
  await writeFile(malformed, JSON.stringify({ ...base, resources: "a" }));
  await writeFile(corrupt, new Uint8Array([0x85, 0xa6, 0x66]));
  const cases: [string[], string][] = [
    [["run", "no-such-scenario"], 'scenario "no-such-scenario" not found'],
    [["run", malformed], `${malformed}: scenario.resources: expected an array`],
    [["run", infeasible], "is infeasible"],
    [["run", "cosmos-3asset", "--nats", "nats://127.0.0.1:1"], "cannot reach NATS at nats://127.0.0.1:1"],
    [["replay", corrupt], `${corrupt}: corrupt or truncated msgpack at byte 0`],
    [["replay", path.join(dir, "absent.catrec")], "cannot read (ENOENT)"],
    [["run", "cosmos-3aset"], 'scenario "cosmos-3aset" not found (did you mean "cosmos-3asset"?)'],
    [
      ["ledger", "check", path.join(dir, "absent-proof.json"), "--governance", "did:key:z6MkmrkXBppDgJtqjfUUvozMLnENv6XSq9J6gQeJA4wE2EBs"],
      "absent-proof.json: not a proof (no such file)",
    ],
    [
      [
        "agent",
        "--node",
        "n",
        "--adapter",
        "nvidia-smi",
        "--tenant",
        "t",
        "--problem-id",
        "p",
        "--input",
        path.join(dir, "absent.csv"),
        "--nats",
        "nats://127.0.0.1:1",
      ],
      "absent.csv: cannot read it (ENOENT)",
    ],
  ];
  for (const [args, message] of cases) {
    const result = await runCli(args);
    assert.is(result.code, 1, `${args.join(" ")}: exit ${result.code}\n${result.stderr}`);
    assert.match(result.stderr, message);
    assert.ok(isOneLineError(result.stderr), `${args.join(" ")}: not one line:\n${result.stderr}`);
  }
});

cli("contracts: the catalog checks out; an incompatible new version is refused, naming the field", async () => {
  const check = await runCli(["contracts", "check"]);
  assert.is(check.code, 0, check.stderr);
  assert.match(check.stdout, "ok   adapter energy-asset");
  const candidate = path.join(dir, "delta-2.json");
  await writeFile(
    candidate,
    JSON.stringify({
      name: "delta",
      version: 2,
      fields: [
        { name: "entries", type: "map:number", required: true },
        { name: "objective", type: "number", required: true },
        { name: "weight", type: "number", required: true },
      ],
    }),
  );
  const refused = await runCli(["contracts", "compat", candidate]);
  assert.is(refused.code, 1);
  assert.match(refused.stderr, 'field "weight": delta/2 requires it without a default');
  assert.ok(isOneLineError(refused.stderr), refused.stderr);
});

cli("usage errors print the usage and exit 2", async () => {
  const missing = await runCli(["run"]);
  assert.is(missing.code, 2);
  assert.match(missing.stderr, "Usage: catopt run <scenario>");
  const unknown = await runCli(["frobnicate"]);
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, 'unknown command "frobnicate"');
  const typos: [string[], string][] = [
    [["wach"], 'unknown command "wach" (did you mean "watch"?)'],
    [["run", "cosmos-3asset", "--nat", "nats://127.0.0.1:1"], "Unknown option '--nat' (did you mean --nats?)"],
    [
      ["watch", "catopt.cosmos.plan", "--nats", "nats://127.0.0.1:1"],
      "catopt.cosmos.plan matches no event subject: they are catopt.<tenant>.<kind>.<problem>[.<agent>] (did you mean catopt.cosmos.plan.>?)",
    ],
  ];
  for (const [args, message] of typos) {
    const result = await runCli(args);
    assert.is(result.code, 2, result.stderr);
    assert.match(result.stderr, message);
    assert.ok(!result.stderr.includes("Options:") && result.stderr.trim().split("\n").length <= 2, `no help dump:\n${result.stderr}`);
  }
  const help = await runCli(["--help"]);
  assert.is(help.code, 0);
  for (const name of ["demo", "run", "agent", "coordinator", "watch", "replay", "streams", "id", "governance", "ledger", "contracts"])
    assert.match(help.stdout, `  ${name} `);
});

const deployment = suite("agents, coordinator and watcher as separate processes on one server");
let server: EmbeddedServer;
deployment.before(async () => {
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
  assert.match(watched.stdout, "habitat");

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
  assert.equal(Object.keys(outcome.allocations).sort(), ["habitat", "rover"]);
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
  const urlIn = (text: string) => /embedded nats-server at (nats:\/\/[0-9.:]+)/.exec(text)?.[1];
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

cli.run();
deployment.run();
