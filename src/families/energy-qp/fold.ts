import { eventId, planEventOf, type CatoptEvent } from "../../core/event.ts";
import { sci } from "../../core/text-charts.ts";
import type { FamilyProblem, OpenContext, PrivacyHolding, ProblemFamily } from "../../core/family.ts";
import { epsilonFor } from "../../secure/zcdp.ts";
import type { ProblemSpec } from "./schemas.ts";
import type { PlanStatus } from "../../core/schemas.ts";
import { ENERGY_QP_SCHEMAS, type PlanBody, type SharedPlanBody } from "./schemas.ts";
import { refuse as reject } from "../../core/refusal.ts";
import { answered, settledRound, staleReason, stillPending, takenDeltas, without, type RoundEvent, type RoundRules } from "../../core/round-rules.ts";
import { agentSignal, aggregateRound, constraintRows, coordinatorStep, initialAdmmState, type AdmmState, type Residuals } from "../../solver/admm.ts";
import { globalViolation } from "./violation.ts";
import { sameBytes } from "../../secure/aggregation.ts";
import type { Words } from "../../secure/ring.ts";
import {
  checkSecureJoin,
  checkSecureRounds,
  pendingMasked,
  planRoster,
  recoverEvent,
  retryEvent,
  takeAttempt,
  takeRecover,
  takeReveal,
  takeRound,
  takeShares,
  type PendingMasked,
  type Revealed,
  type RevealingRound,
  type SecureProblem,
  type SecureRounds,
} from "../../secure/round-fold.ts";
import { contributionLength, fractionBitsAvailable, roundPrivacyCost, sumsOf, type SecureSums } from "./secure-layout.ts";
import type { RoundAggregate } from "../../solver/admm.ts";

/**
 * The energy QP's fold (the walking skeleton's problem): each owner's separable convex
 * quadratic with bounds, coupled by linear global constraints, solved by sharing ADMM.
 * open/1 opens it; agents join (join/2, or join/1 of older streams), send deltas (delta/1) and
 * may leave (the engine's leave/1); each round commits the deltas it took and takes the coordinator's
 * projection step; plan/1 must say exactly what the state implies. Pure; refuses bad input.
 */
type JoinedAgent = {
  readonly id: string;
  readonly resources: readonly string[];
  readonly lower?: Readonly<Record<string, number>>;
  readonly upper?: Readonly<Record<string, number>>;
  readonly left?: number;
  /** Its X25519 key for secure rounds (join/2 of a secure problem), and the signed join it came in (relayed in plans). */
  readonly agreementKey?: Uint8Array;
  readonly signedJoin?: Uint8Array;
};

type PendingDelta = {
  readonly agent: string;
  readonly round: number;
  readonly base: number;
  readonly entries: Readonly<Record<string, number>>;
  readonly objective: number;
};

export type ProblemState = {
  readonly tenant: string;
  readonly problem: string;
  readonly spec: ProblemSpec;
  readonly phase: "joining" | PlanStatus;
  /** Resources each joined agent uses, the id of its join event, the box it declared (join/2), and the round after which it left, if it did. */
  readonly joined: Readonly<Record<string, JoinedAgent>>;
  /** Deltas (or, in a secure problem, masked contributions) received and not yet taken by a round, by event id. */
  readonly pending: Readonly<Record<string, PendingDelta | PendingMasked>>;
  /** Each agent's committed x_i, by resource (a secure problem's fold holds none: only their sums, in `secure`). */
  readonly x: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** The round that last changed each agent's x_i (took its delta, or its join): a delta answering an older plan is stale. */
  readonly committedAt: Readonly<Record<string, number>>;
  /**
   * The plan an agent's x_i answers, where that is older than the plan before the round that
   * took it (a late delta of asynchronous rounds); absent for every other agent, and absent
   * altogether when there is none, as in every synchronous run (so their state hashes stay).
   */
  readonly lateAnswers?: Readonly<Record<string, number>>;
  /**
   * The first of the rounds, up to the last one, whose residuals all met their tolerances while
   * the run went on (some agent's values answered a plan from before them); absent otherwise.
   */
  readonly steadySince?: number;
  readonly objectives: Readonly<Record<string, number>>;
  /** The last closed round; -1 before round 0. */
  readonly round: number;
  readonly admm: AdmmState;
  readonly residuals: Residuals;
  /** The plan that the last closed round implies; the coordinator publishes exactly this. */
  readonly plan: PlanBody | null;
  /** The round of the last plan event seen that matched `plan`. */
  readonly planRound: number;
  /** [round, primal, dual, rho] per closed round, for the convergence picture. */
  readonly history: readonly (readonly [number, number, number, number])[];
  /** A secure problem's sums and the round waiting for its reveals; absent in plain problems (so their state hashes stay). */
  readonly secure?: SecureState;
  /** A problem with noise: what it holds of its tenant's privacy budget, and what its rounds spent. */
  readonly privacy?: PrivacyHolding;
};

