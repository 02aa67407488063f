import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PROJECT_ROOT } from "../../src/bus/embedded-server.ts";
import { isCatoptError } from "../../src/core/errors.ts";
import { loadScenario, loadScenarioOf } from "../../src/run/scenario-files.ts";
import { energyQpScenarios } from "../../src/families/energy-qp/scenario-format.ts";
import { parseScenario } from "../../src/families/energy-qp/scenario.ts";
import { parseAdmm } from "../../src/core/scenario-fields.ts";
import { parseAdmmSettings } from "../../src/core/schemas.ts";
import { DEFAULT_ADMM } from "../../src/core/problem-spec.ts";

const cosmos = await loadScenarioOf(energyQpScenarios, "cosmos-3asset", PROJECT_ROOT);
const base = () =>
  JSON.parse(
    JSON.stringify({
      format: "catopt-scenario/1",
      name: "tiny",
      tenant: "t",
      problem: "p",
      resources: ["a", "b"],
      assets: [{ agent: "x", adapter: "energy-asset", input: { slots: { a: { want: 5, weight: 1, min: 0, max: 10 } } } }],
      constraints: [{ name: "cap", coefficients: { a: 1 }, limit: 4 }],
    }),
  ) as Record<string, any>;

test("the cosmos scenario loads: three assets on their nodes, two binding constraints", () => {
  assert.equal(
    cosmos.assets.map((a) => [a.agent, a.node]),
    [
      ["rover", "rover-1"],
      ["drone", "drone-1"],
      ["habitat", "habitat-1"],
    ],
  );
  assert.equal(
    cosmos.spec.constraints.map((c) => c.name),
    ["fleet-energy-budget", "relay-pass-window"],
  );
  const rover = cosmos.assets[0].problem.variables.find((v) => v.resource === "t08");
  assert.equal(rover, { resource: "t08", lower: 20, upper: 400, quadratic: 1, linear: -150 });
  assert.is(cosmos.spec.admm.epsAbs, 1e-10);
});

test("a scenario is found by name, by folder or by file", async () => {
  for (const reference of [
    "cosmos-3asset",
    path.join(PROJECT_ROOT, "scenarios", "cosmos-3asset"),
    path.join(PROJECT_ROOT, "scenarios", "cosmos-3asset", "scenario.json"),
  ]) {
    assert.is((await loadScenario(reference, PROJECT_ROOT)).scenario.name, "cosmos-3asset");
  }
});

