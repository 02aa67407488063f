import type { AdmmSettings, GlobalConstraint } from "../core/problem-spec.ts";
import { dot, projectOntoPolyhedron, type Rows } from "./projection.ts";

/**
 * The coordinator's half of sharing ADMM (Boyd et al. 2011, section 7.3), in scaled form, over
 * the m shared resources:
 *
 *   zbar+ = Proj_C( N (xbar+ + u) ) / N        C = { s : G s <= h }, the global constraints
 *   u+    = u + xbar+ - zbar+
 *
 * with residuals from section 3.3 (z_i = x_i + zbar - xbar in the sharing form) and residual
 * balancing of rho from section 3.4.1. Agents never send their objectives, only their x_i, and
 * the coordinator needs only the aggregates in RoundAggregate. Pure.
 */
export type AdmmState = {
  readonly rho: number;
  readonly xbar: readonly number[];
  readonly zbar: readonly number[];
  readonly u: readonly number[];
};

/** What the coordinator knows of a round once it has all the agents' x_i+. */
export type RoundAggregate = {
  /** The round these x_i+ belong to (1, 2, ...). */
  readonly round: number;
  readonly agents: number;
  /** Mean of the agents' x_i+ (each embedded in the resource space, zero where unused). */
  readonly xbar: readonly number[];
  /** Sum over agents of ||x_i+||^2. */
  readonly sumSquares: number;
  /** Sum over agents of ||x_i+ - x_i||^2. */
  readonly sumSquaredSteps: number;
};

export type Residuals = {
  readonly primal: number;
  readonly dual: number;
  readonly epsPrimal: number;
  readonly epsDual: number;
};

export type StepResult = { readonly state: AdmmState; readonly residuals: Residuals; readonly converged: boolean };

export function initialAdmmState(resources: number, settings: AdmmSettings): AdmmState {
  const zeros = new Array<number>(resources).fill(0);
  return { rho: settings.rho, xbar: zeros, zbar: zeros, u: zeros };
}

/** xbar - zbar + u: all an agent needs, beside its own last x_i, for its next local step. */
export function agentSignal(state: AdmmState): number[] {
  return state.xbar.map((x, j) => x - state.zbar[j] + state.u[j]);
}

export function coordinatorStep(
  state: AdmmState,
  round: RoundAggregate,
  rows: Rows & { readonly used: readonly boolean[] },
  settings: AdmmSettings,
): StepResult {
  return sharingStep(state, round, (w) => projectOntoPolyhedron(w, rows).map((s, j) => (rows.used[j] ? s : 0)), settings);
}

/**
 * The fleet-total update of sharing ADMM for any coupling g (the limits layer):
 * S = argmin_S g(S) + rho / (2 N) * ||S - w||^2 with w = N (xbar+ + u). For g the indicator of
 * the global constraints this is the projection; a policy term (max-min fairness) makes it a
 * proximal step. `fleetTotal` receives w and the prox weight rho / N.
 */
export type FleetTotalUpdate = (w: readonly number[], weight: number) => number[];