/** A secure problem's rounds (secure/round-fold.ts), and the sums the last round's reveals gave: of the agents' values by resource, and of their objectives. */
type SecureState = SecureRounds & { readonly x: readonly number[]; readonly objective: number };

/** What the secure rules read of the problem. */
const secureProblemOf = (p: ProblemState): SecureProblem => ({
  tenant: p.tenant,
  problem: p.problem,
  agents: p.spec.agents,
  threshold: (p.spec.secure as NonNullable<ProblemSpec["secure"]>).threshold,
  words: contributionLength(p.spec),
  round: p.round,
});

const NO_RESIDUALS: Residuals = { primal: 0, dual: 0, epsPrimal: 0, epsDual: 0 };

/** The agents whose part every round needs: the problem's, less those that left; in a secure problem, the round's roster. */
const agentsOf = (p: ProblemState): readonly string[] =>
  p.secure !== undefined && p.phase === "running" ? p.secure.roster : p.spec.agents.filter((a) => p.joined[a]?.left === undefined);

/** Which deltas the next round may take: rounds may be asynchronous, within the problem's staleness. */
const roundRules = (p: ProblemState): RoundRules => ({ maxStaleness: p.spec.admm.maxStaleness, committedAt: (agent) => p.committedAt[agent] });

export const energyQp: ProblemFamily<ProblemState> = {
  name: "energy-qp",
  schemas: ENERGY_QP_SCHEMAS,
  // Other families' states say their kind; the QP's, older, carries no tag (so recorded state hashes stay): its spec tells it.
  owns: (problem: FamilyProblem): problem is ProblemState => !("kind" in problem) && "spec" in problem,
  open: (event, context) => (event.schema === "open/1" ? open(event, context) : reject(`${event.schema} does not open an energy QP`)),
  apply: (p, event, agent, envelope) => {
    if (event.schema === "plan/1" || event.schema === "plan/2") return checkPlan(p, event);
    // Secure events reach only a secure problem (the engine refuses them to a plain one: replay/reducer.ts).
    if (event.schema === "attempt/1") return attempt(p, event);
    if (event.schema === "recover/1") return recover(p, event);
    const from = agent ?? reject(`a ${event.schema.slice(0, -2)} must arrive on its agent's delta subject`);
    if (event.schema === "join/2") return join(p, event, from, envelope);
    if (p.spec.secure !== undefined && event.schema === "delta/1")
      reject(`problem ${p.problem} is secure: ${from}'s part must come masked (masked/1), not as a delta`);
    if (event.schema === "delta/1") return delta(p, event, from);
    if (event.schema === "masked/1") return masked(p, event, from);
    if (event.schema === "reveal/1") return reveal(p, event, from);
    if (event.schema === "share/1") return share(p, event, from);
    return reject(`a ${event.schema} event does not belong to energy QP ${p.problem}`);
  },
  leave: (p, agent) => (p.spec.secure === undefined ? leave(p, agent) : secureLeave(p, agent)),
  retry: (p, missing) =>
    p.secure === undefined || p.phase !== "running"
      ? undefined
      : retryEvent(secureProblemOf(p), p.secure, (a) => p.joined[a]?.left !== undefined || missing.includes(a)),
  recover: (p) => (p.secure === undefined ? undefined : recoverEvent(secureProblemOf(p), p.secure)),
  describePlan: (event) => {
    if (event.schema !== "plan/1" && event.schema !== "plan/2") return undefined;
    const plan = event.body;
    const values = (x: Readonly<Record<string, number>>, digits: number) =>
      Object.entries(x)
        .map(([r, value]) => `${r}=${value.toFixed(digits)}`)
        .join("  ");
    return {
      final: plan.status !== "running",
      summary: `${plan.status}  objective ${plan.objective.toFixed(4)}  primal ${sci(plan.primal)}  dual ${sci(plan.dual)}  rho ${plan.rho}`,
      lines:
        "allocations" in plan
          ? Object.entries(plan.allocations).map(([agent, x]) => `  ${agent.padEnd(12)} ${values(x, 2)}`)
          : [`  signal       ${values(plan.signal, 4)}`],
    };
  },
  leftAgents: (p) => p.spec.agents.filter((a) => p.joined[a]?.left !== undefined),
  closeRound,
  agentsOf,
  roundRules,
  planEvents: (p) => [{ tenant: p.tenant, event: expectedPlanEvent(p) }],
  facts: (p, extraViolation) => ({
    // With noise the fold holds neither the objective nor the sums' true values: only the run, holding every agent, can say them.
    objective: p.privacy === undefined ? (p.plan?.objective ?? null) : null,
    // A secure fold holds only the fleet's sums: the global constraints bound exactly those.
    violation:
      p.privacy !== undefined
        ? extraViolation
        : Math.max(globalViolation(p.spec.constraints, p.secure === undefined ? p.x : { fleet: fleetOf(p, p.secure.x) }), extraViolation),
    allocations: p.secure === undefined ? p.x : {},
    // A converged plan may overshoot a constraint by at most 1e-6 of the problem's largest limit (1e-6 at least).
    violationTolerance: 1e-6 * Math.max(1, ...p.spec.constraints.map((c) => Math.abs(c.limit))),
  }),
};

