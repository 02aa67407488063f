import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { PROJECT_ROOT } from "../../src/bus/embedded-server.ts";
import { decodeSequence, encode } from "../../src/core/codec.ts";
import { decodeEntry, encodeEntry, isAccepted } from "../../src/governance/ledger.ts";
import { isOneLineError, lastJson, runCli, type CliResult, type Outcome } from "../helpers/cli.ts";

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
  const run = lastJson<{ governance: string; ledger: { size: number } }>(demo);
  const pin = ["--governance", run.governance];
  const verified = await runCli(["ledger", "verify", "--file", record, "--json", ...pin]);
  assert.is(verified.code, 0, verified.stderr);
  const report = lastJson<{ verified: boolean; tree_size: number; checkpoint_size: number }>(verified);
  assert.ok(run.ledger.size > 100, `the run's ledger holds its events (${run.ledger.size})`);
  assert.equal([report.verified, report.tree_size, report.checkpoint_size], [true, run.ledger.size, run.ledger.size]);

  const proof = path.join(dir, "proof.json");
  const proved = await runCli(["ledger", "prove", "cosmos/sol-energy/plan/12", "--file", record, "--json", ...pin]);
  assert.is(proved.code, 0, proved.stderr);
  await writeFile(proof, proved.stdout);
  const checked = await runCli(["ledger", "check", proof, ...pin]);
  assert.match(checked.stdout, `in the tree of ${run.ledger.size} entries signed by`);

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
    [["privacy", "acount", "--sigma2", "100", "--clip", "1", "--rounds", "5"], 'privacy expects account, not "acount" (did you mean "account"?)'],
    [["privacy", "account", "--sigma2", "0", "--clip", "1", "--rounds", "5"], '--sigma2 must be a positive number up to 1e15, not "0"'],
    [
      ["privacy", "account", "--sigma2", "1e-300", "--clip", "1e15", "--rounds", "3"],
      "--clip 1000000000000000 on noise of variance 1e-300 spends more privacy than a number holds",
    ],
    [["privacy", "account", "--sigma2", "1", "--clip", "1", "--rounds", "1e300"], "--rounds expects at most 1000000000000"],
    [["run", "cosmos-3asset", "--nat", "nats://127.0.0.1:1"], "Unknown option '--nat' (did you mean --nats?)"],
    [["agent", "--node", "rover-1", "--min-roster", "1e300", "--nats", "nats://127.0.0.1:1"], "--min-roster expects at most 1000, not 1e+300"],
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

cli("privacy account: the epsilon a noise level spends over some rounds, the rounds a budget allows, the noise it needs", async () => {
  const spent = await runCli(["privacy", "account", "--sigma2", "400", "--clip", "1", "--rounds", "50", "--delta", "1e-6", "--json"]);
  assert.is(spent.code, 0, spent.stderr);
  const account = lastJson<{ rho: number; epsilon: number }>(spent);
  assert.is(account.rho, 0.25, "50 rounds of (2 * 1)^2 / (2 * 400): one agent replaced moves the sum by twice the clip");
  // Bun & Steinke's bound is 0.25 + 2 sqrt(0.25 ln 1e6) = 3.967; the tighter conversion of Canonne, Kamath & Steinke gives less.
  assert.ok(account.epsilon > 3 && account.epsilon < 3.967, String(account.epsilon));
  const budget = await runCli(["privacy", "account", "--sigma2", "400", "--clip", "1", "--epsilon", String(account.epsilon + 1e-9), "--json"]);
  assert.is(lastJson<{ rounds: number }>(budget).rounds, 50, "the rounds that spent it fit the budget");
  const noise = await runCli(["privacy", "account", "--clip", "1", "--epsilon", String(account.epsilon), "--rounds", "50", "--json"]);
  const { sigma2 } = lastJson<{ sigma2: number }>(noise);
  assert.ok(Math.abs(sigma2 / 400 - 1) < 1e-9, `the noise that spends it: ${sigma2}`);
});

cli.run();
