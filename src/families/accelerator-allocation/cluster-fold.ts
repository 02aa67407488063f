import { planEventOf, type CatoptEvent } from "../../core/event.ts";
import type { PlanStatus } from "../../core/schemas.ts";
import { sci } from "../../core/text-charts.ts";
import { ACCELERATOR_ALLOCATION_SCHEMAS, type ClusterOpenBody, type ClusterPlanBody, type SparseUpdate, type TenantPlanBody } from "./schemas.ts";
import type { FamilyProblem, ProblemFamily } from "../../core/family.ts";
import { refuse as reject } from "../../core/refusal.ts";
import { answered, settledRound, staleReason, stillPending, synchronousRules, takenDeltas, type RoundEvent, type RoundRules } from "../../core/round-rules.ts";
import { agentSignal, initialAdmmState, sharingStep, type AdmmState, type FleetTotalUpdate, type Residuals } from "../../solver/admm.ts";
import { effectiveThroughput, solvingThroughputs, type ClusterProblem, type TypeAllocation } from "./cluster.ts";
import { roundCertificate, stopsAt } from "./dual-bound.ts";
import { couplingUpdate } from "./coupling.ts";
import { coefficientProblem, decompose, type Decomposition, type NodeProblem } from "./decompose.ts";
import { applyUpdate, changedEntries } from "./node-solver.ts";
import { addContribution, clusterAggregate } from "./node-step.ts";
import { policyForm, policyObjective, type PolicyForm } from "./policy.ts";
import {
  aggregateOfSums,
  clusterContributionLength,
  clusterFractionBits,
  clusterLayout,
  nodeSupport,
  clusterSums,
  maxColumnNorm,
  type ClusterLayout,
  type ClusterSums,
} from "./secure-layout.ts";
import type { Words } from "../../secure/ring.ts";
import { sameBytes } from "../../secure/aggregation.ts";
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
import { planFromNodes, planViolation } from "./repair.ts";
import { applyChange, carryColumns, carryState, type ClusterChange } from "./churn.ts";
import { ValidationError } from "../../core/validate.ts";

/**
 * The stream's fold for a cluster problem (the accelerator allocation): cluster-open, node-join,
 * node-delta, cluster-plan and tenant-plan events, and the engine's rounds and leaves. Round k
 * takes node deltas relative to the values each node had committed, then the coordinator's prox
 * step (sharingStep with couplingUpdate), the very steps solveAllocationInProcess takes. Rounds
 * are synchronous (every node's delta, each round), or asynchronous when the open's
 * admm.maxStaleness is at least 1 (a quorum or a deadline; late deltas within the bound; nodes
 * joining late). Pure; refuses bad input with a reason.
 */
export type ClusterPendingDelta = { readonly agent: string; readonly round: number; readonly base: number; readonly update: SparseUpdate };

export type ClusterState = {
  readonly kind: "cluster";
  readonly tenant: string;
  readonly problem: string;
  readonly open: ClusterOpenBody;
  /** The node agents, one per node, in the cluster's order (the order of `y`). */
  readonly agents: readonly string[];
  /**
   * Nodes that left (drained), with the round after which each did: their accelerators leave
   * the problem (y fixed at 0) and no round waits for them. Absent when none has, as in every
   * stream written before nodes could leave (so their state hashes stay).
   */
  readonly left?: Readonly<Record<string, number>>;
  /**
   * Asynchronous rounds only (admm.maxStaleness > 0; absent otherwise, so synchronous streams
   * hash as before): the round that last changed each node's y (took its delta or its join),
   * the late answers and the start of the steady run of the stop rule (core/round-rules.ts).
   */
  readonly committedAt?: Readonly<Record<string, number>>;
  readonly lateAnswers?: Readonly<Record<string, number>>;
  readonly steadySince?: number;
  readonly phase: "joining" | PlanStatus;
  /** Each joined node's join event id; in a secure problem, its agreement key and the signed join it came in (relayed in plans). */
  readonly joined: Readonly<Record<string, { readonly id: string; readonly agreementKey?: Uint8Array; readonly signedJoin?: Uint8Array }>>;
  readonly pending: Readonly<Record<string, ClusterPendingDelta | PendingMasked>>;
  /** Each node's committed accelerator-time per column (see decompose.ts), in node order (a secure problem's fold holds none: zeros). */
  readonly y: readonly (readonly number[])[];
  /** A secure problem's rounds and the last round's sums per type and column (secure-layout.ts); absent in plain problems (so their state hashes stay). */
  readonly secure?: ClusterSecure;
  readonly round: number;
  readonly admm: AdmmState;
  readonly residuals: Residuals;
  /**
   * Changes of the cluster's jobs (cluster-change/1) taken since the last round closed, in stream
   * order: the next round applies them after its step. Absent when none waits (as in every stream
   * written before changes), so such states hash as before. The cluster as it stands is `open.cluster`.
   */
  readonly changes?: readonly ClusterChange[];
  /** The ids of every change taken (absent before the first): a change read twice is refused. */
  readonly changeIds?: readonly string[];
  /** The cluster plan the last closed round implies; the coordinator publishes exactly this. */
  readonly plan: ClusterPlanBody | null;
  readonly planRound: number;
  /** Per tenant, the round of its last tenant plan seen. */
  readonly tenantPlans: Readonly<Record<string, number>>;
  readonly history: readonly (readonly [number, number, number, number])[];
};

type ClusterSecure = SecureRounds & { readonly sums: readonly (readonly number[])[] };