function open(event: CatoptEvent<"open/1">, context?: OpenContext): ProblemState {
  const spec = event.body;
  if (spec.secure !== undefined) checkSecure(spec);
  return {
    ...(spec.secure?.noise === undefined ? {} : { privacy: grant(event, context) }),
    tenant: event.tenant,
    problem: event.problem,
    spec,
    phase: "joining",
    joined: {},
    pending: {},
    x: {},
    committedAt: {},
    objectives: {},
    round: -1,
    admm: initialAdmmState(spec.resources.length, spec.admm),
    residuals: NO_RESIDUALS,
    plan: null,
    planRound: -1,
    history: [],
    ...(spec.secure === undefined ? {} : { secure: { roster: [], x: spec.resources.map(() => 0), objective: 0 } }),
  };
}

/**
 * What secure aggregation needs of a problem: synchronous rounds (a masked contribution counts
 * only in the round it was masked for: its masks cancel only with its roster's), a threshold the
 * problem's agents can meet, and sums that fit 64 bits at its fraction bits.
 */
function checkSecure(spec: ProblemSpec): void {
  const secure = spec.secure as NonNullable<ProblemSpec["secure"]>;
  checkSecureRounds(spec.agents, spec.admm.maxStaleness, secure.threshold);
  if (new Set(spec.resources).size !== spec.resources.length) reject("a secure problem names each resource once");
  const available = fractionBitsAvailable(spec, secure.maxAbs, secure.noise);
  if (secure.fractionBits > available)
    reject(
      `a secure problem's sums do not fit: values up to ${secure.maxAbs} leave ${available} fraction bits for 64-bit sums and their squares, not ${secure.fractionBits}`,
    );
  if (secure.noise !== undefined)
    try {
      roundPrivacyCost(spec);
    } catch (err) {
      reject(`a secure problem's noise cannot be shared: ${(err as Error).message}`);
    }
}

/**
 * What a problem with noise holds of its tenant's privacy budget: its rounds' worth (its most
 * rounds, each at the most a round of it can spend), or what governance granted it if that is
 * less. A problem granted nothing is refused: nothing could pay for its noise.
 */
function grant(event: CatoptEvent<"open/1">, context?: OpenContext): PrivacyHolding {
  const left =
    context?.privacy ??
    reject(
      `governance granted problem ${event.problem} of tenant ${event.tenant} no privacy budget (privacy-grant/1): it adds noise, and nothing could pay for it`,
    );
  return { granted: Math.min(left.rhoLeft, event.body.admm.maxRounds * roundPrivacyCost(event.body)), spent: 0, delta: left.delta };
}

const fleetOf = (p: ProblemState, x: readonly number[]): Record<string, number> => Object.fromEntries(p.spec.resources.map((r, j) => [r, x[j]]));

/**
 * An agent may join before round 0 (which takes the joins in) or, when the coordinator started
 * at a quorum, later: it then counts from the next round on, with x_i = 0 until a round takes
 * its first delta. An agent that left may join again the same way.
 */
