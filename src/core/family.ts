import type { Command } from "./command.ts";
import type { AnyEvent, CatoptEvent } from "./event.ts";
import type { Pending, RoundEvent, RoundRules } from "./round-rules.ts";
import type { ScenarioBase, ScenarioFormat } from "./scenario-format.ts";
import type { PlanStatus, SchemaTable } from "./schemas.ts";

/**
 * The contract between the engine and a problem family (the energy QP, the accelerator
 * allocation, ...): everything the engine's fold, coordinator, agents, summaries and CLI need
 * to know of a kind of problem, and nothing more. A family is a folder under src/families that
 * exports one `ProblemFamily`; src/families/registry.ts lists them, and it is the only door
 * from the engine to a family (scripts/check-layers.mjs holds the engine to that).
 *
 * Every function here is pure: the fold calls them on every message, live and in replay, so
 * they must not read a clock, draw randomness or do I/O, and they refuse bad input by
 * throwing a Refusal (core/refusal.ts) with the reason, never by returning garbage.
 */

/** What the engine reads of any family's problem state; a family's state holds more. */
export type FamilyProblem = {
  readonly tenant: string;
  readonly problem: string;
  readonly phase: "joining" | PlanStatus;
  /** The last closed round; -1 before round 0. */
  readonly round: number;
  /** The round of the last plan event seen that matched the state. */
  readonly planRound: number;
  /** The ADMM penalty the next round's step uses. */
  readonly admm: { readonly rho: number };
  /** Each joined agent's join event id (round 0 takes them). */
  readonly joined: Readonly<Record<string, { readonly id: string }>>;
  /** Deltas received and not yet taken by a round, by event id. */
  readonly pending: Readonly<Record<string, Pending>>;
  readonly residuals: { readonly primal: number; readonly dual: number; readonly epsPrimal: number; readonly epsDual: number };
  /** [round, primal, dual, rho] per closed round, for the convergence picture. */
  readonly history: readonly (readonly [number, number, number, number])[];
  /** A problem with noise: what it holds of its tenant's privacy budget and spent (absent in every other). */
  readonly privacy?: PrivacyHolding;
  /** A secure problem's rounds (secure/round-fold.ts SecureRounds), absent in a plain one: the engine refuses secure events to a problem without them. */
  readonly secure?: { readonly roster: readonly string[] };
};

/**
 * What the engine hands a family with an open event: what governance granted the problem of its
 * tenant's privacy budget (privacy-grant/1 of privacy-budget/1), as zCDP rho, and the budget's
 * delta; absent when it granted none.
 */
export type OpenContext = { readonly privacy?: { readonly rhoLeft: number; readonly delta: number } };

/** What a problem with noise holds of its tenant's privacy budget (zCDP rho), and what its rounds spent of it. */
export type PrivacyHolding = { readonly granted: number; readonly spent: number; readonly delta: number };

/** What an agent's machine reads of a plan: whether the run goes on. */
export type AgentPlan = { readonly status: PlanStatus };

/** The agent's local step, pure: what differs between kinds of agents' math. */
export type LocalSolver<Plan extends AgentPlan, Values> = {
  /** Our values as this plan commits them, given what we proposed for it (null: nothing yet). */
  commit(plan: Plan, proposed: Values | null): Values;
  /** The local step: our next values, from the plan and our committed values. */
  step(plan: Plan, committed: Values): Values;
};

/**
 * An agent's tools for secure rounds, from its runner. `secret`: its identity's seed, what it
 * derives its agreement key and mask seeds from (never sent), so a restarted agent derives the
 * same ones without a file of its own. `peerEvent`: a peer's signed event (its join, relayed in a
 * plan), checked: its signature, and that its signer is the agent the pinned trust root admitted
 * under `agent` in this tenant; throws with the reason otherwise. So no coordinator can hand an
 * agent a key of its own making as a peer's.
 */
