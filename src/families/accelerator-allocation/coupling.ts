import type { FleetTotalUpdate } from "../../solver/admm.ts";
import type { Coupling } from "./decompose.ts";
import { solveKnapsack } from "./knapsack.ts";

/**
 * The coordinator's half for the allocation LP: the fleet totals S of the shared resources,
 *
 *   S = argmin  -maxMin * t  +  rho / (2 N) * ||S - w||^2
 *       s.t.    0 <= time_j <= 1,  sum_{j of tenant} scale_j time_j <= quota,
 *               thr_k >= floor_k,  thr_k >= t           (the last only for max-min)
 *
 * Time and throughput resources separate. Time: a clip, or per tenant with a quota the same
 * knapsack as the agents'. Throughput: for a given t, thr_k = max(w_k, floor_k, t); the best t
 * solves sum over {k : t > max(w_k, floor_k)} of (t - w_k) = maxMin / weight, found exactly.
 */
export function couplingUpdate(coupling: Coupling): FleetTotalUpdate {
  const inQuota = new Set(coupling.quotas.flatMap((q) => q.jobs));
  const quotaWork = coupling.quotas.map((q) => ({
    quota: q,
    p: new Float64Array(q.jobs.length),
    q: new Float64Array(q.jobs.length).fill(1),
    upper: new Float64Array(q.jobs.length).fill(1),
    a: Float64Array.from(q.weights),
    out: new Float64Array(q.jobs.length),
  }));
  return (w, weight) => {
    const s = w.slice();
    for (let j = 0; j < coupling.jobs; j++) if (!inQuota.has(j)) s[j] = Math.min(1, Math.max(0, w[j]));
    for (const work of quotaWork) {
      for (const [k, j] of work.quota.jobs.entries()) work.p[k] = w[j];
      solveKnapsack(work.p, work.q, work.upper, work.a, work.quota.limit, work.out);
      for (const [k, j] of work.quota.jobs.entries()) s[j] = work.out[k];
    }
    const first = coupling.jobs;
    const floored = coupling.thrFloor.map((floor, k) => Math.max(w[first + k], floor));
    const t = coupling.maxMin > 0 ? waterLevel(floored, w.slice(first), coupling.maxMin / weight) : -Infinity;
    for (const [k, value] of floored.entries()) s[first + k] = Math.max(value, t);
    return s;
  };
}

/**
 * The t with sum over {k : t > above_k} of (t - from_k) = volume (volume > 0, from_k <= above_k):
 * where the prox's derivative in t crosses zero. Each k joins the sum once t passes above_k,
 * with a jump of above_k - from_k, so the crossing may sit on a kink: then t = above_k.
 */
export function waterLevel(above: readonly number[], from: readonly number[], volume: number): number {
  const order = above.map((_, k) => k).sort((a, b) => above[a] - above[b]);
  let sum = 0;
  for (let i = 0; i < order.length; i++) {
    const kink = above[order[i]];
    sum += from[order[i]];
    if ((i + 1) * kink - sum >= volume) return kink; // the jump at this kink already passes the volume
    const level = (volume + sum) / (i + 1); // t if exactly the first i+1 are raised
    if (i + 1 === order.length || level <= above[order[i + 1]]) return level;
  }
  return volume; // no resources: unreachable for a max-min coupling
}