function join(p: ProblemState, event: CatoptEvent<"join/2">, agent: string, envelope?: Uint8Array): ProblemState {
  if (!p.spec.agents.includes(agent)) reject(`agent ${agent} is not part of problem ${p.problem}`);
  if (p.joined[agent] !== undefined && p.joined[agent].left === undefined) reject(`agent ${agent} already joined`);
  if (p.phase !== "joining" && p.phase !== "running") reject(`agent ${agent} joined after the problem ended (${p.phase})`);
  const unknown = event.body.resources.find((r) => !p.spec.resources.includes(r));
  if (unknown !== undefined) reject(`agent ${agent} uses resource ${unknown}, which the problem does not have`);
  // A join/1 (upcast) declares no box: its values are held only to the bound on every number (validate.finite).
  const { lower, upper, agreementKey } = event.body;
  const box = lower === undefined || upper === undefined ? {} : { lower, upper };
  const key = p.spec.secure === undefined ? {} : checkSecureJoin(p.joined, agent, agreementKey, envelope, p.phase !== "joining", p.problem);
  const joined = { ...p.joined, [agent]: { id: event.id, resources: event.body.resources, ...box, ...key } };
  if (p.phase === "joining") return { ...p, joined };
  const x = { ...p.x, [agent]: zeros(event.body.resources) };
  // Its zeros answer no plan (-1): the steady rule waits for its first delta.
  const lateAnswers = p.spec.admm.stop === "steady" ? { ...p.lateAnswers, [agent]: -1 } : without(p.lateAnswers, agent);
  return { ...p, joined, x, committedAt: { ...p.committedAt, [agent]: p.round }, lateAnswers, objectives: { ...p.objectives, [agent]: 0 } };
}

/**
 * An agent leaves: from now on no round waits for it or takes its deltas, its values are out
 * of the sum (x_i = 0, as before it joined) and its objective out of the plan's, and
 * convergence no longer needs it. The ADMM state carries on: the remaining agents' problem
 * differs only by x_i fixed at 0, so the run goes on to that problem's optimum from where it is.
 */
function leave(p: ProblemState, agent: string): ProblemState {
  const joined = p.joined[agent] ?? reject(`agent ${agent} left without joining`);
  if (joined.left !== undefined) reject(`agent ${agent} already left after round ${joined.left}`);
  if (p.phase !== "joining" && p.phase !== "running") reject(`agent ${agent} left after the problem ended (${p.phase})`);
  const { [agent]: _x, ...x } = p.x;
  const { [agent]: _objective, ...objectives } = p.objectives;
  const { [agent]: _committed, ...committedAt } = p.committedAt;
  // Its pending deltas stay until the next round closes: the coordinator may have decided that
  // round already, taking one of them, and its round event must still fold (the step skips it).
  return { ...p, joined: { ...p.joined, [agent]: { ...joined, left: p.round } }, x, objectives, committedAt, lateAnswers: without(p.lateAnswers, agent) };
}

const zeros = (resources: readonly string[]): Record<string, number> => Object.fromEntries(resources.map((r) => [r, 0]));

function delta(p: ProblemState, event: CatoptEvent<"delta/1">, agent: string): ProblemState {
  const joined = p.joined[agent] ?? reject(`agent ${agent} sent a delta without joining`);
  if (joined.left !== undefined) reject(`delta from ${agent}, which left after round ${joined.left}`);
  if (p.phase !== "running") reject(`delta from ${agent} after the problem ended (${p.phase})`);
  if (event.round !== event.base + 1) reject(`delta from ${agent} for round ${event.round} answers plan ${event.base}, not plan ${event.round - 1}`);
  const stale = staleReason({ agent, round: event.round, base: event.base }, p.round, roundRules(p));
  if (stale !== undefined) reject(`delta from ${agent} comes too late: ${stale}`);
  if (p.pending[event.id] !== undefined) reject(`delta ${event.id} arrived twice`);
  const foreign = Object.keys(event.body.entries).find((r) => !joined.resources.includes(r));
  if (foreign !== undefined) reject(`delta from ${agent} sets resource ${foreign}, which it did not join with`);
  for (const [r, value] of Object.entries(event.body.entries)) {
    const lower = joined.lower?.[r] ?? -Infinity;
    const upper = joined.upper?.[r] ?? Infinity;
    if (value < lower || value > upper) reject(`delta from ${agent} sets ${r} to ${value}, outside the box [${lower}, ${upper}] it joined with`);
  }
  const pending: PendingDelta = { agent, round: event.round, base: event.base, entries: event.body.entries, objective: event.body.objective };
  return { ...p, pending: { ...p.pending, [event.id]: pending } };
}

/**
 * The coordinator tries the next round again with a smaller roster (agents left, or did not
 * answer): only before anyone revealed anything for it (a second sum of a round over another
 * set could tell an agent's values), never below the threshold; contributions masked for the
 * earlier attempt are void.
 */
