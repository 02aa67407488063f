import type { AdmmState } from "../../solver/admm.ts";
import { throughputOn, type ClusterProblem, type TypeAllocation } from "./cluster.ts";
import type { Decomposition, NodeColumn, NodeProblem } from "./decompose.ts";
import type { PolicyForm } from "./policy.ts";

/**
 * How far a plan is from the optimum, proven: the allocation LP (decompose.ts, in its scaled
 * units, maximized)
 *
 *   max  sum_n gain_n . y_n + maxMin * t
 *   s.t. y_n in Y_n (0 <= y <= upper, sum y <= capacity),  S = sum_n A_n y_n,  (S, t) in C
 *
 * has, for any prices lambda on S = sum_n A_n y_n, the Lagrangian bound (weak duality)
 *
 *   D(lambda) = sum_n max_{y in Y_n} (gain_n - A_n' lambda) . y  +  max_{(S, t) in C} lambda . S + maxMin * t
 *
 * which no feasible plan exceeds. ADMM's prices are lambda = rho * u (the scaled dual of the
 * sharing form), which tend to the optimal ones, so D falls to the optimum as the rounds go. A
 * repaired plan (repair.ts) is feasible: its value P is below the optimum, and (D - P) / |D| is a
 * gap the optimum lies within. Every node's polytope is public (the open holds the cluster), so
 * the coordinator computes each node's term itself: no node sends anything more, and a replay
 * computes the same bound. Nodes of one type and size share their columns (decompose.ts): one
 * term each, times their number.
 *
 * lambda is first made one whose bound is finite: a throughput's price at most 0 (the coupling
 * may raise a throughput without limit), and, under max-min, the throughput prices summing to
 * -maxMin (else t could grow without limit). Any prices give a valid bound; these give a finite one.
 */
export function dualBound(decomposition: Decomposition, prices: readonly number[], active: (node: NodeProblem) => boolean = () => true): number {
  const { nodes, coupling } = decomposition;
  const lambda = Float64Array.from(prices);
  const first = coupling.jobs;
  let priced = 0;
  for (let k = first; k < coupling.resources; k++) {
    lambda[k] = Math.min(0, lambda[k]);
    priced -= lambda[k];
  }
  const throughputs = coupling.resources - first;
  if (coupling.maxMin > 0 && priced < coupling.maxMin && throughputs > 0) {
    for (let k = first; k < coupling.resources; k++) lambda[k] = priced > 0 ? (lambda[k] * coupling.maxMin) / priced : -coupling.maxMin / throughputs;
  }
  let bound = 0;
  const terms = new Map<readonly NodeColumn[], Map<number, number>>();
  for (const node of nodes) {
    if (!active(node)) continue;
    const byCapacity = terms.get(node.columns) ?? new Map<number, number>();
    terms.set(node.columns, byCapacity);
    let term = byCapacity.get(node.capacity);
    if (term === undefined) {
      term = nodeTerm(node.columns, node.capacity, lambda);
      byCapacity.set(node.capacity, term);
    }
    bound += term;
  }
  return bound + couplingTerm(decomposition, lambda);
}

/** max (gain - A' lambda) . y over 0 <= y <= upper, sum y <= capacity: the best columns first (a fractional knapsack). */
function nodeTerm(columns: readonly NodeColumn[], capacity: number, lambda: Float64Array): number {
  const worth: { value: number; upper: number }[] = [];
  for (const c of columns) {
    const value = c.gain - c.time * lambda[c.job] - (c.thrResource < 0 ? 0 : c.thr * lambda[c.thrResource]);
    if (value > 0) worth.push({ value, upper: c.upper });
  }
  worth.sort((a, b) => b.value - a.value);
  let left = capacity;
  let term = 0;
  for (const { value, upper } of worth) {
    if (left <= 0) break;
    const y = Math.min(upper, left);
    term += value * y;
    left -= y;
  }
  return term;
}

/**
 * max lambda . S + maxMin * t over the coupling: each job's time in [0, 1] (a tenant's jobs
 * within its quota: a fractional knapsack), each throughput at least its floor and, under
 * max-min, at least t. With the throughput prices at most 0 each throughput sits at max(floor, t),
 * and the best t is at a floor (the function of t is concave, piecewise linear, kinked at the floors).
 */