type Derived = {
  /** The cluster as the LP states it (solvingThroughputs), its policy's form and its decomposition. */
  readonly solving: ClusterProblem;
  readonly form: PolicyForm;
  readonly decomposition: Decomposition;
  readonly update: FleetTotalUpdate;
  readonly tenants: readonly string[];
};

// Derived once per open event: the state carries the event's body, so this is a pure function of the state.
const derivedCache = new WeakMap<ClusterOpenBody, Derived>();

export function derivedOf(open: ClusterOpenBody): Derived {
  let derived = derivedCache.get(open);
  if (derived === undefined) {
    const solving = solvingThroughputs(open.cluster);
    const form = policyForm(solving);
    const decomposition = decompose(solving, form);
    derived = { solving, form, decomposition, update: couplingUpdate(decomposition.coupling), tenants: [...new Set(open.cluster.jobs.map((j) => j.tenant))] };
    derivedCache.set(open, derived);
  }
  return derived;
}

const NO_RESIDUALS: Residuals = { primal: 0, dual: 0, epsPrimal: 0, epsDual: 0 };

export function openCluster(event: CatoptEvent<"cluster-open/1">): ClusterState {
  const open = event.body;
  // The platform's tenant publishes the cluster plan on its plan subject: a job of its own would have its tenant plan there too.
  const own = open.cluster.jobs.find((job) => job.tenant === event.tenant);
  if (own !== undefined) reject(`job ${own.name} belongs to ${event.tenant}, the platform's own tenant: jobs belong to their own tenants`);
  const { solving, decomposition } = derivedOf(open);
  const out = coefficientProblem(solving, decomposition);
  if (out !== undefined) reject(out);
  if (open.secure !== undefined) checkSecureOpen(open, decomposition);
  return {
    ...(open.secure === undefined
      ? {}
      : { secure: { roster: [], sums: clusterLayout(decomposition.nodes).blocks.map((b) => b.columns.columns.map(() => 0)) } }),
    kind: "cluster",
    tenant: event.tenant,
    problem: event.problem,
    open,
    agents: open.cluster.nodes.map((n) => n.name),
    phase: "joining",
    joined: {},
    pending: {},
    y: decomposition.nodes.map((n) => new Array<number>(n.columns.length).fill(0)),
    round: -1,
    admm: initialAdmmState(decomposition.coupling.resources, open.admm),
    residuals: NO_RESIDUALS,
    plan: null,
    planRound: -1,
    tenantPlans: {},
    history: [],
  };
}

/**
 * What secure aggregation needs of a cluster problem: synchronous rounds (a masked contribution
 * counts only in the round it was masked for), nodes named once, a threshold they can meet, and
 * sums that fit 64 bits at its fraction bits.
 */
function checkSecureOpen(open: ClusterOpenBody, decomposition: Decomposition): void {
  const secure = open.secure as NonNullable<ClusterOpenBody["secure"]>;
  const names = open.cluster.nodes.map((n) => n.name);
  checkSecureRounds(names, open.admm.maxStaleness, secure.threshold);
  if (secure.noise !== undefined) reject("a cluster problem adds no noise yet: differential privacy is the energy family's so far");
  const maxCount = Math.max(...open.cluster.nodes.map((n) => n.count));
  if (secure.maxAbs < maxCount) reject(`a secure cluster problem's bound ${secure.maxAbs} is below a node of ${maxCount} accelerators`);
  const available = clusterFractionBits(names.length, secure.maxAbs, maxColumnNorm(decomposition.nodes));
  if (secure.fractionBits > available)
    reject(
      `a secure cluster problem's sums do not fit: ${names.length} nodes of up to ${secure.maxAbs} leave ${available} fraction bits, not ${secure.fractionBits}`,
    );
}

/** What the secure rules read of the problem. */
const secureProblemOf = (p: ClusterState): SecureProblem => ({
  tenant: p.tenant,
  problem: p.problem,
  agents: p.agents,
  threshold: (p.open.secure as NonNullable<ClusterOpenBody["secure"]>).threshold,
  words: clusterContributionLength(clusterLayout(derivedOf(p.open).decomposition.nodes)),
  round: p.round,
  support: (agent) => {
    const { nodes } = derivedOf(p.open).decomposition;
    return nodeSupport(clusterLayout(nodes), nodes, agent);
  },
});

/**
 * Asynchronous rounds (admm.maxStaleness > 0, opened with the steady stop rule: a cluster stream
 * opened before this release folds synchronously, whatever its maxStaleness said): a round closes at a quorum or a deadline (the
 * coordinator decides, the round event says which deltas it took), a node's delta counts in a
 * later round within the staleness bound, and a node may join the running problem.
 */
const isAsync = (p: ClusterState): boolean => p.open.admm.maxStaleness > 0 && p.open.admm.stop === "steady";

/** Which deltas the next round may take: every node's of the last plan (synchronous), or within the staleness bound. */
const clusterRules = (p: ClusterState): RoundRules =>
  isAsync(p) ? { maxStaleness: p.open.admm.maxStaleness, committedAt: (node) => p.committedAt?.[node] } : synchronousRules(p.round);