function attempt(p: ProblemState, event: CatoptEvent<"attempt/1">): ProblemState {
  if (p.phase !== "running") reject(`an attempt of round ${event.round} after the problem ended (${p.phase})`);
  const secure = { ...(p.secure as SecureState), ...takeAttempt(secureProblemOf(p), p.secure as SecureState, event) };
  const pending = Object.fromEntries(Object.entries(p.pending).filter(([, d]) => !("words" in d)));
  return { ...p, pending, secure };
}

/**
 * An agent leaves a secure problem: rounds stop waiting for it once the coordinator tries the
 * round again without it (attempt/1), and the next rounds' rosters leave it out; its values leave
 * the sums with the next round's contributions, which no longer hold them.
 */
function secureLeave(p: ProblemState, agent: string): ProblemState {
  const joined = p.joined[agent] ?? reject(`agent ${agent} left without joining`);
  if (joined.left !== undefined) reject(`agent ${agent} already left after round ${joined.left}`);
  if (p.phase !== "joining" && p.phase !== "running") reject(`agent ${agent} left after the problem ended (${p.phase})`);
  // Its contribution stays pending, for a round event the coordinator may have sequenced after the leave (its peers
  // reveal for it, and its seed comes from their shares); an attempt without it voids it with the rest.
  const { [agent]: _committed, ...committedAt } = p.committedAt;
  return { ...p, joined: { ...p.joined, [agent]: { ...joined, left: p.round } }, committedAt };
}

/** A masked contribution (secure problems): checked like a delta, then held for its round's sum. */
function masked(p: ProblemState, event: CatoptEvent<"masked/1">, agent: string): ProblemState {
  const joined = p.joined[agent] ?? reject(`agent ${agent} sent a masked contribution without joining`);
  if (joined.left !== undefined) reject(`masked contribution from ${agent}, which left after round ${joined.left}`);
  if (p.phase !== "running") reject(`masked contribution from ${agent} after the problem ended (${p.phase})`);
  if (event.round !== event.base + 1)
    reject(`masked contribution from ${agent} for round ${event.round} answers plan ${event.base}, not plan ${event.round - 1}`);
  const stale = staleReason({ agent, round: event.round, base: event.base }, p.round, roundRules(p));
  if (stale !== undefined) reject(`masked contribution from ${agent} comes too late: ${stale}`);
  if (p.pending[event.id] !== undefined) reject(`masked contribution ${event.id} arrived twice`);
  return { ...p, pending: { ...p.pending, [event.id]: pendingMasked(secureProblemOf(p), p.secure as SecureState, event, agent) } };
}

/** A taken agent's seed (secure/round-fold.ts takeReveal); once every taken agent's is in, the round steps on the sums. */
function reveal(p: ProblemState, event: CatoptEvent<"reveal/1">, agent: string): ProblemState {
  return afterSeeds(p, takeReveal(secureProblemOf(p), p.secure as SecureState, event, agent));
}

/** The coordinator asks for a silent agent's seed from its peers' shares (secure/round-fold.ts takeRecover). */
function recover(p: ProblemState, event: CatoptEvent<"recover/1">): ProblemState {
  const secure = p.secure as SecureState;
  return { ...p, secure: { ...secure, ...takeRecover(secure, event) } };
}

/** A peer's shares of a silent agent's seed (secure/round-fold.ts takeShares); once every seed is in, the round steps as if all had revealed. */
function share(p: ProblemState, event: CatoptEvent<"share/1">, holder: string): ProblemState {
  return afterSeeds(p, takeShares(secureProblemOf(p), p.secure as SecureState, event, holder));
}

function afterSeeds(p: ProblemState, revealed: Revealed): ProblemState {
  const secure = { ...(p.secure as SecureState), ...revealed.secure };
  return revealed.sum === undefined ? { ...p, secure } : secureStep({ ...p, secure }, secure.revealing as RevealingRound, revealed.sum);
}

function closeRound(p: ProblemState, event: RoundEvent): ProblemState {
  if (event.round !== p.round + 1) reject(`round ${event.round} closed out of order (last closed: ${p.round})`);
  if (p.phase !== (event.round === 0 ? "joining" : "running")) reject(`round ${event.round} closed while the problem is ${p.phase}`);
  if (event.round === 0) return start(p, event);
  return p.secure === undefined ? step(p, event) : takeMasked(p, event);
}

/**
 * Round k of a secure problem: it must take a masked contribution from every agent of the
 * roster (only then do the pairwise masks cancel), at least the threshold of them; their words
 * are added, and the round waits for the agents' seeds.
 */
