import type { FamilyProblem } from "./family.ts";

/** Text pictures any family's run prints: numbers in short form, the convergence of residuals. */
export const sci = (n: number | null): string => (n === null ? "n/a" : n === 0 ? "0" : n.toExponential(2));

/**
 * Primal (p) and dual (d) residuals per round on a log scale: one column per group of rounds,
 * '*' where both fall in the same cell.
 */
export function convergenceChart(history: FamilyProblem["history"], width = 60, height = 12): string[] {
  const points = history
    .flatMap(([round, primal, dual]) => [
      { round, value: primal, mark: "p" },
      { round, value: dual, mark: "d" },
    ])
    .filter((p) => p.value > 0);
  if (points.length === 0) return [];
  const logs = points.map((p) => Math.log10(p.value));
  const top = Math.ceil(Math.max(...logs));
  const bottom = Math.floor(Math.min(...logs));
  const span = Math.max(1, top - bottom);
  const lastRound = history[history.length - 1][0];
  const columns = Math.min(width, lastRound);
  const grid = Array.from({ length: height }, () => new Array<string>(columns).fill(" "));
  points.forEach((p, i) => {
    const col = Math.min(columns - 1, Math.floor(((p.round - 1) / lastRound) * columns));
    const row = Math.min(height - 1, Math.round(((top - logs[i]) / span) * (height - 1)));
    const cell = grid[row][col];
    grid[row][col] = cell === " " || cell === p.mark ? p.mark : "*";
  });
  const label = (row: number): string => `1e${Math.round(top - (row / (height - 1)) * span)}`.padStart(6);
  return [
    "residuals (log scale; p = primal, d = dual)",
    ...grid.map((cells, row) => `${row % 3 === 0 || row === height - 1 ? label(row) : "      "} |${cells.join("")}`),
    `       +${"-".repeat(columns)}`,
    `        round 1${`round ${lastRound}`.padStart(Math.max(0, columns - 7))}`,
  ];
}