test("each malformed or inconsistent scenario is refused with the path of the bad field", () => {
  const cases: [(s: Record<string, any>) => void, string][] = [
    [(s) => (s.format = "v0"), 'scenario.format: expected "catopt-scenario/1"'],
    [(s) => delete s.tenant, "scenario.tenant: expected a string"],
    [(s) => (s.problem = "a.b"), 'scenario.problem: "a.b" must be 1-64 letters'],
    [(s) => (s.assets[0].adapter = "quantum"), 'scenario.assets[0].adapter: unknown adapter "quantum"'],
    [(s) => (s.assets[0].input.slots.a.min = 11), "scenario.assets[0].input.slots.a: min 11 exceeds max 10"],
    [(s) => (s.assets[0].input.slots.a.weight = -1), "scenario.assets[0].input.slots.a.weight: expected a number > 0"],
    [(s) => (s.assets[0].input.slots = { c: { want: 1, weight: 1, min: 0, max: 1 } }), 'resource "c" is not in scenario.resources'],
    [(s) => s.assets.push(s.assets[0]), 'agent "x" appears twice'],
    [(s) => (s.constraints[0].coefficients = { z: 1 }), "scenario.constraints[0].coefficients.z: not in scenario.resources"],
    [(s) => (s.constraints[0].limit = "4"), 'scenario.constraints[0].limit: expected a finite number, got "4"'],
    [(s) => (s.admm = { tau: 1 }), "scenario.admm.tau: must be > 1"],
    [(s) => (s.assets = []), "scenario.assets: list at least one asset"],
    // Names that would index the prototype, and numbers that leave no digits for ADMM's tolerances.
    [(s) => (s.resources = ["a", "__proto__"]), 'scenario.resources[1]: "__proto__" must be 1-64 letters'],
    [(s) => (s.resources = ["a", "constructor"]), 'scenario.resources[1]: "constructor" must be 1-64 letters'],
    [
      (s) => (s.constraints[0].coefficients = JSON.parse('{"__proto__": 1}')),
      'scenario.constraints[0].coefficients.__proto__: "__proto__" cannot be a name here',
    ],
    [(s) => (s.constraints[0].limit = 1e20), "scenario.constraints[0].limit: 100000000000000000000 is beyond 1000000000000000"],
    [(s) => (s.constraints[0].limit = 1e12), "scenario.constraints[0].limit: 1000000000000 is beyond 1000000000: numbers this large leave too few digits"],
    [(s) => (s.constraints[0].coefficients = { a: 1e308 }), "scenario.constraints[0].coefficients.a: 1e+308 is beyond"],
    [(s) => (s.assets[0].input.slots.a.max = 1e10), "scenario.assets[0].input (a).upper: 10000000000 is beyond 1000000000"],
    [(s) => (s.constraints[0].name = "x".repeat(300)), "scenario.constraints[0].name: 300 characters, more than 200"],
    [(s) => (s.assets = Array.from({ length: 1_000_000 }, (_, i) => ({ ...s.assets[0], agent: `a${i}` }))), "scenario.assets: 1000000 assets, more than 1000"],
  ];
  for (const [mutate, reason] of cases) {
    const s = base();
    mutate(s);
    try {
      parseScenario(s, "tiny.json");
      assert.unreachable(`accepted: ${reason}`);
    } catch (err) {
      assert.ok(isCatoptError(err, "SCENARIO_INVALID"), String(err));
      assert.match((err as Error).message, `tiny.json: ${reason.startsWith("scenario") ? reason : ""}`);
      assert.match((err as Error).message, reason);
    }
  }
});

test("a missing scenario and a file that is not JSON say so, with the path", async () => {
  try {
    await loadScenario("no-such-scenario", PROJECT_ROOT);
    assert.unreachable();
  } catch (err) {
    assert.ok(isCatoptError(err, "SCENARIO_NOT_FOUND"));
    assert.match((err as Error).message, 'scenario "no-such-scenario" not found');
  }
  const file = path.join(await mkdtemp(path.join(tmpdir(), "catopt-sc-")), "broken.json");
  await writeFile(file, "{ not json");
  try {
    await loadScenario(file, PROJECT_ROOT);
    assert.unreachable();
  } catch (err) {
    assert.ok(isCatoptError(err, "SCENARIO_INVALID"));
    assert.match((err as Error).message, `${file}: not valid JSON`);
  }
});

test("a scenario's ADMM settings and an open event's are read by one table: the same value gets the same reason", () => {
  const wire = { rho: 1, epsAbs: 1e-6, epsRel: 1e-6, mu: 10, tau: 2, balanceRounds: 10, maxRounds: 10 };
  const reasonOf = (read: () => unknown): string => {
    try {
      read();
      return "accepted";
    } catch (err) {
      return (err as Error).message.replace(/^.*?admm\./, "");
    }
  };
  for (const [key, bad] of [
    ["rho", 0],
    ["maxRounds", 0],
    ["balanceRounds", 1.5],
    ["maxStaleness", -1],
    ["censor", -1],
    ["tau", 1],
    ["epsAbs", 1e300],
  ] as const) {
    const scenario = reasonOf(() => parseAdmm({ [key]: bad }, "scenario.admm", DEFAULT_ADMM));
    const open = reasonOf(() => parseAdmmSettings({ ...wire, [key]: bad }, "event.body.admm"));
    assert.ok(scenario !== "accepted", `${key} = ${bad} is refused`);
    assert.is(scenario, open, `${key} = ${bad}`);
  }
});

test.run();