function takeMasked(p: ProblemState, event: RoundEvent): ProblemState {
  const taken = takenDeltas(p.pending, event, p.round, roundRules(p));
  const secure = { ...(p.secure as SecureState), ...takeRound(secureProblemOf(p), p.secure as SecureState, event, taken) };
  const ids = new Set(event.body.took);
  const pending = Object.fromEntries(Object.entries(p.pending).filter(([id]) => !ids.has(id)));
  // The round is paid for as it is taken: once the agents reveal, its sum is anyone's, whatever the step makes of it.
  const privacy = p.privacy === undefined ? {} : { privacy: { ...p.privacy, spent: p.privacy.spent + roundPrivacyCost(p.spec) } };
  return { ...p, ...privacy, pending, secure };
}

/** Every seed is in: the sum is the masked words' less each self mask, and the round steps on the sums alone. */
function secureStep(p: ProblemState, revealing: RevealingRound, sum: Words): ProblemState {
  const settings = p.spec.secure as NonNullable<ProblemSpec["secure"]>;
  const sums = sumsOf(p.spec, settings, sum);
  const k = revealing.took.length;
  const n = p.spec.agents.length;
  const scalars = sums.scalars ?? noisyScalars(p, sums.x);
  const noise = settings.noise;
  if (noise !== undefined) {
    // Clipped values plus noise: a sum past k clips and 64 standard deviations of the noise (odds below e^-2000) is a lie.
    const bound = k * noise.clip + 64 * Math.sqrt((noise.sigma2 * k) / settings.threshold);
    const far = sums.x.findIndex((x) => !(Math.abs(x) <= bound));
    if (far >= 0)
      reject(
        `round ${revealing.round}'s sum on ${p.spec.resources[far]} is ${sums.x[far]}, past what ${k} clipped agents and their noise reach (${bound}): an agent's masked words lie`,
      );
  }
  if (sums.scalars !== undefined) {
    // What the fold can check of sums it cannot see the parts of: squares are not negative, and by
    // Cauchy-Schwarz the sum of the squares of k vectors is at least the square of their sum over k.
    // A contribution that breaks these could only come from an agent lying about its squares (to
    // stall the step or fake convergence): the round is refused, not stepped.
    const norm2 = sums.x.reduce((total, x) => total + x * x, 0);
    if (!(scalars.sumSquares >= norm2 / k - 1e-9 * (1 + norm2) && scalars.sumSquaredSteps >= 0))
      reject(
        `round ${revealing.round}'s sums are impossible (sum of squares ${scalars.sumSquares} below |sum|^2/${k} = ${norm2 / k}, or a negative sum of steps): an agent's masked words lie about its squares`,
      );
  }
  const aggregate: RoundAggregate = {
    round: revealing.round,
    agents: n,
    xbar: sums.x.map((x) => x / n),
    sumSquares: scalars.sumSquares,
    sumSquaredSteps: scalars.sumSquaredSteps,
  };
  const committedAt = { ...p.committedAt, ...Object.fromEntries(revealing.took.map((a) => [a, revealing.round])) };
  const secure: SecureState = { roster: activeAgents(p), x: sums.x, objective: scalars.objective };
  return advance({ ...p, secure }, revealing.round, aggregate, { x: p.x, objectives: p.objectives, committedAt, lateAnswers: p.lateAnswers });
}

/**
 * With noise, the round releases the sums of the values alone: the step's squares are what those
 * sums say (n |xbar|^2, and n |xbar - last xbar|^2, the least the agents' own could be), and no
 * objective is released (the plan states 0). Such a problem stops at its rounds or its budget, never
 * on these residuals (advance): they measure the noise as much as the agents.
 */
function noisyScalars(p: ProblemState, x: readonly number[]): NonNullable<SecureSums["scalars"]> {
  const n = p.spec.agents.length;
  const last = (p.secure as SecureState).x;
  const squared = (v: readonly number[]) => v.reduce((total, y) => total + y * y, 0) / n;
  return { sumSquares: squared(x), sumSquaredSteps: squared(x.map((y, j) => y - last[j])), objective: 0 };
}

/** Whether the problem's privacy budget cannot pay for another round (absent: it has none to pay). */
const exhausted = (p: ProblemState): boolean => p.privacy !== undefined && p.privacy.spent + roundPrivacyCost(p.spec) > p.privacy.granted * (1 + 1e-12);

/** The agents that joined and have not left, in the problem's order. */
const activeAgents = (p: ProblemState): string[] => p.spec.agents.filter((a) => p.joined[a] !== undefined && p.joined[a].left === undefined);