export function joinNode(p: ClusterState, event: CatoptEvent<"node-join/1">, agent: string, envelope?: Uint8Array): ClusterState {
  const node = p.open.cluster.nodes.find((n) => n.name === agent) ?? reject(`node ${agent} is not part of cluster problem ${p.problem}`);
  if (p.joined[agent] !== undefined) reject(`node ${agent} already joined`);
  if (p.phase !== "joining" && !(isAsync(p) && p.phase === "running")) reject(`node ${agent} joined after the problem started`);
  if (event.body.type !== node.type || event.body.count !== node.count) {
    reject(`node ${agent} joined with ${event.body.count} x ${event.body.type}, but the problem has ${node.count} x ${node.type} there`);
  }
  const key = p.secure === undefined ? {} : checkSecureJoin(p.joined, agent, event.body.agreementKey, envelope, p.phase !== "joining", p.problem);
  const joined = { ...p.joined, [agent]: { id: event.id, ...key } };
  if (p.phase === "joining") return { ...p, joined };
  // A late joiner starts at y = 0, which answers no plan (-1): the stop rule waits for its first delta.
  return { ...p, joined, committedAt: { ...p.committedAt, [agent]: p.round }, lateAnswers: { ...p.lateAnswers, [agent]: -1 } };
}

/** The nodes whose part every round needs: the cluster's, less those that left. */
const activeNodes = (p: ClusterState): readonly string[] => (p.left === undefined ? p.agents : p.agents.filter((a) => p.left?.[a] === undefined));

/**
 * A node leaves (drained for maintenance): its accelerators leave the problem. No round waits
 * for it from now on; when the next round closes its y is fixed at 0, as if its capacity were
 * 0, and the ADMM state carries on, since the remaining problem differs only by that node's
 * variables fixed at 0. Until then its values stand, so the round already out (its cluster and
 * tenant plans) still folds as published, and a round the coordinator decided before the leave
 * may still take its pending delta (which then counts for nothing). A node that left does not
 * come back in this problem.
 */
function leaveNode(p: ClusterState, agent: string): ClusterState {
  if (p.joined[agent] === undefined) reject(`node ${agent} left without joining`);
  if (p.left?.[agent] !== undefined) reject(`node ${agent} already left after round ${p.left[agent]}`);
  if (p.phase !== "running") reject(`node ${agent} left while the problem is ${p.phase}`);
  if (activeNodes(p).length === 1) reject(`node ${agent} is the last node of cluster problem ${p.problem}: it cannot leave`);
  // Secure: its contribution stays pending, for a round event the coordinator may have sequenced after the leave (its
  // peers reveal for it, and its seed comes from their shares); an attempt without it voids it with the rest.
  return { ...p, left: { ...p.left, [agent]: p.round } };
}

export function nodeDelta(p: ClusterState, event: CatoptEvent<"node-delta/1">, agent: string): ClusterState {
  if (p.joined[agent] === undefined) reject(`node ${agent} sent a delta without joining`);
  if (p.secure !== undefined) reject(`cluster problem ${p.problem} is secure: ${agent}'s part must come masked (masked/1), not as a delta`);
  if (p.left?.[agent] !== undefined) reject(`delta from ${agent}, which left after round ${p.left[agent]}`);
  if (p.phase !== "running") reject(`delta from ${agent} after the problem ended (${p.phase})`);
  if (!isAsync(p) && event.round <= p.round) reject(`delta from ${agent} for round ${event.round}, which is closed`);
  // A delta answers a plan out (the last one, in synchronous rounds), relative to the values the
  // node committed by then, which no round has changed since (what the checks below hold it to).
  const stale = staleReason({ agent, round: event.round, base: event.base }, p.round, clusterRules(p));
  if (stale !== undefined || event.round !== event.base + 1)
    reject(`delta from ${agent} for round ${event.round} ${stale ?? `answers plan ${event.base}, not plan ${event.round - 1}`}`);
  if (p.pending[event.id] !== undefined) reject(`delta ${event.id} arrived twice`);
  const columns = p.y[p.agents.indexOf(agent)].length;
  const bad = event.body.index.find((k) => k >= columns);
  if (bad !== undefined) reject(`delta from ${agent} sets column ${bad}, but the node has ${columns}`);
  // A column's upper bound (the job's gang, or the node's accelerators) is public problem data:
  // the node's own step clamps to it exactly, so anything above it is refused, as is anything below 0.
  const { columns: bounds } = derivedOf(p.open).decomposition.nodes[p.agents.indexOf(agent)];
  const outside = event.body.index.findIndex((k, i) => !(event.body.value[i] >= 0 && event.body.value[i] <= bounds[k].upper));
  if (outside !== -1) {
    const k = event.body.index[outside];
    reject(`delta from ${agent} sets column ${k} to ${event.body.value[outside]}, outside [0, ${bounds[k].upper}]`);
  }
  // Nor may the node book more than its accelerators (its step never does; rounding aside).
  const booked = applySparse(p.y[p.agents.indexOf(agent)], event.body).reduce((sum, y) => sum + y, 0);
  const { capacity } = derivedOf(p.open).decomposition.nodes[p.agents.indexOf(agent)];
  if (booked > capacity * (1 + CAPACITY_ROUNDING)) reject(`delta from ${agent} books ${booked} accelerator-time on a node of ${capacity}`);
  return { ...p, pending: { ...p.pending, [event.id]: { agent, round: event.round, base: event.base, update: event.body } } };
}

/** How far a node's booked time may pass its capacity by rounding in its own step (sums of up to thousands of columns). */
const CAPACITY_ROUNDING = 1e-9;