/** One secure contribution an agent sent: the masked/1 event as it sent it, its self-mask seed, and the values it stood for (its family's). */
export type JournalEntry = {
  readonly round: number;
  readonly attempt: number;
  readonly event: CatoptEvent<"masked/1">;
  readonly seed: Uint8Array;
  readonly values: unknown;
};

/**
 * An agent's own record of its secure contributions, in a file only it may read (its values and
 * seeds are its own): what a restart needs to go on with a secure problem instead of stopping.
 */
export type AgentJournal = { entries(): readonly JournalEntry[]; save(entries: readonly JournalEntry[]): void };

export type AgentTools = {
  readonly secret: Uint8Array;
  /** Its journal, when its runner keeps one (absent: a restarted agent does not resume a secure problem). */
  readonly journal?: AgentJournal;
  peerEvent(envelope: Uint8Array, agent: string): AnyEvent;
  /**
   * What governance granted the problem of its tenant's privacy budget (privacy-grant/1), as zCDP rho,
   * as the pinned trust root's events say: an agent of a problem with noise takes part only when the
   * rounds its open declares fit in it, whatever the coordinator does after.
   */
  privacyGrant(): { readonly rho: number; readonly delta: number } | undefined;
  /** The fewest agents its operator lets it mask among, whatever the problem's threshold (0: the problem's rules alone). */
  readonly minRoster: number;
};

/** What a family's agent reads of its machine when it writes a delta. */
export type AgentView = {
  /** The last plan acted on (-1: none yet). */
  readonly planRound: number;
  /** Our values as the coordinator committed them, and the step we computed from them. */
  readonly committed: unknown;
  readonly proposed: unknown;
};

/**
 * One agent of a family: its local step and its own events. The engine's runner
 * (agent/agent-runner.ts: runAgent) reads, verifies, signs, publishes and drives the machine.
 */
export type FamilyAgent = {
  /** The agent's name in the problem: its delta subject's last token. */
  readonly name: string;
  readonly solver: LocalSolver<AgentPlan, unknown>;
  /** `round`: the last plan out when the agent started (0 on a fresh problem), so that joining again gets a new event id. */
  joinEvent(round: number): AnyEvent;
  deltaEvent(view: AgentView): AnyEvent;
  /**
   * A (re)started agent's own events the stream holds for this problem, oldest first, signed with
   * its key, before it reads the problem's announcements: what it needs to rebuild of what it sent.
   */
  resume?(own: readonly AnyEvent[]): void;
  /** If this event of the coordinator opens the problem: its agents, or why this agent must stop. An agent may see the same open twice. */
  opened(event: AnyEvent): { readonly agents: readonly string[] } | { readonly stop: string } | undefined;
  /** If this event of the coordinator is a plan: the plan as the machine takes it. */
  plan(event: AnyEvent): AgentPlan | undefined;
  /** What the runner gives an agent that needs it (secure rounds), before anything else. */
  equip?(tools: AgentTools): void;
  /**
   * What the agent answers to a coordinator's event other than a plan (a secure round's taken
   * set: its reveal), for the runner to sign and publish; throws with the reason when it refuses.
   */
  reply?(event: AnyEvent): AnyEvent | undefined;
  /** Its own values as the last round took them, for a run that holds every agent (a secure problem's fold holds no agent's). */
  ownValues?(): Readonly<Record<string, number>>;
};

/** A plan event as `catopt watch` prints it: a summary after the event's head, lines below it, and whether the run ends with it. */
export type PlanView = { readonly final: boolean; readonly summary: string; readonly lines: readonly string[] };

/** A plan's worth, as a summary reports it. */
export type PlanFacts = {
  /** The plan's objective in the family's units (null before there is one). */
  readonly objective: number | null;
  /** Its worst violation of a constraint (null before there is a plan). */
  readonly violation: number | null;
  /** What it allocates, by owner and resource. */
  readonly allocations: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** How far a converged plan may overshoot a constraint. */
  readonly violationTolerance: number;
  /** The relative gap its plan is proven within (a bound on the optimum), where the family proves one. */
  readonly certifiedGap?: number;
};