/**
 * Round 0 takes the agents' joins (all of them, or a quorum) and publishes the first plan:
 * x = 0, signal = 0. A join that reached the stream after the coordinator decided, but before
 * its round event, starts at x = 0 all the same (a join carries no values).
 */
function start(p: ProblemState, event: RoundEvent): ProblemState {
  const joins = new Map(Object.entries(p.joined).flatMap(([agent, j]) => (j.left === undefined ? [[j.id, agent] as const] : [])));
  const took = event.body.took.map((id) => joins.get(id) ?? reject(`round 0 took ${id}, which is no agent's join`));
  if (took.length === 0 || new Set(took).size !== took.length) reject("round 0 must take at least one join, each once");
  const agents = [...joins.values()];
  const x = Object.fromEntries(agents.map((a) => [a, zeros(p.joined[a]?.resources ?? [])]));
  const objectives = Object.fromEntries(agents.map((a) => [a, 0]));
  const committedAt = Object.fromEntries(agents.map((a) => [a, 0]));
  // A secure fold holds no agent's values, not even their zeros: only the sums (zero too, for now).
  const secure = p.secure === undefined ? {} : { secure: { ...p.secure, roster: agents.filter((a) => p.spec.agents.includes(a)) }, x: {}, objectives: {} };
  const started: ProblemState = { ...p, phase: exhausted(p) ? "budget-exhausted" : "running", round: 0, x, committedAt, objectives, ...secure };
  return { ...started, plan: derivePlan(started) };
}

/** Round k >= 1: commit the deltas taken, then the coordinator's ADMM step. */
function step(p: ProblemState, event: RoundEvent): ProblemState {
  const x: Record<string, Readonly<Record<string, number>>> = { ...p.x };
  const objectives: Record<string, number> = { ...p.objectives };
  const committedAt: Record<string, number> = { ...p.committedAt };
  let lateAnswers = p.lateAnswers;
  const taken = takenDeltas(p.pending, event, p.round, roundRules(p));
  for (const d of taken) {
    if (p.joined[d.agent]?.left !== undefined) continue; // it left after the round was decided: its values no longer count
    if (!("entries" in d)) return reject(`round ${event.round} took a masked contribution of ${d.agent} in a plain problem`);
    x[d.agent] = { ...x[d.agent], ...d.entries };
    objectives[d.agent] = d.objective;
    committedAt[d.agent] = event.round;
    lateAnswers = answered(lateAnswers, d, event.round, p.spec.admm.stop === "steady");
  }
  const embed = (agent: string, source: Readonly<Record<string, Readonly<Record<string, number>>>>): number[] =>
    p.spec.resources.map((r) => source[agent]?.[r] ?? 0);
  const aggregate = aggregateRound(
    event.round,
    p.spec.agents.map((a) => embed(a, p.x)),
    p.spec.agents.map((a) => embed(a, x)),
  );
  return advance(p, event.round, aggregate, { x, objectives, committedAt, lateAnswers });
}

/** The coordinator's ADMM step on a round's aggregate, what the round committed, and the plan they imply. */
function advance(
  p: ProblemState,
  round: number,
  aggregate: RoundAggregate,
  committed: {
    readonly x: ProblemState["x"];
    readonly objectives: ProblemState["objectives"];
    readonly committedAt: ProblemState["committedAt"];
    readonly lateAnswers: ProblemState["lateAnswers"];
  },
): ProblemState {
  const { x, objectives, committedAt, lateAnswers } = committed;
  const used = new Set(Object.values(p.joined).flatMap((j) => j.resources));
  const result = coordinatorStep(p.admm, aggregate, constraintRows(p.spec.resources, p.spec.constraints, used), p.spec.admm);
  const { settled, steadySince } = settledRound({
    round,
    converged: result.converged && p.privacy === undefined,
    agents: agentsOf(p),
    committedAt,
    late: lateAnswers,
    steadySince: p.steadySince,
    maxStaleness: p.spec.admm.maxStaleness,
    steady: p.spec.admm.stop === "steady",
  });
  const phase: ProblemState["phase"] = settled ? "converged" : round >= p.spec.admm.maxRounds ? "max-rounds" : exhausted(p) ? "budget-exhausted" : "running";
  const pending = Object.fromEntries(
    Object.entries(stillPending(p.pending, round, roundRules({ ...p, committedAt }))).filter(([, d]) => p.joined[d.agent]?.left === undefined),
  );
  const stepped: ProblemState = {
    ...p,
    phase,
    round,
    x,
    committedAt,
    lateAnswers,
    steadySince: phase === "running" ? steadySince : undefined,
    objectives,
    pending,
    admm: result.state,
    residuals: result.residuals,
    history: [...p.history, [round, result.residuals.primal, result.residuals.dual, p.admm.rho]],
  };
  const plan = derivePlan(stepped);
  // Accepted numbers are bounded (validate.ts), so this cannot happen on any input we know of:
  // if it ever does, the round is refused, and the fold never holds a number it cannot publish.
  if (!allFinite(plan) || !allFinite(result.state)) reject(`round ${round} would leave the finite range (a delta's values overflow the step)`);
  return { ...stepped, plan };
}

