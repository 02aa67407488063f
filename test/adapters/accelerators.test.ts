import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { AcceleratorAdapter } from "../../src/families/accelerator-allocation/adapters/accelerator-node.ts";
import { ACCELERATOR_ADAPTERS } from "../../src/families/accelerator-allocation/adapters/registry.ts";
import { isCatoptError } from "../../src/core/errors.ts";
import { isOneLineError, runCli } from "../helpers/cli.ts";

// Each adapter on its fixtures (in the vendor tools' own output formats), and on input it must
// refuse: the error names the source, the line or field, and why.
const fixtures = path.join(import.meta.dirname, "..", "fixtures", "accelerators");
const read = (file: string) => readFileSync(path.join(fixtures, file), "utf8");
function adapter(name: string): AcceleratorAdapter {
  const found = ACCELERATOR_ADAPTERS.get(name);
  if (found === undefined) throw new Error(`no adapter ${name}`);
  return found;
}

function refusal(name: string, text: string, expected: string | RegExp): void {
  try {
    adapter(name).toNode("node-x", text, "in.txt");
    assert.unreachable(`${name} accepted ${JSON.stringify(text.slice(0, 60))}`);
  } catch (err) {
    assert.ok(isCatoptError(err, "ADAPTER_INPUT"), String(err));
    assert.match((err as Error).message, expected);
  }
}

test("every fixture maps to its node's accelerator type and count", () => {
  const cases: [string, string, string, number][] = [
    ["nvidia-smi", "nvidia-smi-dgx-a100.csv", "A100", 8],
    ["nvidia-smi", "nvidia-smi-v100x4.csv", "V100", 4],
    ["rocm-smi", "rocm-smi-mi250x.json", "MI250X", 8],
    ["rocm-smi", "rocm-smi-mi300x.json", "MI300X", 8],
    ["tpu-node", "tpu-v4-8.json", "TPU-v4", 4],
    ["tpu-node", "tpu-v5e-8.json", "TPU-v5e", 8],
  ];
  for (const [name, file, type, count] of cases) {
    const node = adapter(name).toNode("n1", read(file), file);
    assert.equal([node.name, node.type, node.count, node.devices.length], ["n1", type, count, count], file);
  }
  const a100 = adapter("nvidia-smi").toNode("n1", read("nvidia-smi-dgx-a100.csv"), "f");
  assert.ok(
    a100.devices.every((d) => d.memoryMiB !== null && d.memoryMiB > 40_000),
    "memory read from the memory.total column",
  );
});

test("nvidia-smi: a missing header, a short row, an unknown or mixed model each name the line", () => {
  refusal("nvidia-smi", "0, Tesla V100-SXM2-16GB, 16160 MiB\n", /in\.txt line 1: .*"name" column.*noheader/);
  refusal("nvidia-smi", "index, name, memory.total [MiB]\n0, Tesla V100-SXM2-16GB\n", /in\.txt line 2: 2 fields where the header has 3/);
  refusal("nvidia-smi", "index, name\n0, Tesla V100-SXM2-16GB\n1, Quadro RTX 9999\n", /in\.txt line 3: unknown accelerator model "Quadro RTX 9999".*--type/);
  refusal("nvidia-smi", "index, name\n0, Tesla V100-SXM2-16GB\n1, Tesla P100-PCIE-16GB\n", /in\.txt line 3: a P100 on a node of V100/);
  refusal("nvidia-smi", "index, name, memory.total [MiB]\n0, Tesla V100-SXM2-16GB, lots\n", /line 2, field "memory.total": expected a size in MiB/);
  refusal("nvidia-smi", "index, name\n", /in\.txt: no accelerators listed/);
});

test("rocm-smi: not JSON, no cards, or a card without its series each say where", () => {
  refusal("rocm-smi", "GPU[0] : Card series: MI250X", /in\.txt: not JSON.*--json/);
  refusal("rocm-smi", '{"system": {}}', /no "card<N>" entries \(keys: system\)/);
  refusal("rocm-smi", '{"card0": {"Card SKU": "D65209"}}', /in\.txt, field card0\."Card Series": missing: run rocm-smi with --showproductname/);
});

test("tpu-node: an unknown version, a bad size or a TPU that is not READY name the field", () => {
  refusal("tpu-node", '{"acceleratorType": "v9-8", "state": "READY"}', /acceleratorType.*unknown TPU version "v9"/);
  refusal("tpu-node", '{"acceleratorType": "v4", "state": "READY"}', /expected "<version>-<size>"/);
  refusal("tpu-node", '{"acceleratorType": "v4-8", "state": "CREATING"}', /field "state": the TPU is "CREATING", not READY/);
  refusal("tpu-node", '{"name": "x"}', /neither "acceleratorType" nor "acceleratorConfig"/);
});

test("catopt agent --adapter: bad input is one error line naming the file and line, before any connection", async () => {
  const result = await runCli([
    "agent",
    "--node",
    "gpu-1",
    "--adapter",
    "nvidia-smi",
    "--input",
    "README.md",
    "--tenant",
    "t",
    "--problem-id",
    "p",
    "--nats",
    "nats://127.0.0.1:1",
  ]);
  assert.is(result.code, 1, result.stderr);
  assert.ok(isOneLineError(result.stderr), result.stderr);
  assert.match(result.stderr, /README\.md line 1: expected nvidia-smi's CSV header/);
  const unknown = await runCli(["agent", "--node", "gpu-1", "--adapter", "dcgm", "--tenant", "t", "--problem-id", "p", "--nats", "nats://127.0.0.1:1"]);
  assert.is(unknown.code, 2, unknown.stderr);
  assert.match(unknown.stderr, /unknown adapter "dcgm" \(known: nvidia-smi, rocm-smi, tpu-node\)/);
});

test("catopt agent --adapter with a scenario: the scenario must be of the adapter's family and list the node; names must be subject tokens", async () => {
  const nats = ["--nats", "nats://127.0.0.1:1"];
  const input = ["--input", "test/fixtures/accelerators/nvidia-smi-dgx-a100.csv"];
  const otherFamily = await runCli(["agent", "--node", "rover-1", "--adapter", "nvidia-smi", ...input, "--scenario", "cosmos-3asset", ...nats]);
  assert.is(otherFamily.code, 2, otherFamily.stderr);
  assert.match(otherFamily.stderr, "--adapter nvidia-smi makes no agent of scenario cosmos-3asset's problems, which are energy-qp's");
  const unlisted = await runCli(["agent", "--node", "gpu-9", "--adapter", "nvidia-smi", ...input, "--scenario", "gavel-small", ...nats]);
  assert.is(unlisted.code, 2, unlisted.stderr);
  assert.match(unlisted.stderr, 'scenario gavel-small has no node "gpu-9" (its nodes: v100-0, p100-0, k80-0)');
  const badTenant = await runCli(["agent", "--node", "gpu-1", "--adapter", "nvidia-smi", ...input, "--tenant", "a.b", "--problem-id", "p", ...nats]);
  assert.is(badTenant.code, 2, badTenant.stderr);
  assert.match(badTenant.stderr, '--tenant "a.b" must be 1-64 letters, digits');
  const jobTenant = await runCli(["agent", "--node", "v100-0", "--scenario", "gavel-small", "--tenant", "vision", ...nats]);
  assert.is(jobTenant.code, 2, jobTenant.stderr);
  assert.match(jobTenant.stderr, "--tenant vision is one of the tenants scenario gavel-small's plans go to");
});

test.run();
