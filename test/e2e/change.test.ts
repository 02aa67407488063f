import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { PROJECT_ROOT } from "../../src/bus/embedded-server.ts";
import { readStream } from "../../src/bus/read.ts";
import { openBus, type BusSession } from "../../src/bus/session.ts";
import { EVENTS_STREAM } from "../../src/bus/streams.ts";
import { roundSubject } from "../../src/core/subjects.ts";
import { clusterOpenEvent } from "../../src/families/accelerator-allocation/cluster-scenario.ts";
import { clusterScenarios } from "../../src/families/accelerator-allocation/scenario-format.ts";
import { verifyMessage } from "../../src/governance/admission.ts";
import { generateIdentity } from "../../src/governance/identity.ts";
import { saveIdentity } from "../../src/governance/keystore.ts";
import { publishEvent } from "../../src/governance/signed-publish.ts";
import { loadScenarioOf } from "../../src/run/scenario-files.ts";
import { isOneLineError, runCli } from "../helpers/cli.ts";

// `catopt change` against a real nats-server: the change is read by the problem's family's change
// schema, signed with the coordinator's key and published on the problem's round subject; bad
// input is one line naming where.
const change = suite("catopt change on a running problem");
let bus: BusSession;
let keys: string;
let dir: string;
const coordinator = generateIdentity("coordinator");
const governance = generateIdentity("governance");

change.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "catopt-change-"));
  keys = path.join(dir, "keys");
  await saveIdentity(keys, coordinator);
  await saveIdentity(keys, governance);
  bus = await openBus({ name: "change-test" });
  const scenario = await loadScenarioOf(clusterScenarios, "gavel-small", PROJECT_ROOT);
  await publishEvent(bus.js, roundSubject("platform", "running"), clusterOpenEvent("platform", "running", scenario), coordinator);
});
change.after(async () => {
  await bus?.close();
});

const cli = (file: string, problem = "running") =>
  runCli(["change", "--tenant", "platform", "--problem-id", problem, "--file", file, "--nats", bus.url, "--keys", keys], { timeoutMs: 30_000 });

change("a change is published on the round subject, signed by the coordinator's key, as the family's change schema reads it", async () => {
  const file = path.join(dir, "arrivals.json");
  await writeFile(file, JSON.stringify({ arrive: [{ name: "bert", tenant: "language", throughput: { V100: 3.2, P100: 1.9 } }], depart: ["a3c"] }));
  const result = await cli(file);
  assert.is(result.code, 0, result.stderr);
  assert.match(result.stdout, "published cluster-change/1 to platform/running");
  const events = [];
  for await (const m of await readStream(bus.js, EVENTS_STREAM, { filter: roundSubject("platform", "running"), untilEnd: true }))
    events.push(verifyMessage(m.data));
  const last = events.at(-1);
  assert.is(last?.author, coordinator.did);
  assert.is(last?.event.schema, "cluster-change/1");
  assert.equal(last?.event.body, {
    arrive: [{ name: "bert", tenant: "language", scale: 1, throughput: { V100: 3.2, P100: 1.9 } }],
    depart: ["a3c"],
    throughput: {},
  });
});

change("a bad change file, or a problem the stream does not hold, is one line saying what and where", async () => {
  const bad = path.join(dir, "bad.json");
  await writeFile(bad, JSON.stringify({ depart: ["has.dot"] }));
  const empty = path.join(dir, "empty.json");
  await writeFile(empty, "{}");
  // Ten thousand arrivals parse, but their signed change is more than the server takes in one message.
  const huge = path.join(dir, "huge.json");
  const arrive = Array.from({ length: 10_000 }, (_, i) => ({
    name: `job-${String(i).padStart(58, "0")}`,
    tenant: "language",
    throughput: { V100: 1.5, P100: 1.25 },
  }));
  await writeFile(huge, JSON.stringify({ arrive }));
  const cases: [string, string, string?][] = [
    [dir, "not a regular file"],
    [huge, "more than the server takes in a message"],
    [bad, `${bad}.depart[0]: "has.dot" must be 1-64 letters`],
    [empty, "a change must arrive, depart or re-measure a job"],
    [path.join(dir, "none.json"), "cannot read it (ENOENT)"],
    [bad, "the stream holds no problem platform/elsewhere", "elsewhere"],
  ];
  for (const [file, message, problem] of cases) {
    const result = await cli(file, problem);
    assert.is(result.code, 1, `${file}: ${result.stdout}`);
    // A plain test server draws the warning any party gets there; the error itself is one line.
    const errors = result.stderr
      .split("\n")
      .filter((line) => !line.startsWith("catopt: warning"))
      .join("\n");
    assert.ok(isOneLineError(errors), result.stderr);
    assert.match(result.stderr, message);
  }
});

change.run();