function allFinite(value: unknown): boolean {
  if (typeof value === "number") return Number.isFinite(value);
  if (value === null || typeof value !== "object") return true;
  if (ArrayBuffer.isView(value)) return (value as unknown as ArrayLike<number>).length === 0 || Array.prototype.every.call(value, Number.isFinite);
  return Object.values(value).every(allFinite);
}

function derivePlan(p: ProblemState): PlanBody {
  const signal = agentSignal(p.admm);
  return {
    status: p.phase === "joining" ? "running" : p.phase,
    rho: p.admm.rho,
    signal: Object.fromEntries(p.spec.resources.map((r, j) => [r, signal[j]])),
    allocations: p.x,
    objective: p.secure !== undefined ? p.secure.objective : p.spec.agents.reduce((sum, a) => sum + (p.objectives[a] ?? 0), 0),
    ...p.residuals,
    ...(p.privacy === undefined
      ? {}
      : { privacy: { rho: p.privacy.spent, epsilon: p.privacy.spent === 0 ? 0 : epsilonFor(p.privacy.spent, p.privacy.delta) } }),
    ...(p.secure === undefined || p.phase !== "running" ? {} : planRoster(p.secure, p.joined)),
  };
}

/**
 * A plan event must say exactly what the replayed state implies (-0 and 0 alike: the wire
 * writes 0): plan/1 every agent's values too, plan/2 (what coordinators publish now) only what
 * every agent and viewer may read.
 */
function checkPlan(p: ProblemState, event: CatoptEvent<"plan/1"> | CatoptEvent<"plan/2">): ProblemState {
  if (event.round !== p.round || p.plan === null) reject(`plan for round ${event.round}, but the last closed round is ${p.round}`);
  if (event.round <= p.planRound) reject(`plan for round ${event.round} published twice`);
  const expected = p.plan as PlanBody;
  const same =
    event.schema === "plan/1" ? samePlan(event.body, expected) : samePlan({ ...event.body, allocations: {} }, { ...sharedPlan(expected), allocations: {} });
  if (!same) reject(`plan for round ${event.round} does not match the replayed state`);
  return { ...p, planRound: event.round };
}

/** The plan without any agent's values. */
function sharedPlan(plan: PlanBody): SharedPlanBody {
  const { allocations: _private, ...shared } = plan;
  return shared;
}

/** The open event of an energy QP: its public spec. */
export function openEvent(tenant: string, problem: string, spec: ProblemSpec): CatoptEvent<"open/1"> {
  return { schema: "open/1", id: eventId(tenant, problem, "open", 0), tenant, problem, round: 0, base: -1, body: spec };
}

export function expectedPlanEvent(p: ProblemState): CatoptEvent<"plan/2"> {
  return planEventOf("plan/2", p.tenant, p.problem, p.round, sharedPlan(p.plan ?? reject("no plan before round 0 closes")));
}

function samePlan(a: PlanBody, b: PlanBody): boolean {
  const { allocations: aa, signal: as, roster: rosterA, joins: joinsA, privacy: privacyA, ...ra } = a;
  const { allocations: ba, signal: bs, roster: rosterB, joins: joinsB, privacy: privacyB, ...rb } = b;
  const sameBytesRecord = (x?: Readonly<Record<string, Uint8Array>>, y?: Readonly<Record<string, Uint8Array>>) =>
    x === undefined || y === undefined ? x === y : sameRecord(x, y, sameBytes);
  return (
    sameRecord(ra, rb) &&
    sameRecord(as, bs) &&
    sameRecord(aa, ba, (x, y) => sameRecord(x, y)) &&
    sameBytesRecord(rosterA, rosterB) &&
    sameBytesRecord(joinsA, joinsB) &&
    (privacyA === undefined || privacyB === undefined ? privacyA === privacyB : sameRecord(privacyA, privacyB))
  );
}

function sameRecord<T>(a: Readonly<Record<string, T>>, b: Readonly<Record<string, T>>, same: (x: T, y: T) => boolean = (x, y) => x === y): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
}