export type ProblemFamily<P extends FamilyProblem = FamilyProblem> = {
  /** Its name: a folder under src/families, and how scenarios and the CLI call it. */
  readonly name: string;
  /** Its own events' schemas (its folder's schemas.ts): open, join, delta and plan bodies, each declared once with its kind (core/wire-schema.ts). The engine opens problems with its open events and routes the rest to `apply`. */
  readonly schemas: SchemaTable;
  /** Whether a problem state is one of this family's (a new family's state carries a `kind` of its own, to tell it apart). */
  owns(problem: FamilyProblem): problem is P;
  /** The problem one of its open events starts; `context`: what the engine knows of its tenant that the event cannot say. */
  open(event: AnyEvent, context?: OpenContext): P;
  /**
   * One of its events (a join, delta, leave or plan; round events go to closeRound), from the
   * agent whose delta subject it arrived on, if any, with the signed envelope it came in (a
   * secure problem keeps its agents' signed joins, for every agent to check its peers' keys).
   * Returns the next state or refuses.
   */
  apply(problem: P, event: AnyEvent, agent: string | undefined, envelope?: Uint8Array): P;
  /**
   * An agent leaves for good (leave/1, an engine event): rounds stop waiting for it and its
   * values stop counting. Absent: this family's agents cannot leave, and a leave is refused.
   */
  leave?(problem: P, agent: string): P;
  /** The agents that have left for good: a run checks its plan against the optimum without them. */
  leftAgents?(problem: P): readonly string[];
  /**
   * Secure rounds: a new attempt (attempt/1) of the next round whose roster leaves out the agents
   * that left and those in `missing` (that did not answer in time); undefined when the roster
   * stands, or when too few would be left. Absent: this family's rounds are never tried again.
   */
  retry?(problem: P, missing: readonly string[]): AnyEvent | undefined;
  /**
   * Secure rounds: a request (recover/1) for the seeds of taken agents that have not revealed,
   * from their peers' shares; undefined when none is missing, one was asked for, or too few
   * peers revealed to hold a majority of the shares.
   */
  recover?(problem: P): AnyEvent | undefined;
  /** Closes a round: commits the deltas it took, then the coordinator's step. */
  closeRound(problem: P, event: RoundEvent): P;
  /** Which problem (tenant/problem) an event belongs to, when not its own tenant's (a tenant plan). */
  problemTenant?(event: AnyEvent): string | undefined;
  /** The agents whose part every round needs now. */
  agentsOf(problem: P): readonly string[];
  /** Which deltas the next round may take. */
  roundRules(problem: P): RoundRules;
  /** The plan events the coordinator publishes after the last closed round, in order, each with its tenant (its subject's). */
  planEvents(problem: P): readonly { readonly tenant: string; readonly event: AnyEvent }[];
  /** The plan's objective, violation and allocations, for summaries. `extraViolation`: what the run measured beyond the fold (agents' bounds). */
  facts(problem: P, extraViolation: number): PlanFacts;
  /**
   * Tenants besides the problem's own whose plan subjects it publishes on (a cluster's job
   * tenants), and the round of the last plan of each that the fold accepted: a replay that
   * folds them too checks every tenant got the final plan.
   */
  tenantPlans?(problem: P): { readonly tenants: readonly string[]; readonly lastAccepted: Readonly<Record<string, number>> };
  /** One of its plan events as a person watching the plan topics reads it; undefined for its other events. */
  describePlan?(event: AnyEvent): PlanView | undefined;
  /** Its scenario files (core/scenario-format.ts): how `catopt run`, `coordinator` and `agent` run its problems. */
  readonly scenarios?: ScenarioFormat<ScenarioBase>;
  /** Commands of its own, listed by `catopt --help` beside the engine's (the allocation's `catopt allocate`). */
  readonly commands?: readonly Command[];
};