export function closeClusterRound(p: ClusterState, event: RoundEvent): ClusterState {
  if (event.round !== p.round + 1) reject(`round ${event.round} closed out of order (last closed: ${p.round})`);
  if (p.phase !== (event.round === 0 ? "joining" : "running")) reject(`round ${event.round} closed while the problem is ${p.phase}`);
  if (event.round === 0) {
    if (isAsync(p)) {
      // At a quorum of joins; a join in by the round event starts at y = 0 all the same (a join carries no values).
      const joins = new Set(Object.values(p.joined).map((j) => j.id));
      if (event.body.took.length === 0 || new Set(event.body.took).size !== event.body.took.length || event.body.took.some((id) => !joins.has(id)))
        reject("round 0 must take at least one node's join, each once");
    } else {
      const joins = p.agents.map((a) => p.joined[a]?.id ?? reject(`round 0 closed before node ${a} joined`));
      if (!sameSet(joins, event.body.took)) reject("round 0 must take exactly the nodes' joins");
    }
    const committedAt = isAsync(p) ? { committedAt: Object.fromEntries(Object.keys(p.joined).map((a) => [a, 0])) } : {};
    // Secure: the first round masks among every node (round 0 took them all).
    const secure = p.secure === undefined ? {} : { secure: { ...p.secure, roster: p.agents } };
    const started: ClusterState = { ...p, phase: "running", round: 0, ...committedAt, ...secure };
    return {
      ...started,
      plan: derivePlan(
        started,
        agentSignal(p.admm).map(() => 0),
      ),
    };
  }
  if (p.secure !== undefined) return takeMaskedRound(p, event);
  const taken = takenDeltas(p.pending, event, p.round, clusterRules(p));
  const y = p.y.map((values, n) => (p.left?.[p.agents[n]] !== undefined ? values.map(() => 0) : values));
  const committedAt: Record<string, number> = { ...p.committedAt };
  let lateAnswers = p.lateAnswers;
  for (const d of taken) {
    const n = p.agents.indexOf(d.agent);
    if (p.left?.[d.agent] !== undefined) continue; // it left after the round was decided: its values no longer count
    if (!("update" in d)) return reject(`round ${event.round} took a masked contribution of ${d.agent} in a plain problem`);
    y[n] = applySparse(p.y[n], d.update);
    committedAt[d.agent] = event.round;
    lateAnswers = answered(lateAnswers, d, event.round, true);
  }
  if (!isAsync(p)) {
    const from = new Set(taken.map((d) => d.agent));
    const missing = activeNodes(p).find((a) => !from.has(a));
    if (missing !== undefined) reject(`round ${event.round} took nothing from node ${missing}`);
  }

  const { decomposition, update } = derivedOf(p.open);
  const aggregate = clusterAggregate(event.round, decomposition.nodes, p.y, y, decomposition.coupling.resources);
  const result = sharingStep(p.admm, aggregate, update, p.open.admm);
  // Asynchronous rounds end by the steady rule; a synchronous round's residuals are the whole test.
  const stop = isAsync(p)
    ? settledRound({
        round: event.round,
        converged: result.converged,
        agents: activeNodes(p),
        committedAt,
        late: lateAnswers,
        steadySince: p.steadySince,
        maxStaleness: p.open.admm.maxStaleness,
        steady: true,
      })
    : { settled: result.converged, steadySince: undefined };
  const gap = certifiedGap({ ...p, y, admm: result.state });
  const phase: ClusterState["phase"] = stopsAt(p.open.admm, stop.settled, gap) ? "converged" : event.round >= p.open.admm.maxRounds ? "max-rounds" : "running";
  const waiting = isAsync(p)
    ? stillPending(p.pending, event.round, { ...clusterRules(p), committedAt: (node) => committedAt[node] })
    : Object.fromEntries(Object.entries(p.pending).filter(([, d]) => d.round > event.round));
  const asyncState = isAsync(p) ? { committedAt, lateAnswers, steadySince: phase === "running" ? stop.steadySince : undefined } : {};
  const stepped: ClusterState = {
    ...p,
    ...asyncState,
    phase,
    round: event.round,
    y,
    pending: Object.fromEntries(Object.entries(waiting).filter(([, d]) => p.left?.[d.agent] === undefined)),
    admm: result.state,
    residuals: result.residuals,
    history: [...p.history, [event.round, result.residuals.primal, result.residuals.dual, p.admm.rho]],
  };
  return finishRound(stepped, agentSignal(p.admm), gap);
}

/**
 * The gap a round's repaired plan is proven within (dual-bound.ts), for a problem that stops on
 * one (admm.gap; undefined otherwise, as in streams written before it): its committed values
 * (or sums) and the prices after its step, over the nodes whose accelerators the plan may book:
 * those that have not left, and in a secure round those it took (a node that left after it was
 * masked for the round is still in the round's sums). `took`: the secure round's taken nodes.
 */
function certifiedGap(p: ClusterState, took: readonly string[] = []): number | undefined {
  if (p.open.admm.gap === undefined) return undefined;
  const { solving, form, decomposition } = derivedOf(p.open);
  const counted = (node: NodeProblem): boolean => p.left?.[node.node] === undefined || took.includes(node.node);
  return roundCertificate(solving, form, decomposition, clusterAllocation(p), p.admm, counted).gap;
}

function derivePlan(p: ClusterState, previousSignal: readonly number[], gap?: number, changes?: readonly ClusterChange[]): ClusterPlanBody {
  const signal = changedEntries(previousSignal, agentSignal(p.admm));
  const roster = p.secure === undefined || p.phase !== "running" ? {} : planRoster(p.secure, p.joined);
  // A gap that is not proven (an SLO the plan misses) is left out: the plan states only what it proves.
  const proven = gap !== undefined && Number.isFinite(gap) ? { gap } : {};
  return {
    status: p.phase === "joining" ? "running" : p.phase,
    rho: p.admm.rho,
    signal,
    ...p.residuals,
    ...proven,
    ...(changes === undefined ? {} : { changes }),
    ...roster,
  };
}

