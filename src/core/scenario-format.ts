import type { AnyEvent } from "./event.ts";
import type { FamilyAgent, FamilyProblem, PlanFacts } from "./family.ts";
import type { Fault } from "./faults.ts";
import type { RoundPolicy } from "./scenario-fields.ts";
import type { SchemaDescriptor } from "./wire-schema.ts";

/**
 * What a problem family brings to a whole run of one of its scenario files: `catopt run`,
 * `coordinator` and `agent` (src/run/run-problem.ts and src/cli) read scenarios only through
 * this, so a family with a scenario format runs end to end with no engine change. The family
 * keeps its data in its own scenario type `S`; the engine reads the fields of ScenarioBase.
 */
export type ScenarioBase = {
  readonly name: string;
  readonly description: string;
  /** The tenant whose subjects the problem's events travel on. */
  readonly tenant: string;
  readonly problem: string;
  /** How long the coordinator waits for a round's deltas before it gives up, in ms. */
  readonly roundTimeoutMs: number;
  /** When the coordinator closes a round before every agent's delta is in (empty: synchronous rounds). */
  readonly rounds: RoundPolicy;
  /** Faults `catopt run` performs during the run (core/faults.ts). */
  readonly faults: readonly Fault[];
  /** The round limit, for the message of a run that did not converge. */
  readonly maxRounds: number;
  /** Where it was read from, for messages. */
  readonly source: string;
  /** The tenant's privacy budget (privacy-budget/1) `catopt run` sets before the problem opens: a scenario with noise pays from it. */
  readonly privacyBudget?: { readonly epsilon: number; readonly delta: number };
  /** Why its rounds run plain, where they do (secure aggregation is the default): `catopt run` says so. */
  readonly plainBecause?: string;
  /** Events the platform publishes as the run goes (a cluster's churn), in round order; absent: none. */
  readonly scripted?: readonly ScriptedEvent[];
};

/**
 * An event `catopt run` publishes once the coordinator has closed round `round`, or `afterMs`
 * after the run started (exactly one of them), as the platform's operator would live (`catopt
 * change`): signed by the run's coordinator identity, on the problem's round subject, where only a
 * coordinator may write. One that a problem that ended first never gets is reported as not reached.
 */
export type ScriptedEvent = {
  readonly round?: number;
  readonly afterMs?: number;
  /** What it does, for the run's notes ("3 jobs arrive, 1 departs"). */
  readonly describe: string;
  event(tenant: string, problem: string): AnyEvent;
};

/** The centralized solve a run is checked against (HiGHS): it pools every owner's data, so it is for validation only. */
export type ReferenceSolution =
  | { readonly status: "optimal"; readonly objective: number; readonly seconds: number; readonly allocations: PlanFacts["allocations"] }
  | { readonly status: "infeasible" | "unbounded" | "error"; readonly detail: string; readonly seconds: number };

/** An agent made from what its node reads of itself (a vendor tool's output) rather than from a scenario: `catopt agent --adapter`. */
export type NodeAdapter = {
  readonly name: string;
  readonly describe: string;
  /** The command whose output it reads, run on the node when no input file is given (empty: it needs a file). */
  readonly command: readonly string[];
  /** Reads the node; `type` overrides a model the adapter does not know. Throws ADAPTER_INPUT naming the source. */
  read(
    node: string,
    text: string,
    source: string,
    type: string | undefined,
  ): { readonly describe: string; agent(tenant: string, problem: string): FamilyAgent };
};

/**
 * An adapter that turns an owner's input into what a scenario holds, with examples the
 * conformance harness (`catopt contracts check`) holds to the contracts catalog.
 */
export type ConformingAdapter = {
  readonly name: string;
  /** The catalog schemas (name/version) of what it reads and what it makes. */
  readonly consumes: string;
  readonly produces: string;
  readonly examples: readonly unknown[];
  /** What it makes of an input (refusing it with a ValidationError naming the path). */
  convert(owner: string, input: unknown, path: string): unknown;
};

export type ScenarioFormat<S extends ScenarioBase> = {
  /** The "format" its files declare: a name and a version, unique among the families. */
  readonly format: string;
  /** Parses a file's JSON; a bad field is SCENARIO_INVALID naming the file and the field's path. */
  parse(json: unknown, source: string): S;
  /** One line: what the scenario holds, said before a run. */
  describe(scenario: S): string;
  /** Its agents, one per key of the same name. */
  agents(scenario: S): readonly string[];
  /** The node an agent runs on (`catopt agent --node`); an agent is its own node when absent. */
  nodeOf?(scenario: S, agent: string): string;
  /** Tenants besides the scenario's where the coordinator publishes plans (a cluster's job tenants): it is admitted there too. */
  planTenants(scenario: S): readonly string[];
  /** The event that opens the problem: the public part of the scenario only. */
  open(scenario: S, tenant: string, problem: string): AnyEvent;
  /** The agent of this name, with its private data. */
  agent(scenario: S, tenant: string, problem: string, name: string): FamilyAgent;
  /** The centralized optimum without the agents in `without` (those that left the run). Throws PROBLEM_INFEASIBLE for what no run could meet. */
  reference(scenario: S, without: readonly string[]): Promise<ReferenceSolution>;
  /**
   * The worst violation of what the fold cannot see (agents' private bounds) by the final plan,
   * agents in `without` left out. `values`: each agent's own, as it reported them at the end (a
   * secure problem's fold holds none).
   */
  privateViolation?(
    scenario: S,
    problem: FamilyProblem,
    without: readonly string[],
    values: Readonly<Record<string, Readonly<Record<string, number>>>>,
  ): number;
  /**
   * The plan's objective from every agent's own values, for a run that holds every agent where the
   * fold cannot say it (a problem with noise releases no objective); absent: the fold always can.
   */
  privateObjective?(scenario: S, without: readonly string[], values: Readonly<Record<string, Readonly<Record<string, number>>>>): number;
  /**
   * The scenario as its run left it, where scripted events changed the problem (a cluster after
   * its churn, from the fold's final state): the reference and the picture are this one's.
   * Absent, or undefined: the problem is the scenario's.
   */
  changed?(scenario: S, problem: FamilyProblem): S | undefined;
  /** The plan as a person reads it (a table, bars per tenant). */
  picture(scenario: S, allocations: PlanFacts["allocations"]): string[];
  /** What an objective means in the family's terms, for the report (absent: the number says it). */
  describeObjective?(scenario: S, objective: number): string;
  /** Print every this many rounds when the output is not a terminal (the first few are always printed). */
  readonly progressEvery: number;
  /** Agents from what a node reads of itself (`catopt agent --adapter`), by name. */
  readonly nodeAdapters?: ReadonlyMap<string, NodeAdapter>;
  /** Adapters whose examples `catopt contracts check` holds to the catalog. */
  readonly adapters?: readonly ConformingAdapter[];
  /** The catalog's descriptors of what its adapters read and make (ConformingAdapter.consumes and .produces). */
  readonly adapterSchemas?: readonly SchemaDescriptor[];
};
