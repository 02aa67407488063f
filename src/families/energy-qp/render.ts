import type { ProblemSpec } from "./schemas.ts";
import { constraintUse, type Allocations } from "./violation.ts";

const fixed = (n: number, digits = 1): string => n.toFixed(digits);

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
    ...spec.agents.map((a) =>
      row(
        a,
        resources.map((r) => (allocations[a]?.[r] === undefined ? "-" : fixed(allocations[a][r]))),
      ),
    ),
    row(
      "total",
      resources.map((r) => fixed(totals[r] ?? 0)),
    ),
    "",
    "global constraints",
  ];
  const barWidth = 30;
  for (const c of spec.constraints) {
    const use = constraintUse(c, totals);
    const share = c.limit > 0 ? Math.min(1, Math.max(0, use / c.limit)) : 0;
    const filled = Math.round(share * barWidth);
    lines.push(
      `  ${c.name.padEnd(24)} ${fixed(use).padStart(10)} / ${String(c.limit).padEnd(8)} ${"#".repeat(filled)}${".".repeat(barWidth - filled)} ${(share * 100).toFixed(1)}%`,
    );
  }
  return lines;
}