/**
 * A round's end after its step: its plan, and first the cluster's changes that wait, if any. They
 * apply now, between rounds, where every node's values are committed: each node keeps its time on
 * the jobs that stay, the coordinator its prices and penalty (churn.ts, the warm start), and the
 * plan carries the changes, with the whole signal (its entries are the changed cluster's), so
 * that every node does the same. A round that would have ended the run goes on: its plan was
 * for a cluster that is no more (a run at its round limit ends all the same).
 */
function finishRound(stepped: ClusterState, previousSignal: readonly number[], gap: number | undefined): ClusterState {
  const changes = stepped.changes;
  if (changes === undefined) return { ...stepped, plan: derivePlan(stepped, previousSignal, gap) };
  const before = stepped.open.cluster;
  const open = pendingOpen(stepped);
  const [old, next] = [derivedOf(stepped.open).decomposition, derivedOf(open).decomposition];
  const total = new Float64Array(next.coupling.resources);
  let values: Pick<ClusterState, "y" | "secure">;
  if (stepped.secure === undefined) {
    const y = next.nodes.map((node, n) => carryColumns(before, old.nodes[n].columns, stepped.y[n], open.cluster, node.columns));
    for (const [n, node] of next.nodes.entries()) addContribution(node, y[n], total);
    values = { y: y.map((v) => Array.from(v)) };
  } else {
    const [oldLayout, layout] = [clusterLayout(old.nodes), clusterLayout(next.nodes)];
    const sums = layout.blocks.map((b) => {
      const t = oldLayout.blocks.findIndex((o) => o.type === b.type);
      return carryColumns(before, oldLayout.blocks[t].columns.columns, stepped.secure?.sums[t] ?? [], open.cluster, b.columns.columns);
    });
    for (const [t, b] of layout.blocks.entries()) addContribution(b.columns, sums[t], total);
    values = { y: next.nodes.map((n) => new Array<number>(n.columns.length).fill(0)), secure: { ...stepped.secure, sums: sums.map((v) => Array.from(v)) } };
  }
  const admm = carryState(before, old, stepped.admm, open.cluster, next, total);
  const phase = stepped.phase === "converged" ? "running" : stepped.phase;
  const { changes: _applied, ...rest } = stepped;
  const changed: ClusterState = { ...rest, ...values, open, admm, phase };
  return { ...changed, plan: derivePlan(changed, new Array<number>(admm.u.length).fill(0), undefined, changes) };
}

/**
 * A change of the cluster's jobs (cluster-change/1, a coordinator's: the round subject's rule):
 * checked now against the cluster as the changes before it leave it, so that a refusal names
 * what is wrong when it arrives; applied when the next round closes (finishRound). Synchronous
 * rounds only: with asynchronous ones a delta of the old cluster could still count after it.
 */
function changeCluster(p: ClusterState, event: CatoptEvent<"cluster-change/1">): ClusterState {
  if (p.phase === "joining") reject(`a change of cluster problem ${p.problem} before it started: open it with the cluster as it is`);
  if (p.phase !== "running") reject(`a change of cluster problem ${p.problem}, which ended (${p.phase}): open a new problem for the changed cluster`);
  if (isAsync(p))
    reject(
      `cluster problem ${p.problem} runs asynchronous rounds: its jobs change only with synchronous rounds (a late delta would count in the changed cluster)`,
    );
  // A signed change read again later (the stream's duplicate window passed) would undo what came after it: each counts once.
  if (p.changeIds?.includes(event.id)) reject(`change ${event.id} was taken already: a change counts once`);
  if ((p.changes?.length ?? 0) >= MAX_PENDING_CHANGES)
    reject(`${MAX_PENDING_CHANGES} changes of cluster problem ${p.problem} wait for round ${p.round + 1} already: send this one once it closes`);
  const platformJob = event.body.arrive.find((job) => job.tenant === p.tenant);
  if (platformJob !== undefined)
    reject(`change ${event.id}: job ${platformJob.name} arrives for ${p.tenant}, the platform's own tenant: jobs belong to their own tenants`);
  let after: ClusterProblem;
  try {
    after = applyChange(pendingOpen(p).cluster, event.body);
  } catch (err) {
    if (err instanceof ValidationError) reject(`change ${event.id}: ${err.message}`);
    throw err;
  }
  // The open the next round will hold: derived once here (its decomposition is cached by it), used again when the round closes.
  const open = { ...p.open, cluster: after };
  const { solving, decomposition } = derivedOf(open);
  const out = coefficientProblem(solving, decomposition);
  if (out !== undefined) reject(`change ${event.id}: ${out}`);
  if (p.open.secure !== undefined) checkSecureOpen(open, decomposition);
  const changes = [...(p.changes ?? []), event.body];
  pendingOpens.set(changes, open);
  return { ...p, changes, changeIds: [...(p.changeIds ?? []), event.id] };
}

/** At most this many changes wait for one round: each is checked against the cluster the ones before it leave. */
const MAX_PENDING_CHANGES = 64;

// The open the waiting changes leave, by their list (a state's list is never changed in place): each change is applied once,
// not once per later one, and the changed cluster is decomposed once (derivedOf caches by the open).
const pendingOpens = new WeakMap<readonly ClusterChange[], ClusterOpenBody>();

function pendingOpen(p: ClusterState): ClusterOpenBody {
  if (p.changes === undefined) return p.open;
  let open = pendingOpens.get(p.changes);
  if (open === undefined) {
    open = { ...p.open, cluster: p.changes.reduce((c, change) => applyChange(c, change), p.open.cluster) };
    pendingOpens.set(p.changes, open);
  }
  return open;
}

