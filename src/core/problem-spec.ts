/**
 * What every family's coordinated problem shares: its ADMM settings, and linear limits on
 * shared quantities.
 *
 * Shared quantities are named *resources* (energy drawn in a time slot, accelerator-hours of a
 * type, ...). Every agent uses some of them; the global constraints (the limits layer) bound
 * linear combinations of the fleet's total use of each resource.
 */
export type GlobalConstraint = {
  readonly name: string;
  /** Coefficient per resource of the fleet total; resources not named count 0. */
  readonly coefficients: Readonly<Record<string, number>>;
  /** The row reads: sum over resources of coefficient * fleet total <= limit. */
  readonly limit: number;
};

/** ADMM parameters, as in Boyd et al. (2011): sections 3.3 (stopping) and 3.4.1 (rho). */
export type AdmmSettings = {
  /** Initial penalty rho > 0. */
  readonly rho: number;
  /** Absolute and relative tolerances of the primal/dual residual stopping rule. */
  readonly epsAbs: number;
  readonly epsRel: number;
  /** Residual balancing: when one residual exceeds mu times the other, rho is scaled by tau. */
  readonly mu: number;
  readonly tau: number;
  /**
   * Balancing runs only in rounds 1..balanceRounds. ADMM's convergence proof needs rho fixed
   * after finitely many rounds, and unbounded balancing was seen to stall problems with purely
   * linear variables (test/solver/sharing.test.ts has such instances).
   */
  readonly balanceRounds: number;
  /** The run stops with status "max-rounds" when it has not converged by then. */
  readonly maxRounds: number;
  /**
   * Bounded staleness of asynchronous rounds: round k may take an agent's delta that answers
   * any plan from round k-1-maxStaleness on (0: only the last plan, the synchronous rounds).
   */
  readonly maxStaleness: number;
  /**
   * Censored deltas (cluster problems): a node agent leaves out a change of at most
   * censor * 2^(-round/1000) and keeps the old value as committed, so it and the coordinator
   * still agree exactly (COCA, Liu et al. 2019). Changes that small do not move the plan past
   * the stopping tolerance; as the plan settles, fewer entries cross it and deltas shrink. The
   * threshold halves every 1000 rounds, so a run it holds back still ends as exact ADMM would.
   * 0 or absent (as in QP problems, and streams written before it): every change is sent.
   */
  readonly censor?: number;
  /**
   * How a run of asynchronous rounds may end. "steady": only when every agent's values answer a
   * plan that every round since left in place (a late value in a quorum round can make one
   * round's residuals look converged while the plan is far off). Absent, as in synchronous
   * problems (where the two rules agree) and in streams written before it: when every agent's
   * values are recent, the rule those streams ran under, kept so that they replay as they ran.
   */
  readonly stop?: "steady";
  /**
   * Certified stopping, for families that bound the optimum (allocations: a Lagrangian bound at
   * the round's prices): where a round's repaired plan proves a gap, the run ends once it is
   * within this one, whatever the residuals say; where it proves none (a plan short of an SLO
   * floor), the residual rule decides. Each plan states its gap. Absent (QP problems, and streams
   * written before it): the residual rule alone.
   */
  readonly gap?: number;
  /**
   * After the balancing rounds, OSQP's rho rule every this many rounds, for 24 such windows (rho
   * times the square root of the ratio of the normalized residuals, when that moves it more than
   * 5x). Absent (QP problems, and streams written before it): rho stays fixed after balancing.
   */
  readonly rhoEvery?: number;
};

/**
 * Secure aggregation of a problem's rounds (src/secure): its agents send masked contributions in
 * fixed point instead of their values, and the coordinator, the stream and every replay learn
 * only the sums. Absent: plain rounds, as in every stream written before it.
 */
export type SecureSettings = {
  /** Fraction bits of the fixed point the agents contribute in: each value within 2^-(f+1). */
  readonly fractionBits: number;
  /** The bound on every number of one agent's contribution (values, squares, objective): an agent sends nothing larger. */
  readonly maxAbs: number;
  /** The fewest agents a round may take: no agent reveals its mask for fewer (a sum of one or two agents is close to their values). */
  readonly threshold: number;
  /**
   * Differential privacy (absent: none): each agent clips its values to an L2 norm of `clip` and adds
   * its share of discrete Gaussian noise, so that the round's sum carries noise of variance `sigma2`
   * (the problem's units squared). The tenant's privacy budget pays for every round (secure/distributed-noise.ts).
   */
  readonly noise?: { readonly clip: number; readonly sigma2: number };
};

/** Every family's ADMM defaults, where its scenario names no setting. */
export const DEFAULT_ADMM: AdmmSettings = {
  rho: 1,
  epsAbs: 1e-8,
  epsRel: 1e-8,
  mu: 10,
  tau: 2,
  balanceRounds: 100,
  maxRounds: 5000,
  maxStaleness: 0,
};
