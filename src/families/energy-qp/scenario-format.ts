import { catoptError } from "../../core/errors.ts";
import type { ScenarioFormat } from "../../core/scenario-format.ts";
import { ADAPTERS } from "./adapters/registry.ts";
import { qpAgent } from "./agent.ts";
import { energyQp, openEvent } from "./fold.ts";
import { checkLocalProblem } from "./local-problem.ts";
import { solveReference } from "./reference.ts";
import { planTable } from "./render.ts";
import { parseScenario, SCENARIO_FORMAT, type Scenario } from "./scenario.ts";
import { boundViolation, globalViolation } from "./violation.ts";
import { localObjective } from "./local-problem.ts";

/** The energy QP's scenario files ("catopt-scenario/1"): one agent per asset, each with its private local problem. */
export const energyQpScenarios: ScenarioFormat<Scenario> = {
  format: SCENARIO_FORMAT,
  parse: parseScenario,
  describe: (s) =>
    `scenario ${s.name}: ${s.assets.length} agents (${s.spec.agents.join(", ")}), ${s.spec.resources.length} resources, ${s.spec.constraints.length} global constraints; ${
      s.spec.secure === undefined
        ? `plain rounds (${s.plainBecause ?? "secure aggregation is off"})`
        : `secure aggregation (fixed point 2^-${s.spec.secure.fractionBits}, at least ${s.spec.secure.threshold} agents a round)`
    }`,
  agents: (s) => s.spec.agents,
  nodeOf: (s, agent) => assetOf(s, agent).node,
  planTenants: () => [],
  open: (s, tenant, problem) => openEvent(tenant, problem, s.spec),
  agent: (s, tenant, problem, name) => qpAgent(tenant, problem, assetOf(s, name).problem),
  reference: async (s, without) => {
    const started = performance.now();
    const solved = await solveReference(stayed(s, without), s.spec.constraints);
    return { ...solved, seconds: (performance.now() - started) / 1000 };
  },
  // An agent's own bounds are private to it: only the run, which holds every asset, can check the plan against them.
  privateViolation: (s, problem, without, values) => {
    if (!energyQp.owns(problem)) return 0;
    const bounds = boundViolation(stayed(s, without), problem.secure === undefined ? problem.x : values);
    // With noise the fold's sums are noisy: the global constraints are checked on what the agents really hold.
    return problem.privacy === undefined ? bounds : Math.max(bounds, globalViolation(s.spec.constraints, values));
  },
  privateObjective: (s, without, values) =>
    s.assets.filter((a) => !without.includes(a.agent)).reduce((sum, a) => sum + localObjective(a.problem, values[a.agent] ?? {}), 0),
  picture: (s, allocations) => planTable(s.spec, allocations, s.units),
  progressEvery: 10,
  adapters: [...ADAPTERS.values()].map((adapter) => ({
    name: adapter.name,
    consumes: adapter.consumes,
    produces: adapter.produces,
    examples: adapter.examples,
    convert: (owner, input, path) => checkLocalProblem(adapter.toLocalProblem(owner, input, path), path),
  })),
  adapterSchemas: [
    { name: "energy-asset-input", version: 1, fields: [{ name: "slots", type: "map:object", required: true }] },
    {
      name: "local-problem",
      version: 1,
      fields: [
        { name: "owner", type: "string", required: true },
        { name: "variables", type: "array:object", required: true },
        { name: "constant", type: "number", required: true },
      ],
    },
  ],
};

const stayed = (s: Scenario, without: readonly string[]) => s.assets.filter((a) => !without.includes(a.agent)).map((a) => a.problem);

function assetOf(s: Scenario, agent: string): Scenario["assets"][number] {
  return (
    s.assets.find((a) => a.agent === agent) ??
    (() => {
      throw catoptError("USAGE", `scenario ${s.name} has no agent "${agent}"`);
    })()
  );
}