/** A node's masked contribution (secure problems): checked like a delta, then held for its round's sum. */
function maskedNode(p: ClusterState, event: CatoptEvent<"masked/1">, agent: string): ClusterState {
  if (p.joined[agent] === undefined) reject(`node ${agent} sent a masked contribution without joining`);
  if (p.left?.[agent] !== undefined) reject(`masked contribution from ${agent}, which left after round ${p.left[agent]}`);
  if (p.phase !== "running") reject(`masked contribution from ${agent} after the problem ended (${p.phase})`);
  if (event.round !== p.round + 1 || event.base !== p.round)
    reject(`masked contribution from ${agent} for round ${event.round} (answering plan ${event.base}); the next round is ${p.round + 1}`);
  if (p.pending[event.id] !== undefined) reject(`masked contribution ${event.id} arrived twice`);
  return { ...p, pending: { ...p.pending, [event.id]: pendingMasked(secureProblemOf(p), p.secure as ClusterSecure, event, agent) } };
}

/** The coordinator tries the next round again with a smaller roster; what was masked for the earlier attempt is void. */
function attemptCluster(p: ClusterState, event: CatoptEvent<"attempt/1">): ClusterState {
  if (p.phase !== "running") reject(`an attempt of round ${event.round} after the problem ended (${p.phase})`);
  const secure = { ...(p.secure as ClusterSecure), ...takeAttempt(secureProblemOf(p), p.secure as ClusterSecure, event) };
  return { ...p, secure, pending: {} };
}

/** Round k of a secure problem takes every roster node's masked contribution, and waits for their seeds. */
function takeMaskedRound(p: ClusterState, event: RoundEvent): ClusterState {
  const taken = takenDeltas(p.pending, event, p.round, clusterRules(p));
  const secure = { ...(p.secure as ClusterSecure), ...takeRound(secureProblemOf(p), p.secure as ClusterSecure, event, taken) };
  const ids = new Set(event.body.took);
  return { ...p, secure, pending: Object.fromEntries(Object.entries(p.pending).filter(([id]) => !ids.has(id))) };
}

function afterSeeds(p: ClusterState, revealed: Revealed): ClusterState {
  const secure = { ...(p.secure as ClusterSecure), ...revealed.secure };
  return revealed.sum === undefined ? { ...p, secure } : secureClusterStep({ ...p, secure }, (secure.revealing as RevealingRound).round, revealed.sum);
}

/**
 * What the sums of the nodes a round took can be, were their words honest (the fold holds each of
 * a plain node's deltas to the same): each column between 0 and what its type's taken nodes can
 * book on it, each type's time within their accelerators, the weighted squares within what those
 * accelerators allow. Anything else is a node's masked words lying: the round is refused.
 */
function checkSums(p: ClusterState, round: number, took: readonly string[], layout: ClusterLayout, sums: ClusterSums): void {
  const { nodes } = derivedOf(p.open).decomposition;
  const grain = took.length * 2 ** -(p.open.secure as NonNullable<ClusterOpenBody["secure"]>).fractionBits;
  const maxNorm = maxColumnNorm(nodes);
  let squares = 0;
  for (const [t, block] of layout.blocks.entries()) {
    const taken = nodes.filter((n) => n.type === block.type && took.includes(n.node));
    const capacity = taken.reduce((sum, n) => sum + n.capacity, 0);
    squares += taken.reduce((sum, n) => sum + maxNorm * n.capacity * n.capacity, 0);
    const column = sums.perType[t];
    const outside = column.findIndex((y, k) => !(y >= -grain && y <= taken.reduce((sum, n) => sum + n.columns[k].upper, 0) + grain));
    if (outside >= 0)
      reject(`round ${round}'s sum on ${block.type} column ${outside} is ${column[outside]}, outside what its taken nodes can book: a node's masked words lie`);
    const booked = column.reduce((sum, y) => sum + y, 0);
    if (booked > capacity * (1 + CAPACITY_ROUNDING) + column.length * grain)
      reject(`round ${round} books ${booked} on ${block.type}, more than its taken nodes' ${capacity}: a node's masked words lie`);
  }
  if (!(sums.sumSquares <= squares * (1 + 1e-9) + 1))
    reject(`round ${round}'s sum of squares ${sums.sumSquares} is more than its taken nodes could give: a node's masked words lie`);
}

/**
 * Every seed is in: the round's sums per type and column, its weighted squares, and the
 * coordinator's step on them alone, as the plain round's from every node's y (the contribution is
 * linear in y). A sum of squares below what the sums themselves imply (Cauchy-Schwarz) could only
 * come from a node lying about its squares: the round is refused.
 */
