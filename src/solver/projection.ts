/**
 * Euclidean projection onto the polyhedron { s : G s <= h }: the coordinator's z-update.
 *
 * Solved exactly through its dual, min_{lambda >= 0} 1/2 lambda' M lambda - lambda' r with
 * M = G G' and r = G w - h, by an active-set method in the manner of Lawson and Hanson's NNLS;
 * then s = w - G' lambda. The rows are the global constraints, which are few, so the dense
 * systems are small. Deterministic: fixed loop order, arithmetic only.
 */
export type Rows = { readonly G: readonly (readonly number[])[]; readonly h: readonly number[] };

export function projectOntoPolyhedron(w: readonly number[], { G, h }: Rows): number[] {
  const k = h.length;
  if (k === 0) return w.slice();
  const M = G.map((gi) => G.map((gj) => dot(gi, gj)));
  const r = G.map((gi, i) => dot(gi, w) - h[i]);
  const scale = Math.max(1, ...r.map(Math.abs), ...M.map((row) => Math.max(...row.map(Math.abs))));
  const tolerance = 1e-13 * scale;

  const lambda = new Array<number>(k).fill(0);
  const free = new Array<boolean>(k).fill(false);
  // Each outer pass adds one row; each inner pass drops at least one, so this bound is generous.
  for (let outer = 0; outer < 4 * k + 8; outer++) {
    let enter = -1;
    let steepest = -tolerance;
    for (let i = 0; i < k; i++) {
      const gradient = dot(M[i], lambda) - r[i];
      if (!free[i] && gradient < steepest) [enter, steepest] = [i, gradient];
    }
    if (enter < 0) break; // every row satisfied: lambda is optimal
    free[enter] = true;

    for (let inner = 0; inner <= k; inner++) {
      const active = free.flatMap((isFree, i) => (isFree ? [i] : []));
      const mu = solveSmall(
        active.map((i) => active.map((j) => M[i][j])),
        active.map((i) => r[i]),
      );
      if (mu.every((m) => m > 0)) {
        for (const [a, i] of active.entries()) lambda[i] = mu[a];
        break;
      }
      // Step from lambda toward mu until the first multiplier reaches zero; it leaves the set.
      let alpha = 1;
      active.forEach((i, a) => {
        if (mu[a] <= 0) alpha = Math.min(alpha, lambda[i] / (lambda[i] - mu[a]));
      });
      active.forEach((i, a) => {
        lambda[i] += alpha * (mu[a] - lambda[i]);
        if (lambda[i] <= tolerance) [lambda[i], free[i]] = [0, false];
      });
    }
  }
  return w.map((wj, j) => wj - G.reduce((sum, gi, i) => sum + gi[j] * lambda[i], 0));
}

export function dot(a: readonly number[], b: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

/**
 * Gaussian elimination with partial pivoting. M is positive semidefinite; a vanishing pivot
 * (a row that depends on others) gets a zero multiplier, which the outer loop then re-checks.
 */
function solveSmall(A: readonly (readonly number[])[], b: readonly number[]): number[] {
  const n = b.length;
  const m = A.map((row, i) => [...row, b[i]]);
  const floor = 1e-12 * Math.max(1, ...A.map((row, i) => Math.abs(row[i])));
  for (let col = 0; col < n; col++) {
    let pivotRow = col;
    for (let row = col + 1; row < n; row++) if (Math.abs(m[row][col]) > Math.abs(m[pivotRow][col])) pivotRow = row;
    [m[col], m[pivotRow]] = [m[pivotRow], m[col]];
    if (Math.abs(m[col][col]) <= floor) continue;
    for (let row = col + 1; row < n; row++) {
      const factor = m[row][col] / m[col][col];
      for (let c = col; c <= n; c++) m[row][c] -= factor * m[col][c];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let row = n - 1; row >= 0; row--) {
    if (Math.abs(m[row][row]) <= floor) continue;
    let sum = m[row][n];
    for (let c = row + 1; c < n; c++) sum -= m[row][c] * x[c];
    x[row] = sum / m[row][row];
  }
  return x;
}
