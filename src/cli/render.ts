import type { ProblemSpec } from "../core/problem-spec.ts";
import type { AnyProblemState } from "../replay/reducer.ts";
import type { Outcome } from "../replay/summary.ts";
import { constraintUse, type Allocations } from "../families/energy-qp/violation.ts";
import type { LedgerOutcome } from "../run/run-scenario.ts";

/** Text pictures for people: progress per round, the convergence of residuals, the plan. */
export const sci = (n: number | null): string => (n === null ? "n/a" : n === 0 ? "0" : n.toExponential(2));
const fixed = (n: number, digits = 1): string => n.toFixed(digits);

export function progressLine(problem: AnyProblemState): string {
  const r = problem.residuals;
  return `round ${String(problem.round).padStart(4)}  primal ${sci(r.primal)} (eps ${sci(r.epsPrimal)})  dual ${sci(r.dual)} (eps ${sci(r.epsDual)})  rho ${problem.admm.rho}`;
}

/** Which rounds to print when the output is not a terminal: the first few, then every 10th. */
export const worthPrinting = (round: number): boolean => round <= 3 || round % 10 === 0;

/**
 * Primal (p) and dual (d) residuals per round on a log scale: one column per group of rounds,
 * '*' where both fall in the same cell.
 */
export function convergenceChart(history: AnyProblemState["history"], width = 60, height = 12): string[] {
  const points = history.flatMap(([round, primal, dual]) => [
    { round, value: primal, mark: "p" },
    { round, value: dual, mark: "d" },
  ]).filter((p) => p.value > 0);
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

/** The plan per agent and resource, the fleet totals, and each global constraint's use. */
export function planTable(spec: ProblemSpec, allocations: Allocations, units: string): string[] {
  const resources = spec.resources;
  const nameWidth = Math.max(8, ...Object.keys(allocations).map((a) => a.length));
  const cellWidth = Math.max(8, ...resources.map((r) => r.length + 1));
  const row = (name: string, cells: readonly string[]): string => `  ${name.padEnd(nameWidth)}${cells.map((c) => c.padStart(cellWidth)).join("")}`;
  const totals: Record<string, number> = {};
  for (const x of Object.values(allocations)) for (const [r, v] of Object.entries(x)) totals[r] = (totals[r] ?? 0) + v;
  const lines = [
    `plan${units ? ` (${units})` : ""}`,
    row("", resources),
    ...spec.agents.map((a) => row(a, resources.map((r) => (allocations[a]?.[r] === undefined ? "-" : fixed(allocations[a][r]))))),
    row("total", resources.map((r) => fixed(totals[r] ?? 0))),
    "",
    "global constraints",
  ];
  const barWidth = 30;
  for (const c of spec.constraints) {
    const use = constraintUse(c, totals);
    const share = c.limit > 0 ? Math.min(1, Math.max(0, use / c.limit)) : 0;
    const filled = Math.round(share * barWidth);
    lines.push(`  ${c.name.padEnd(24)} ${fixed(use).padStart(10)} / ${String(c.limit).padEnd(8)} ${"#".repeat(filled)}${".".repeat(barWidth - filled)} ${(share * 100).toFixed(1)}%`);
  }
  return lines;
}

export function outcomeLines(o: Outcome & { wall_ms?: number; replay_state_hash?: string; ledger?: LedgerOutcome | null }): string[] {
  const verdict = o.converged ? `converged in ${o.rounds} rounds` : `${o.status} after ${o.rounds} rounds`;
  return [
    `${o.tenant}/${o.problem}${o.scenario ? ` (scenario ${o.scenario})` : ""}: ${verdict}${o.wall_ms === undefined ? "" : ` in ${(o.wall_ms / 1000).toFixed(2)} s`}`,
    `  objective            ${o.objective === null ? "n/a" : o.objective.toFixed(6)}`,
    `  HiGHS reference      ${o.reference_objective === null ? "n/a (not in the stream)" : o.reference_objective.toFixed(6)}`,
    `  relative gap         ${sci(o.gap)}`,
    `  max violation        ${sci(o.max_violation)}`,
    `  residuals            primal ${sci(o.primal_residual)}, dual ${sci(o.dual_residual)}`,
    `  events               ${o.events}${o.rejected > 0 ? ` (${o.rejected} rejected)` : ""}`,
    `  state hash           ${o.state_hash}`,
    ...(o.replay_state_hash === undefined ? [] : [`  replayed stream      ${o.replay_state_hash === o.state_hash ? "same hash" : `DIFFERENT hash ${o.replay_state_hash}`}`]),
    ...(o.ledger == null
      ? []
      : [
          `  ledger               ${o.ledger.size} entries, root ${o.ledger.root}`,
          `                       ${o.ledger.checkpoints} signed checkpoint(s), ${o.ledger.quarantined} quarantined, ${o.ledger.verified ? "verified" : `NOT VERIFIED: ${o.ledger.problem}`}`,
        ]),
  ];
}