function secureClusterStep(p: ClusterState, round: number, words: Words): ClusterState {
  const settings = p.open.secure as NonNullable<ClusterOpenBody["secure"]>;
  const { decomposition, update } = derivedOf(p.open);
  const layout = clusterLayout(decomposition.nodes);
  const sums = clusterSums(layout, settings, words);
  const took = (p.secure as ClusterSecure).revealing?.took ?? [];
  checkSums(p, round, took, layout, sums);
  const k = took.length;
  const aggregate = aggregateOfSums(round, layout, sums, decomposition.nodes.length, decomposition.coupling.resources);
  const norm2 = aggregate.xbar.reduce((total, x) => total + (x * decomposition.nodes.length) ** 2, 0);
  // Quantized sums against squares of unquantized values: equal in exact arithmetic for identical nodes, so the fraction bits' error is allowed.
  const tolerance = 1e-9 * (1 + norm2) + 4 * k * (1 + Math.sqrt(norm2)) * 2 ** -settings.fractionBits;
  if (!(sums.sumSquares >= norm2 / k - tolerance && sums.sumSquares >= 0 && sums.sumSquaredSteps >= 0))
    reject(
      `round ${round}'s sums are impossible (sum of squares ${sums.sumSquares} below |sum|^2/${k} = ${norm2 / k}, or a negative sum of steps): a node's masked words lie about its squares`,
    );
  const result = sharingStep(p.admm, aggregate, update, p.open.admm);
  if (![...result.state.zbar, ...result.state.u, result.state.rho, ...Object.values(result.residuals)].every(Number.isFinite))
    reject(`round ${round} would leave the finite range: a node's masked words lie`);
  const gap = certifiedGap({ ...p, secure: { ...(p.secure as ClusterSecure), sums: sums.perType }, admm: result.state }, took);
  const phase: ClusterState["phase"] = stopsAt(p.open.admm, result.converged, gap) ? "converged" : round >= p.open.admm.maxRounds ? "max-rounds" : "running";
  const stepped: ClusterState = {
    ...p,
    phase,
    round,
    secure: { roster: activeNodes(p), sums: sums.perType },
    pending: {},
    admm: result.state,
    residuals: result.residuals,
    history: [...p.history, [round, result.residuals.primal, result.residuals.dual, p.admm.rho]],
  };
  return finishRound(stepped, agentSignal(p.admm), gap);
}

/** A cluster plan must say exactly what the replayed state implies. */
export function checkClusterPlan(p: ClusterState, event: CatoptEvent<"cluster-plan/1">): ClusterState {
  if (event.round !== p.round || p.plan === null) reject(`plan for round ${event.round}, but the last closed round is ${p.round}`);
  if (event.round <= p.planRound) reject(`plan for round ${event.round} published twice`);
  if (!sameValue(event.body, p.plan)) reject(`plan for round ${event.round} does not match the replayed state`);
  return { ...p, planRound: event.round };
}

export function expectedClusterPlanEvent(p: ClusterState): CatoptEvent<"cluster-plan/1"> {
  return planEventOf("cluster-plan/1", p.tenant, p.problem, p.round, p.plan ?? reject("no plan before round 0 closes"));
}

/** Tenant plans go out every `tenantPlanEvery` rounds and with the final plan. */
export function tenantPlansDue(p: ClusterState): boolean {
  return p.round >= 1 && (p.phase !== "running" || p.round % p.open.tenantPlanEvery === 0);
}

export const clusterTenants = (p: ClusterState): readonly string[] => derivedOf(p.open).tenants;

// The repaired plan of a state, computed once per committed y (tenant plans and their checks all need it).
const planCache = new WeakMap<readonly (readonly number[])[], TypeAllocation>();

/** X[job][type] for the committed y (in a secure problem: its sums per type), repaired to exact feasibility (repair.ts). */
export function clusterAllocation(p: ClusterState): TypeAllocation {
  const y = p.secure?.sums ?? p.y;
  let x = planCache.get(y);
  if (x === undefined) {
    const { nodes } = derivedOf(p.open).decomposition;
    // A type's sums are its nodes' columns added up, which is all the repair does with them.
    x = planFromNodes(p.open.cluster, p.secure === undefined ? nodes : clusterLayout(nodes).blocks.map((b) => b.columns), y);
    planCache.set(y, x);
  }
  return x;
}

export function tenantPlanBody(p: ClusterState, tenant: string): TenantPlanBody {
  const x = clusterAllocation(p);
  const jobs = p.open.cluster.jobs.filter((j) => j.tenant === tenant);
  return {
    platform: p.tenant,
    status: p.phase === "joining" ? "running" : p.phase,
    allocations: Object.fromEntries(jobs.map((j) => [j.name, x[j.name] ?? {}])),
    throughput: Object.fromEntries(jobs.map((j) => [j.name, effectiveThroughput(j, x[j.name])])),
  };
}

export function expectedTenantPlanEvent(p: ClusterState, tenant: string): CatoptEvent<"tenant-plan/1"> {
  return planEventOf("tenant-plan/1", tenant, p.problem, p.round, tenantPlanBody(p, tenant));
}

/** A tenant plan must be due, new, from a tenant with jobs in the cluster, and say what the state implies. */
export function checkTenantPlan(p: ClusterState, event: CatoptEvent<"tenant-plan/1">): ClusterState {
  const tenant = event.tenant;
  if (!clusterTenants(p).includes(tenant)) reject(`tenant ${tenant} has no jobs in cluster problem ${p.problem}`);
  if (event.round !== p.round || !tenantPlansDue(p))
    reject(`tenant plan of ${tenant} for round ${event.round}, which is not due (last closed round: ${p.round})`);
  if (event.round <= (p.tenantPlans[tenant] ?? 0)) reject(`tenant plan of ${tenant} for round ${event.round} published twice`);
  if (!sameValue(event.body, tenantPlanBody(p, tenant))) reject(`tenant plan of ${tenant} for round ${event.round} does not match the replayed state`);
  return { ...p, tenantPlans: { ...p.tenantPlans, [tenant]: event.round } };
}

function applySparse(values: readonly number[], update: SparseUpdate): number[] {
  const next = [...values];
  applyUpdate(next, update);
  return next;
}

