import { DEFAULT_ADMM, type AdmmSettings } from "../../core/problem-spec.ts";
import { agentSignal, initialAdmmState, sharingStep, type AdmmState, type Residuals } from "../../solver/admm.ts";
import { solvingThroughputs, type ClusterProblem, type PolicyName, type TypeAllocation } from "./cluster.ts";
import { roundCertificate, stopsAt, type Certificate } from "./dual-bound.ts";
import { couplingUpdate } from "./coupling.ts";
import { decompose, type Decomposition } from "./decompose.ts";
import { clusterAggregate, nodeStep, nodeWorkspace } from "./node-step.ts";
import { censorStep, censorThreshold } from "./node-solver.ts";
import { policyForm, policyObjective, type PolicyForm } from "./policy.ts";
import { planFromNodes } from "./repair.ts";

/**
 * The allocation ADMM with every node agent in one process: the same pure steps the agents and
 * the coordinator take over NATS, without the bus. For tests against HiGHS, and as the
 * no-network baseline of bench/allocation.
 */
export type AllocationRun = {
  readonly converged: boolean;
  readonly rounds: number;
  /** The repaired plan and its objective under the true throughputs (the policy's units). */
  readonly x: TypeAllocation;
  readonly objective: number;
  readonly residuals: Residuals;
  /** The last round's certificate: the repaired plan proven within this relative gap of the optimum (dual-bound.ts). */
  readonly certifiedGap: number;
  /** [round, primal, dual, rho] per round. */
  readonly history: readonly (readonly [number, number, number, number])[];
  /** Where it ended: what a re-solve of a changed cluster starts warm from (churn.ts). */
  readonly end: AllocationStart;
};

/** Where a solve starts: every node's accelerator-time per column, and the coordinator's state. Absent: cold, from zeros. */
export type AllocationStart = { readonly y: readonly Float64Array[]; readonly state: AdmmState };

/**
 * An allocation's ADMM: stopped on a certified gap of 1e-3, rho by OSQP's rule from the start.
 * Residual balancing first (rho doubled or halved for 100 rounds, as the QP family does) took
 * about twice the rounds under max-min fairness (bench/allocation: 256 jobs 427 rounds against 146,
 * 2,048 jobs 361 against 207; gavel-2000 432 against 215) and no fewer under the others, except
 * makespan, whose degenerate LPs stalled without it (allocationAdmm).
 */
export const ALLOCATION_ADMM: AdmmSettings = {
  ...DEFAULT_ADMM,
  epsAbs: 1e-6,
  epsRel: 1e-5,
  maxRounds: 20_000,
  censor: 1e-6,
  gap: 1e-3,
  balanceRounds: 0,
  rhoEvery: 25,
};

/** ALLOCATION_ADMM for a policy: makespan keeps residual balancing (one 64-job instance went from 439 rounds to none converged in 5,000 without it). */
export const allocationAdmm = (policy: PolicyName): AdmmSettings =>
  policy === "makespan" ? { ...ALLOCATION_ADMM, balanceRounds: DEFAULT_ADMM.balanceRounds } : ALLOCATION_ADMM;

export function solveAllocationInProcess(
  problem: ClusterProblem,
  settings: AdmmSettings = allocationAdmm(problem.policy),
  onRound?: (round: number, residuals: Residuals, certificate: Certificate) => void,
  from?: AllocationStart,
): AllocationRun {
  const solving = solvingThroughputs(problem);
  const form = policyForm(solving);
  const decomposition = decompose(solving, form);
  const run = iterate(solving, form, decomposition, settings, onRound, from);
  const x = planFromNodes(problem, decomposition.nodes, run.y);
  return { ...run, x, objective: policyObjective(problem, policyForm(problem), x) };
}

function iterate(
  solving: ClusterProblem,
  form: PolicyForm,
  decomposition: Decomposition,
  settings: AdmmSettings,
  onRound?: (round: number, residuals: Residuals, certificate: Certificate) => void,
  from?: AllocationStart,
) {
  const { nodes, coupling } = decomposition;
  const update = couplingUpdate(coupling);
  const workspaces = nodes.map(nodeWorkspace);
  // A warm start starts from its rho: residual balancing, which looks for one from scratch, would move it away first (OSQP's rule may still move it).
  if (from !== undefined) settings = { ...settings, balanceRounds: 0 };
  let y: Float64Array[] = from?.y.map((values) => values.slice()) ?? nodes.map((node) => new Float64Array(node.columns.length));
  let state = from?.state ?? initialAdmmState(coupling.resources, settings);
  let residuals: Residuals = { primal: Infinity, dual: Infinity, epsPrimal: 0, epsDual: 0 };
  const history: [number, number, number, number][] = [];
  let certifiedGap = Number.POSITIVE_INFINITY;
  for (let round = 1; round <= settings.maxRounds; round++) {
    const signal = agentSignal(state);
    const threshold = censorThreshold(settings.censor ?? 0, round);
    const next = nodes.map((node, n) => censorStep(nodeStep(node, y[n], signal, state.rho, workspaces[n]), y[n], threshold, node.capacity));
    const result = sharingStep(state, clusterAggregate(round, nodes, y, next, coupling.resources), update, settings);
    history.push([round, result.residuals.primal, result.residuals.dual, state.rho]);
    [state, y, residuals] = [result.state, next, result.residuals];
    const certificate = roundCertificate(solving, form, decomposition, planFromNodes(solving, nodes, y), state);
    certifiedGap = certificate.gap;
    onRound?.(round, residuals, certificate);
    if (stopsAt(settings, result.converged, certificate.gap)) return { converged: true, rounds: round, y, residuals, certifiedGap, history, end: { y, state } };
  }
  return { converged: false, rounds: settings.maxRounds, y, residuals, certifiedGap, history, end: { y, state } };
}