function couplingTerm({ coupling }: Decomposition, lambda: Float64Array): number {
  let term = 0;
  const inQuota = new Set(coupling.quotas.flatMap((q) => q.jobs));
  for (let j = 0; j < coupling.jobs; j++) if (!inQuota.has(j)) term += Math.max(0, lambda[j]);
  for (const quota of coupling.quotas) {
    const worth = quota.jobs.map((j, i) => ({ value: lambda[j], weight: quota.weights[i] })).filter((w) => w.value > 0);
    worth.sort((a, b) => b.value / b.weight - a.value / a.weight);
    let left = quota.limit;
    for (const { value, weight } of worth) {
      if (left <= 0) break;
      const s = Math.min(1, left / weight);
      term += value * s;
      left -= weight * s;
    }
  }
  const floors = coupling.thrFloor;
  const first = coupling.jobs;
  if (coupling.maxMin <= 0) return term + floors.reduce((sum, floor, k) => sum + lambda[first + k] * floor, 0);
  // maxMin * t + sum_k lambda_k * max(floor_k, t), at each floor: the largest of these is the maximum over t.
  const order = floors.map((_, k) => k).sort((a, b) => floors[a] - floors[b]);
  let below = 0; // the prices of the throughputs whose floor is at most t: they sit at t
  let aboveValue = floors.reduce((sum, floor, k) => sum + lambda[first + k] * floor, 0); // lambda * floor of the rest, at their floors
  let best = Number.NEGATIVE_INFINITY;
  let i = 0;
  while (i < order.length) {
    const t = floors[order[i]];
    for (; i < order.length && floors[order[i]] === t; i++) {
      below += lambda[first + order[i]];
      aboveValue -= lambda[first + order[i]] * t;
    }
    best = Math.max(best, coupling.maxMin * t + below * t + aboveValue);
  }
  return term + best;
}

/**
 * A second bound, from the LP at the level of types (Gavel's: X[job][type], each job's time at
 * most 1, each type's accelerators), where only the throughput prices are taken from ADMM. Under
 * max-min, t is at most any average of the jobs' normalized throughputs: weights w from the
 * throughput prices (their sizes, summing to 1) make the objective linear, and the quotas and
 * SLO floors are dropped (a relaxation: the bound stays valid). The dual of what is left is
 *
 *   min_{pi >= 0}  sum_t pi_t * C_t  +  sum_j max(0, max_t (v_jt - scale_j * pi_t))
 *
 * (v_jt the value of X[job][type] = 1, C_t the type's accelerators), convex in one price per type:
 * any pi gives a bound, and a few sweeps of exact minimization along each price, from 0, give a
 * good one. It does not lean on ADMM's time and capacity prices, which settle last.
 */
function typeBound(
  solving: ClusterProblem,
  form: PolicyForm,
  { nodes, coupling }: Decomposition,
  prices: readonly number[],
  active: (node: NodeProblem) => boolean,
): number {
  const capacity = new Map<string, number>();
  for (const node of nodes) if (active(node)) capacity.set(node.type, (capacity.get(node.type) ?? 0) + node.capacity);
  const types = [...capacity.keys()];
  const weights = throughputWeights(coupling, prices);
  const jobs = solving.jobs;
  // value[j * types + t]: what a whole X[job][type] is worth, in the LP's scaled units.
  const value = new Float64Array(jobs.length * types.length);
  jobs.forEach((job, j) => {
    types.forEach((type, t) => {
      const throughput = throughputOn(job, type);
      if (throughput <= 0) return;
      const gain = (form.gain[j]?.[type] ?? 0) / coupling.gainScale;
      const fair = coupling.thrResource[j] < 0 ? 0 : (weights[coupling.thrResource[j] - coupling.jobs] * throughput) / coupling.thrScale[j];
      value[j * types.length + t] = gain + coupling.maxMin * fair;
    });
  });
  const pi = new Float64Array(types.length);
  const kinks: { at: number; scale: number }[] = [];
  for (let sweep = 0; sweep < TYPE_BOUND_SWEEPS; sweep++) {
    for (let t = 0; t < types.length; t++) {
      // f(pi_t) = C_t pi_t + sum_j max(a_j, v_jt - s_j pi_t): each job's term falls at slope s_j until its kink.
      kinks.length = 0;
      jobs.forEach((job, j) => {
        let others = 0;
        for (let u = 0; u < types.length; u++) if (u !== t) others = Math.max(others, value[j * types.length + u] - job.scale * pi[u]);
        const own = value[j * types.length + t];
        if (own > others) kinks.push({ at: (own - others) / job.scale, scale: job.scale });
      });
      kinks.sort((a, b) => b.at - a.at);
      // The least pi_t where the jobs still above their kinks need at most C_t accelerators.
      let need = 0;
      let best = 0;
      for (const k of kinks) {
        need += k.scale;
        if (need > (capacity.get(types[t]) ?? 0)) {
          best = k.at;
          break;
        }
      }
      pi[t] = best;
    }
  }
  let bound = 0;
  types.forEach((type, t) => {
    bound += pi[t] * (capacity.get(type) ?? 0);
  });
  jobs.forEach((job, j) => {
    let best = 0;
    for (let t = 0; t < types.length; t++) best = Math.max(best, value[j * types.length + t] - job.scale * pi[t]);
    bound += best;
  });
  return bound;
}

