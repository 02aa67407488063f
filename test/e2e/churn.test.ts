import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PROJECT_ROOT } from "../../src/bus/embedded-server.ts";
import { decodeEnvelope } from "../../src/core/envelope.ts";
import type { AnyEvent, CatoptEvent } from "../../src/core/event.ts";
import { applyChange } from "../../src/families/accelerator-allocation/churn.ts";
import { clusterScenarios } from "../../src/families/accelerator-allocation/scenario-format.ts";
import { planViolation } from "../../src/families/accelerator-allocation/repair.ts";
import { decodeEvent } from "../../src/families/registry.ts";
import { readRecording } from "../../src/replay/recording.ts";
import { runScenario } from "../../src/run/run-scenario.ts";
import { loadScenarioOf, withFamily } from "../../src/run/scenario-files.ts";

// scenarios/gavel-small-churn over a real nats-server, secure aggregation on: jobs arrive, depart
// and are re-measured as signed cluster-change/1 events while the problem runs; the node agents
// follow the changes the plans carry, and the run ends at HiGHS's optimum of the changed cluster,
// its stream replayed to the live hash.
test("churn over NATS: signed changes mid-run, plans warm from where they were, the optimum of the changed cluster, replayed", async () => {
  const scenario = await loadScenarioOf(clusterScenarios, "gavel-small-churn", PROJECT_ROOT);
  const record = path.join(await mkdtemp(path.join(tmpdir(), "catopt-churn-")), "run.catrec");
  const report = await runScenario(withFamily(clusterScenarios, scenario), { record });
  assert.ok(report.converged, report.status);
  assert.ok(report.secure.on, "secure aggregation is on");
  assert.equal(
    report.scripted.map((s) => s.published_after),
    [60, 120],
  );
  const changed = scenario.churn.reduce((c, { change }) => applyChange(c, change), scenario.cluster);
  // The reference is the changed cluster's: within 1e-3 of it, feasible in it.
  assert.ok(report.inaccuracy === null && (report.gap ?? 1) < 1e-3, `gap ${report.gap}: ${report.inaccuracy}`);
  assert.ok(planViolation(changed, report.allocations as Parameters<typeof planViolation>[1]) <= 1e-9);
  assert.equal(Object.keys(report.allocations).sort(), changed.jobs.map((j) => j.name).sort(), "the plan holds the jobs that stayed and the one that arrived");
  assert.is(report.replay_state_hash, report.state_hash);
  assert.is(report.rejected, 0);
  assert.ok(report.agents.every((a) => a.status === "converged" && a.rounds === report.rounds));
  // The newcomer's tenant gets its own final plan; the plans that carried the changes are the rounds' after 60 and 120 or later.
  assert.equal(report.tenant_plans, { rejected: 0, final: 4, first_rejection: null });
  const events = (await readRecording(record)).messages.map((m): AnyEvent => decodeEvent(decodeEnvelope(m.data).event));
  const carried = events.filter((e): e is CatoptEvent<"cluster-plan/1"> => e.schema === "cluster-plan/1" && e.body.changes !== undefined);
  assert.is(carried.length, 2);
  assert.ok(carried[0].round > 60 && carried[1].round > 120, `changes applied after rounds ${carried.map((e) => e.round)}`);
  const speech = events.filter((e): e is CatoptEvent<"tenant-plan/1"> => e.schema === "tenant-plan/1" && e.tenant === "speech");
  assert.equal(Object.keys(speech.at(-1)?.body.allocations ?? {}), ["transformer-b64-s"]);
});

test.run();
