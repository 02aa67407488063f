import { clusterScenarios } from "../../src/families/accelerator-allocation/scenario-format.ts";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { eventId, type CatoptEvent } from "../../src/core/event.ts";
import type { AgentView } from "../../src/core/family.ts";
import { nodeAgent } from "../../src/families/accelerator-allocation/node-agent.ts";
import type { NodePlan } from "../../src/families/accelerator-allocation/node-solver.ts";
import { PROJECT_ROOT } from "../../src/bus/embedded-server.ts";
import { clusterOpenEvent } from "../../src/families/accelerator-allocation/cluster-scenario.ts";
import { loadScenarioOf } from "../../src/run/scenario-files.ts";

// The node agent's own account of its committed values, stepped purely: from the round events
// (which of its deltas each took), each round once and in order, and across a restart.
const scenario = await loadScenarioOf(clusterScenarios, "gavel-small-async", PROJECT_ROOT);
const [tenant, problem] = [scenario.tenant, scenario.problem];
const node = scenario.cluster.nodes[0];
const open = clusterOpenEvent(tenant, problem, scenario);
const round = (r: number, took: string[]): CatoptEvent<"round/2"> => ({
  schema: "round/2",
  id: eventId(tenant, problem, "round", r),
  tenant,
  problem,
  round: r,
  base: r - 1,
  body: { took, closedBy: "quorum" },
});
const plan = (r: number): CatoptEvent<"cluster-plan/1"> => ({
  schema: "cluster-plan/1",
  id: eventId(tenant, problem, "plan", r),
  tenant,
  problem,
  round: r,
  base: r - 1,
  body: { status: "running", rho: 1, signal: { index: [0], value: [r] }, primal: 1, dual: 1, epsPrimal: 0, epsDual: 0 },
});
const committedAfter = (agent: ReturnType<typeof nodeAgent>, r: number): number[] => [...((agent.plan(plan(r)) as NodePlan).committed ?? [])];

test("a node agent's committed values follow the rounds that took its deltas, each round once and in order", () => {
  const agent = nodeAgent(tenant, problem, node);
  agent.opened(open);
  agent.plan(round(0, [eventId(tenant, problem, "join", 0, node.name)]));
  const columns = committedAfter(agent, 0).length;
  const proposed = Float64Array.from({ length: columns }, (_, k) => (k === 0 ? 1 : 0));
  const delta = agent.deltaEvent({ planRound: 0, committed: new Float64Array(columns), proposed } satisfies AgentView) as CatoptEvent<"node-delta/1">;
  agent.plan(round(2, [delta.id])); // out of order: the fold refuses it, so does the agent
  assert.equal(committedAfter(agent, 0)[0], 0);
  agent.plan(round(1, [delta.id]));
  assert.equal(committedAfter(agent, 1)[0], 1, "round 1 took the delta");
  agent.opened({ ...open, id: `${open.id}-again` }); // a second open changes nothing
  assert.equal(committedAfter(agent, 1)[0], 1);
});

test("a restarted node agent rebuilds its committed values from its own deltas and the round events, and resends a round's delta as it was", () => {
  const first = nodeAgent(tenant, problem, node);
  first.opened(open);
  first.plan(round(0, []));
  const columns = committedAfter(first, 0).length;
  const sent = first.deltaEvent({
    planRound: 0,
    committed: new Float64Array(columns),
    proposed: Float64Array.from({ length: columns }, () => 0.25),
  }) as CatoptEvent<"node-delta/1">;
  const unanswered = first.deltaEvent({
    planRound: 1,
    committed: new Float64Array(columns).fill(0.25),
    proposed: new Float64Array(columns).fill(0.5),
  }) as CatoptEvent<"node-delta/1">;

  const again = nodeAgent(tenant, problem, node);
  again.resume?.([sent, unanswered]);
  again.opened(open);
  again.plan(round(0, []));
  again.plan(round(1, [sent.id]));
  assert.equal(committedAfter(again, 1), new Array(columns).fill(0.25), "round 1 took the delta it had sent");
  const recomputed = again.deltaEvent({ planRound: 1, committed: new Float64Array(columns).fill(0.25), proposed: new Float64Array(columns).fill(0.5000001) });
  assert.is(recomputed, unanswered, "the round it had answered gets the very event it sent");
});

test.run();