/** Deep equality of wire values (numbers by ===, so -0 and 0 alike: the wire writes 0). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  // Bytes by their bytes: a Buffer a decoder read from carries properties of its own (msgpackr's dataView).
  if (a instanceof Uint8Array || b instanceof Uint8Array) return a instanceof Uint8Array && b instanceof Uint8Array && sameBytes(a, b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  // A field absent and one read as undefined (an optional field the wire did not carry) are alike: the wire writes neither.
  const present = (x: object) => Object.keys(x).filter((k) => (x as Record<string, unknown>)[k] !== undefined);
  const keys = present(a);
  return keys.length === present(b).length && keys.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && new Set(b).size === b.length && a.every((x) => b.includes(x));
}

export const isClusterState = (p: FamilyProblem | undefined): p is ClusterState => p !== undefined && "kind" in p && p.kind === "cluster";

/** The accelerator allocation as a problem family (core/family.ts). */
export const acceleratorAllocation: ProblemFamily<ClusterState> = {
  name: "accelerator-allocation",
  schemas: ACCELERATOR_ALLOCATION_SCHEMAS,
  owns: isClusterState,
  open: (event) => (event.schema === "cluster-open/1" ? openCluster(event) : reject(`${event.schema} does not open a cluster problem`)),
  apply: (p, event, agent, envelope) => {
    if (event.schema === "cluster-plan/1") return checkClusterPlan(p, event);
    if (event.schema === "cluster-change/1") return changeCluster(p, event);
    if (event.schema === "tenant-plan/1") return checkTenantPlan(p, event);
    // Secure events reach only a secure problem (the engine refuses them to a plain one: replay/reducer.ts).
    if (event.schema === "attempt/1") return attemptCluster(p, event);
    if (event.schema === "recover/1") return { ...p, secure: { ...(p.secure as ClusterSecure), ...takeRecover(p.secure as ClusterSecure, event) } };
    const node = agent ?? reject(`a ${event.schema} event must arrive on its node's delta subject`);
    if (event.schema === "node-join/1") return joinNode(p, event, node, envelope);
    if (event.schema === "node-delta/1") return nodeDelta(p, event, node);
    if (event.schema === "masked/1") return maskedNode(p, event, node);
    if (event.schema === "reveal/1") return afterSeeds(p, takeReveal(secureProblemOf(p), p.secure as ClusterSecure, event, node));
    if (event.schema === "share/1") return afterSeeds(p, takeShares(secureProblemOf(p), p.secure as ClusterSecure, event, node));
    return reject(`a ${event.schema} event does not belong to cluster problem ${p.problem}`);
  },
  retry: (p, missing) =>
    p.secure === undefined || p.phase !== "running"
      ? undefined
      : retryEvent(secureProblemOf(p), p.secure, (a) => p.left?.[a] !== undefined || missing.includes(a)),
  recover: (p) => (p.secure === undefined ? undefined : recoverEvent(secureProblemOf(p), p.secure)),
  // A tenant plan lives in the job tenant's subjects but belongs to the platform tenant's problem.
  problemTenant: (event) => (event.schema === "tenant-plan/1" ? event.body.platform : undefined),
  closeRound: closeClusterRound,
  agentsOf: (p) => (p.secure !== undefined && p.phase === "running" ? p.secure.roster : activeNodes(p)),
  leave: leaveNode,
  leftAgents: (p) => Object.keys(p.left ?? {}),
  describePlan: (event) => {
    if (event.schema === "cluster-plan/1") {
      const plan = event.body;
      return {
        final: plan.status !== "running",
        summary: `${plan.status}  ${plan.gap === undefined ? "" : `certified gap ${sci(plan.gap)}  `}primal ${sci(plan.primal)}  dual ${sci(plan.dual)}  rho ${plan.rho}  (${plan.signal.index.length} signal entries changed)`,
        lines: [],
      };
    }
    if (event.schema !== "tenant-plan/1") return undefined;
    // One tenant's jobs: the share of time on each type, and the throughput that gives.
    const plan = event.body;
    const width = Math.max(4, ...Object.keys(plan.allocations).map((j) => j.length));
    const lines = Object.entries(plan.allocations).map(([job, x]) => {
      const shares = Object.entries(x)
        .filter(([, share]) => share > 5e-4)
        .map(([type, share]) => `${type} ${(100 * share).toFixed(1)}%`);
      return `  ${job.padEnd(width)}  ${(plan.throughput[job] ?? 0).toFixed(3).padStart(10)} steps/s  ${shares.join("  ") || "(no time)"}`;
    });
    return { final: plan.status !== "running", summary: `${plan.status}  (cluster ${plan.platform}/${event.problem})`, lines };
  },
  roundRules: clusterRules,
  planEvents: (p) => [
    { tenant: p.tenant, event: expectedClusterPlanEvent(p) },
    // Each tenant sees its own jobs only, on its own subject; published before the next round, so in order.
    ...(tenantPlansDue(p) ? clusterTenants(p).map((t) => ({ tenant: t, event: expectedTenantPlanEvent(p, t) })) : []),
  ],
  tenantPlans: (p) => ({ tenants: clusterTenants(p), lastAccepted: p.tenantPlans }),
  facts: (p) => {
    // The repaired plan, valued under the true throughputs, in the policy's units.
    const { cluster } = p.open;
    const x = clusterAllocation(p);
    return {
      objective: p.round < 1 ? null : policyObjective(cluster, policyForm(cluster), x),
      violation: planViolation(cluster, x),
      allocations: x,
      violationTolerance: 1e-6,
      ...(p.plan?.gap === undefined ? {} : { certifiedGap: p.plan.gap }),
    };
  },
};