const TYPE_BOUND_SWEEPS = 4;

/** Under max-min, weights on the jobs' throughputs from their prices: each price's size, summing to 1 (uniform when none is priced). */
function throughputWeights(coupling: Decomposition["coupling"], prices: readonly number[]): Float64Array {
  const count = coupling.resources - coupling.jobs;
  const weights = new Float64Array(count);
  let total = 0;
  for (let k = 0; k < count; k++) {
    weights[k] = Math.max(0, -prices[coupling.jobs + k]);
    total += weights[k];
  }
  for (let k = 0; k < count; k++) weights[k] = total > 0 ? weights[k] / total : 1 / count;
  return weights;
}

/**
 * The value of a plan X[job][type] in the LP's scaled units (what dualBound bounds): its gains,
 * and under max-min the least of its jobs' normalized throughputs. `solving` is the problem as
 * the LP states it (solvingThroughputs), `form` its policy form.
 */
export function planValue(solving: ClusterProblem, form: PolicyForm, decomposition: Decomposition, x: TypeAllocation): number {
  const { coupling } = decomposition;
  let value = 0;
  let least = Number.POSITIVE_INFINITY;
  solving.jobs.forEach((job, j) => {
    const shares = x[job.name] ?? {};
    let throughput = 0;
    for (const [type, share] of Object.entries(shares)) {
      value += ((form.gain[j]?.[type] ?? 0) * share) / coupling.gainScale;
      throughput += throughputOn(job, type) * share;
    }
    if (coupling.thrResource[j] >= 0) least = Math.min(least, throughput / coupling.thrScale[j]);
  });
  return coupling.maxMin > 0 ? value + coupling.maxMin * least : value;
}

/** What a round proves: the Lagrangian bound at its prices, its repaired plan's value (the LP's scaled units), and their relative gap. */
export type Certificate = { readonly bound: number; readonly value: number; readonly gap: number };

/**
 * A round's certificate: its repaired plan `x` against the bound at its prices (rho * u, of the
 * state after its step), over the `active` nodes (those that left are out of the LP). The gap is (bound - value) / max(|bound|, 1), at least 0; Infinity when
 * the plan misses a throughput floor (an SLO the repair scaled it below: not a feasible plan), or
 * is worth more than the bound.
 */
export function roundCertificate(
  solving: ClusterProblem,
  form: PolicyForm,
  decomposition: Decomposition,
  x: TypeAllocation,
  state: AdmmState,
  active: (node: NodeProblem) => boolean = () => true,
): Certificate {
  const prices = state.u.map((u) => u * state.rho);
  // Both are bounds: the smaller is the better.
  const bound = Math.min(dualBound(decomposition, prices, active), typeBound(solving, form, decomposition, prices, active));
  const value = planValue(solving, form, decomposition, x);
  // A plan worth more than the bound (beyond rounding) books what the bound does not count: it proves nothing.
  const proves =
    !missesFloor(solving, decomposition, x) && Number.isFinite(bound) && Number.isFinite(value) && value <= bound + 1e-9 * Math.max(1, Math.abs(bound));
  // Relative to the bound, or absolute below 1 (an optimum of 0 would never be proven within a relative gap).
  return { bound, value, gap: proves ? Math.max(0, bound - value) / Math.max(Math.abs(bound), 1) : Number.POSITIVE_INFINITY };
}

function missesFloor(solving: ClusterProblem, { coupling }: Decomposition, x: TypeAllocation): boolean {
  return solving.jobs.some((job, j) => {
    const k = coupling.thrResource[j];
    const floor = k < 0 ? 0 : coupling.thrFloor[k - coupling.jobs];
    if (floor <= 0) return false;
    const throughput = Object.entries(x[job.name] ?? {}).reduce((sum, [type, share]) => sum + throughputOn(job, type) * share, 0);
    return throughput / coupling.thrScale[j] < floor * (1 - 1e-9);
  });
}

/**
 * Whether a round ends the run: where the problem stops on a certified gap (admm.gap) and the
 * round's plan proves one, when it is within the target, whatever the residuals say (they can look
 * converged while the plan is off, after rho moved); otherwise, when the residuals converged.
 */
export function stopsAt(settings: { readonly gap?: number }, residualsConverged: boolean, gap: number | undefined): boolean {
  if (settings.gap !== undefined && gap !== undefined && Number.isFinite(gap)) return gap <= settings.gap;
  return residualsConverged;
}