export function sharingStep(state: AdmmState, round: RoundAggregate, fleetTotal: FleetTotalUpdate, settings: AdmmSettings): StepResult {
  const n = round.agents;
  const m = round.xbar.length;
  const shared = fleetTotal(
    round.xbar.map((x, j) => n * (x + state.u[j])),
    state.rho / n,
  );
  const zbar = shared.map((s) => s / n);
  const u = state.u.map((uj, j) => uj + round.xbar[j] - zbar[j]);

  const gap = round.xbar.map((x, j) => x - zbar[j]);
  const primal = Math.sqrt(n * dot(gap, gap));

  // sum_i ||dz_i||^2 with dz_i = dx_i + d, d = dzbar - dxbar, and sum_i dx_i = n * dxbar.
  const dxbar = round.xbar.map((x, j) => x - state.xbar[j]);
  const d = zbar.map((z, j) => z - state.zbar[j] - dxbar[j]);
  const sumSquaredZSteps = round.sumSquaredSteps + 2 * n * dot(d, dxbar) + n * dot(d, d);
  const dual = state.rho * Math.sqrt(Math.max(0, sumSquaredZSteps));

  // ||z||^2 = sum_i ||x_i - gap||^2 = sumSquares - 2 n gap.xbar + n ||gap||^2.
  const normX = Math.sqrt(round.sumSquares);
  const normZ = Math.sqrt(Math.max(0, round.sumSquares - 2 * n * dot(gap, round.xbar) + n * dot(gap, gap)));
  const root = Math.sqrt(n * m);
  const epsPrimal = root * settings.epsAbs + settings.epsRel * Math.max(normX, normZ);
  const epsDual = root * settings.epsAbs + settings.epsRel * state.rho * Math.sqrt(n * dot(u, u));
  const converged = primal <= epsPrimal && dual <= epsDual;

  let rho = state.rho;
  let scaledU = u;
  const balancing = !converged && round.round <= settings.balanceRounds;
  if (balancing && primal > settings.mu * dual) {
    rho = state.rho * settings.tau;
    scaledU = u.map((uj) => uj / settings.tau);
  } else if (balancing && dual > settings.mu * primal) {
    rho = state.rho / settings.tau;
    scaledU = u.map((uj) => uj * settings.tau);
  }
  // OSQP's rule (Stellato et al. 2020, section 5.2), after balancing: rho times the square root of
  // the ratio of the normalized residuals, every rhoEvery rounds, when it would move rho more than 5x;
  // for RHO_RULE_WINDOWS windows only, so that rho is fixed after finitely many rounds (as ADMM's
  // convergence proof needs: on some instances the rule alone flips rho back and forth forever).
  const every = settings.rhoEvery ?? 0;
  const inWindow = round.round > settings.balanceRounds && round.round <= settings.balanceRounds + RHO_RULE_WINDOWS * every;
  if (every > 0 && !converged && inWindow && round.round % every === 0) {
    const primalScale = Math.max(normX, normZ);
    const dualScale = state.rho * Math.sqrt(n * dot(u, u));
    const ratio = primalScale > 0 && dualScale > 0 && dual > 0 ? Math.sqrt(primal / primalScale / (dual / dualScale)) : 1;
    if (ratio > OSQP_RHO_MOVE || ratio < 1 / OSQP_RHO_MOVE) {
      const next = Math.min(MAX_RHO, Math.max(MIN_RHO, rho * ratio));
      scaledU = scaledU.map((uj) => (uj * rho) / next);
      rho = next;
    }
  }
  return {
    state: { rho, xbar: round.xbar, zbar, u: scaledU },
    residuals: { primal, dual, epsPrimal, epsDual },
    converged,
  };
}

/** OSQP moves rho only when it would change more than this factor; rho stays within [MIN_RHO, MAX_RHO]. */
const OSQP_RHO_MOVE = 5;
const RHO_RULE_WINDOWS = 24;
const MIN_RHO = 1e-6;
const MAX_RHO = 1e6;

/** The aggregates of a round from every agent's previous and new x_i (embedded, length m). */
export function aggregateRound(round: number, previous: readonly (readonly number[])[], next: readonly (readonly number[])[]): RoundAggregate {
  const agents = next.length;
  const m = next[0]?.length ?? 0;
  const xbar = new Array<number>(m).fill(0);
  let sumSquares = 0;
  let sumSquaredSteps = 0;
  next.forEach((x, i) => {
    for (let j = 0; j < m; j++) {
      xbar[j] += x[j];
      sumSquares += x[j] * x[j];
      const step = x[j] - previous[i][j];
      sumSquaredSteps += step * step;
    }
  });
  return { round, agents, xbar: xbar.map((sum) => sum / agents), sumSquares, sumSquaredSteps };
}

/**
 * The global constraints as rows over the resource vector, for the projection. A resource no
 * agent uses has a fleet total of exactly 0, so its column is dropped (zeroed): left in, the
 * projection would move zbar along a direction no agent can follow, and the primal residual
 * there would never close.
 */
export function constraintRows(
  resources: readonly string[],
  constraints: readonly GlobalConstraint[],
  used: ReadonlySet<string>,
): Rows & { readonly used: readonly boolean[] } {
  return {
    G: constraints.map((c) => resources.map((r) => (used.has(r) ? (c.coefficients[r] ?? 0) : 0))),
    h: constraints.map((c) => c.limit),
    used: resources.map((r) => used.has(r)),
  };
}
