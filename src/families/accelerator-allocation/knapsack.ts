/**
 * The separable QP behind both halves of the allocation ADMM:
 *
 *   minimize  sum_j q_j / 2 * y_j^2 - p_j * y_j
 *   s.t.      0 <= y_j <= upper_j,   sum_j a_j * y_j <= limit        (q_j > 0, a_j > 0)
 *
 * A node agent's local step (its capacity is the row) and the coordinator's projection onto
 * a tenant's quota both have this form. KKT: y_j(lambda) = clip((p_j - lambda a_j) / q_j),
 * and sum a_j y_j(lambda) is piecewise linear and nonincreasing in lambda, so lambda is found
 * exactly: Newton from `guess` over its pieces, or, where that does not settle, a binary
 * search over the sorted breakpoints (O(J log J)). Deterministic. Writes y into `out`.
 */
export function solveKnapsack(p: Float64Array, q: Float64Array, upper: Float64Array, a: Float64Array, limit: number, out: Float64Array, guess = 0): number {
  const count = p.length;
  const lambda = loadAt(p, q, upper, a, 0).load <= limit ? 0 : (newtonRoot(p, q, upper, a, limit, guess) ?? sortedRoot(p, q, upper, a, limit));
  for (let j = 0; j < count; j++) {
    const y = (p[j] - lambda * a[j]) / q[j];
    out[j] = y <= 0 ? 0 : y >= upper[j] ? upper[j] : y;
  }
  return lambda;
}

/**
 * The load at lambda, and the line through it on the current piece: load = fixed - lambda * free,
 * where free sums a^2 / q over the columns strictly between their bounds.
 */
function loadAt(p: Float64Array, q: Float64Array, upper: Float64Array, a: Float64Array, lambda: number): { load: number; fixed: number; free: number } {
  let load = 0;
  let fixed = 0;
  let free = 0;
  for (let j = 0; j < p.length; j++) {
    const y = (p[j] - lambda * a[j]) / q[j];
    if (y <= 0) continue;
    if (y >= upper[j]) {
      load += a[j] * upper[j];
      fixed += a[j] * upper[j];
    } else {
      load += a[j] * y;
      fixed += (a[j] * p[j]) / q[j];
      free += (a[j] * a[j]) / q[j];
    }
  }
  return { load, fixed, free };
}

/**
 * Newton on the piecewise-linear load, from `guess` (the previous round's lambda, which ADMM
 * moves little): each step solves the current piece's line exactly, so it stops, usually after
 * two or three O(J) passes instead of a sort, when the piece holds its own root. The root is
 * then computed from the active set alone, wherever the search started. Undefined when a step
 * leaves the bracket or stalls: the sorted search decides those.
 */
function newtonRoot(p: Float64Array, q: Float64Array, upper: Float64Array, a: Float64Array, limit: number, guess: number): number | undefined {
  let lo = 0; // load(lo) > limit
  let hi = Infinity; // load(hi) <= limit
  let lambda = guess > 0 ? guess : 0;
  for (let step = 0; step < 16; step++) {
    const { load, fixed, free } = loadAt(p, q, upper, a, lambda);
    if (load === limit) return lambda;
    if (load > limit) lo = lambda;
    else hi = lambda;
    if (free === 0) return undefined;
    const next = (fixed - limit) / free;
    if (next === lambda) return lambda;
    if (!(next > lo && next < hi)) return undefined;
    lambda = next;
  }
  return undefined;
}

/** Exact in every case: binary search over the sorted breakpoints, then the line between the two around the crossing. */
function sortedRoot(p: Float64Array, q: Float64Array, upper: Float64Array, a: Float64Array, limit: number): number {
  const count = p.length;
  const load = (lambda: number): number => loadAt(p, q, upper, a, lambda).load;
  // A typed array sorts numerically in native code, several times faster than a comparator.
  const all = new Float64Array(2 * count);
  let found = 0;
  for (let j = 0; j < count; j++) {
    const leaveUpper = (p[j] - q[j] * upper[j]) / a[j];
    const reachZero = p[j] / a[j];
    if (leaveUpper > 0) all[found++] = leaveUpper;
    if (reachZero > 0) all[found++] = reachZero;
  }
  const breaks = all.subarray(0, found).sort();
  // load(0) > limit and load(max break) = 0 <= limit: find the first break with load <= limit.
  let lo = -1; // load(breaks[lo]) > limit (lo = -1 stands for lambda = 0)
  let hi = breaks.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (load(breaks[mid]) > limit) lo = mid;
    else hi = mid;
  }
  const left = lo < 0 ? 0 : breaks[lo];
  const right = breaks[hi];
  const loadLeft = load(left);
  const loadRight = load(right);
  return loadLeft === loadRight ? right : left + ((loadLeft - limit) * (right - left)) / (loadLeft - loadRight);
}
