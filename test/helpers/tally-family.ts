import { eventId, planEventOf, type AnyEvent, type CatoptEvent } from "../../src/core/event.ts";
import type { FamilyAgent, FamilyProblem, ProblemFamily } from "../../src/core/family.ts";
import { refuse as reject } from "../../src/core/refusal.ts";
import { staleReason, synchronousRules, takenDeltas, type Pending, type RoundEvent } from "../../src/core/round-rules.ts";
import { PLAN_STATUSES, type SchemaTable } from "../../src/core/schemas.ts";
import { declareBody, field, type BodyOfDeclared } from "../../src/core/wire-schema.ts";
import * as v from "../../src/core/validate.ts";
import type { ScenarioBase, ScenarioFormat } from "../../src/core/scenario-format.ts";
import { scenarioParse, tokenField } from "../../src/core/scenario-fields.ts";

// A problem family defined only here, to show that the engine runs any family through its
// contract (core/family.ts) and registry, without a change to an engine file. Each agent holds
// a private target; it answers each plan with halfway between its target and the plan's mean,
// so the values settle where the mean is the mean of the targets.

const TALLY_OPEN = declareBody("open", {
  agents: field("array:string", v.stringList, ["a"]),
  tolerance: field("number", v.positive, 1e-9),
  maxRounds: field("integer", (x, at) => v.integer(x, at, 1), 10),
});
const TALLY_JOIN = declareBody("join", {});
const TALLY_VALUE = declareBody("delta", { value: field("number", v.finite, 1) });
const TALLY_PLAN = declareBody("plan", { status: field("string", (x, at) => v.oneOf(x, PLAN_STATUSES, at), "running"), mean: field("number", v.finite, 0) });

type TallyOpen = BodyOfDeclared<typeof TALLY_OPEN>;
type TallyPlan = BodyOfDeclared<typeof TALLY_PLAN>;

declare module "../../src/core/schemas.ts" {
  interface BodyOf {
    "tally-open/1": TallyOpen;
    "tally-join/1": BodyOfDeclared<typeof TALLY_JOIN>;
    "tally-value/1": BodyOfDeclared<typeof TALLY_VALUE>;
    "tally-plan/1": TallyPlan;
  }
}

const SCHEMAS: SchemaTable = { "tally-open/1": TALLY_OPEN, "tally-join/1": TALLY_JOIN, "tally-value/1": TALLY_VALUE, "tally-plan/1": TALLY_PLAN };

type TallyState = FamilyProblem & {
  readonly kind: "tally";
  readonly open: TallyOpen;
  readonly values: Readonly<Record<string, number>>;
  readonly pending: Readonly<Record<string, Pending & { readonly value: number }>>;
  readonly plan: TallyPlan | null;
};

const isTally = (p: FamilyProblem): p is TallyState => "kind" in p && p.kind === "tally";

function closeRound(p: TallyState, event: RoundEvent): TallyState {
  if (event.round !== p.round + 1) reject(`round ${event.round} closed out of order`);
  if (event.round === 0) {
    if (event.body.took.length !== p.open.agents.length || p.open.agents.some((a) => !event.body.took.includes(p.joined[a]?.id ?? "")))
      reject("round 0 takes every join");
    return { ...p, phase: "running", round: 0, plan: { status: "running", mean: 0 } };
  }
  const taken = takenDeltas(p.pending, event, p.round, synchronousRules(p.round));
  if (taken.length !== p.open.agents.length) reject(`round ${event.round} took ${taken.length} values, not one per agent`);
  const values = Object.fromEntries(taken.map((d) => [d.agent, d.value]));
  const change = Math.max(...p.open.agents.map((a) => Math.abs(values[a] - (p.values[a] ?? 0))));
  const mean = p.open.agents.reduce((sum, a) => sum + values[a], 0) / p.open.agents.length;
  const phase = change <= p.open.tolerance ? "converged" : event.round >= p.open.maxRounds ? "max-rounds" : "running";
  return {
    ...p,
    phase,
    round: event.round,
    values,
    pending: Object.fromEntries(Object.entries(p.pending).filter(([, d]) => d.round > event.round)),
    residuals: { primal: change, dual: 0, epsPrimal: p.open.tolerance, epsDual: 0 },
    history: [...p.history, [event.round, change, 0, 1]],
    plan: { status: phase, mean },
  };
}

/** A tally scenario file ("tally-scenario/1"): each agent's private target, the tolerance and the round limit. */
type TallyScenario = ScenarioBase & { readonly targets: Readonly<Record<string, number>>; readonly tolerance: number };

