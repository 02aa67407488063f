/**
 * The separable QP behind both halves of the allocation ADMM:
 *
 *   minimize  sum_j q_j / 2 * y_j^2 - p_j * y_j
 *   s.t.      0 <= y_j <= upper_j,   sum_j a_j * y_j <= limit        (q_j > 0, a_j > 0)
 *
 * A node agent's local step (its capacity is the row) and the coordinator's projection onto
 * a tenant's quota both have this form. KKT: y_j(lambda) = clip((p_j - lambda a_j) / q_j),
 * and sum a_j y_j(lambda) is piecewise linear and nonincreasing in lambda, so lambda is found
 * exactly: binary search over the sorted breakpoints, then the line between the two around
 * the crossing. O(J log J), deterministic. Writes y into `out`.
 */
export function solveKnapsack(
  p: Float64Array,
  q: Float64Array,
  upper: Float64Array,
  a: Float64Array,
  limit: number,
  out: Float64Array,
): number {
  const count = p.length;
  const load = (lambda: number): number => {
    let sum = 0;
    for (let j = 0; j < count; j++) {
      const y = (p[j] - lambda * a[j]) / q[j];
      sum += a[j] * (y <= 0 ? 0 : y >= upper[j] ? upper[j] : y);
    }
    return sum;
  };
  let lambda = 0;
  if (load(0) > limit) {
    const breaks: number[] = [];
    for (let j = 0; j < count; j++) {
      const leaveUpper = (p[j] - q[j] * upper[j]) / a[j];
      const reachZero = p[j] / a[j];
      if (leaveUpper > 0) breaks.push(leaveUpper);
      if (reachZero > 0) breaks.push(reachZero);
    }
    breaks.sort((x, y) => x - y);
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
    lambda = loadLeft === loadRight ? right : left + ((loadLeft - limit) * (right - left)) / (loadLeft - loadRight);
  }
  for (let j = 0; j < count; j++) {
    const y = (p[j] - lambda * a[j]) / q[j];
    out[j] = y <= 0 ? 0 : y >= upper[j] ? upper[j] : y;
  }
  return lambda;
}