const tallyScenarios: ScenarioFormat<TallyScenario> = {
  format: "tally-scenario/1",
  parse: (json, source) =>
    scenarioParse(source, () => {
      const s = v.record(json, "scenario");
      const targets = v.numberMap(s.targets, "scenario.targets");
      for (const name of Object.keys(targets)) tokenField(name, `scenario.targets.${name}`);
      return {
        name: v.string(s.name, "scenario.name"),
        description: "",
        tenant: tokenField(s.tenant, "scenario.tenant"),
        problem: tokenField(s.problem, "scenario.problem"),
        roundTimeoutMs: 10_000,
        rounds: {},
        faults: [],
        maxRounds: v.integer(s.maxRounds, "scenario.maxRounds", 1),
        source,
        targets,
        tolerance: v.positive(s.tolerance, "scenario.tolerance"),
      };
    }),
  describe: (s) => `tally ${s.name}: ${Object.keys(s.targets).length} agents`,
  agents: (s) => Object.keys(s.targets),
  planTenants: () => [],
  open: (s, tenant, problem) => tallyOpen(tenant, problem, { agents: Object.keys(s.targets), tolerance: s.tolerance, maxRounds: s.maxRounds }),
  agent: (s, tenant, problem, name) => tallyAgent(tenant, problem, name, s.targets[name]),
  // Pooling every target, as only a reference may: their mean.
  reference: async (s, without) => {
    const kept = Object.entries(s.targets).filter(([name]) => !without.includes(name));
    return { status: "optimal", objective: kept.reduce((sum, [, t]) => sum + t, 0) / kept.length, seconds: 0, allocations: {} };
  },
  picture: (_s, allocations) => Object.entries(allocations).map(([agent, x]) => `${agent}: ${x.value}`),
  progressEvery: 10,
};

export const tallyFamily: ProblemFamily<TallyState> = {
  name: "tally",
  schemas: SCHEMAS,
  owns: isTally,
  open: (event) => {
    if (event.schema !== "tally-open/1") return reject(`${event.schema} does not open a tally`);
    const none = { primal: 0, dual: 0, epsPrimal: 0, epsDual: 0 };
    return {
      kind: "tally",
      tenant: event.tenant,
      problem: event.problem,
      open: event.body,
      phase: "joining",
      round: -1,
      planRound: -1,
      admm: { rho: 1 },
      joined: {},
      pending: {},
      residuals: none,
      history: [],
      values: {},
      plan: null,
    };
  },
  apply: (p, event, agent) => {
    if (event.schema === "tally-plan/1") {
      if (event.round !== p.round || p.plan === null || event.round <= p.planRound) reject(`plan for round ${event.round} is not due`);
      if (event.body.status !== p.plan?.status || event.body.mean !== p.plan?.mean) reject(`plan for round ${event.round} does not match the replayed state`);
      return { ...p, planRound: event.round };
    }
    const from = agent ?? reject(`a ${event.schema} must arrive on its agent's delta subject`);
    if (!p.open.agents.includes(from)) reject(`${from} is not an agent of tally ${p.problem}`);
    if (event.schema === "tally-join/1") {
      if (p.joined[from] !== undefined || p.phase !== "joining") reject(`${from} cannot join now`);
      return { ...p, joined: { ...p.joined, [from]: { id: event.id } } };
    }
    if (event.schema === "tally-value/1") {
      if (p.phase !== "running") reject(`a value from ${from} after the tally ended`);
      const stale = staleReason({ agent: from, round: event.round, base: event.base }, p.round, synchronousRules(p.round));
      if (stale !== undefined) reject(`a value from ${from} comes too late: ${stale}`);
      return { ...p, pending: { ...p.pending, [event.id]: { agent: from, round: event.round, base: event.base, value: event.body.value } } };
    }
    return reject(`a ${event.schema} event does not belong to tally ${p.problem}`);
  },
  closeRound,
  agentsOf: (p) => p.open.agents,
  roundRules: (p) => synchronousRules(p.round),
  planEvents: (p) => [
    {
      tenant: p.tenant,
      event: planEventOf("tally-plan/1", p.tenant, p.problem, p.round, p.plan ?? reject("no plan yet")),
    },
  ],
  facts: (p) => ({
    objective: p.plan?.mean ?? null,
    violation: 0,
    allocations: Object.fromEntries(Object.entries(p.values).map(([a, value]) => [a, { value }])),
    violationTolerance: 0,
  }),
  scenarios: tallyScenarios,
};

export function tallyOpen(tenant: string, problem: string, open: TallyOpen): CatoptEvent<"tally-open/1"> {
  return { schema: "tally-open/1", id: eventId(tenant, problem, "open", 0), tenant, problem, round: 0, base: -1, body: open };
}

/** An agent of a tally: its target stays its own; it sends only halfway values. */
export function tallyAgent(tenant: string, problem: string, name: string, target: number): FamilyAgent {
  return {
    name,
    solver: { commit: (_plan, proposed) => proposed ?? 0, step: (plan, _committed) => (target + (plan as TallyPlan).mean) / 2 },
    joinEvent: (round) => ({ schema: "tally-join/1", id: eventId(tenant, problem, "join", round, name), tenant, problem, round, base: round - 1, body: {} }),
    deltaEvent: (view) => ({
      schema: "tally-value/1",
      id: eventId(tenant, problem, "delta", view.planRound + 1, name),
      tenant,
      problem,
      round: view.planRound + 1,
      base: view.planRound,
      body: { value: view.proposed as number },
    }),
    opened: (event: AnyEvent) => (event.schema === "tally-open/1" ? { agents: event.body.agents } : undefined),
    plan: (event: AnyEvent) => (event.schema === "tally-plan/1" ? event.body : undefined),
  };
}
