import type { LocalProblem } from "./local-problem.ts";
import type { GlobalConstraint } from "../../core/problem-spec.ts";

export type Allocations = Readonly<Record<string, Readonly<Record<string, number>>>>;

/** The largest amount by which the fleet's use exceeds a global constraint (0 when all hold). */
export function globalViolation(constraints: readonly GlobalConstraint[], allocations: Allocations): number {
  const totals: Record<string, number> = {};
  for (const x of Object.values(allocations)) for (const [r, value] of Object.entries(x)) totals[r] = (totals[r] ?? 0) + value;
  return Math.max(0, ...constraints.map((c) => constraintUse(c, totals) - c.limit));
}

/** The largest amount by which an allocation leaves its owner's bounds (0 when all hold). */
export function boundViolation(problems: readonly LocalProblem[], allocations: Allocations): number {
  return Math.max(
    0,
    ...problems.flatMap((p) =>
      p.variables.map((v) => {
        const x = allocations[p.owner]?.[v.resource] ?? 0;
        return Math.max(v.lower - x, x - v.upper);
      }),
    ),
  );
}

/** sum over resources of coefficient * fleet total. */
export function constraintUse(constraint: GlobalConstraint, totals: Readonly<Record<string, number>>): number {
  return Object.entries(constraint.coefficients).reduce((sum, [r, a]) => sum + a * (totals[r] ?? 0), 0);
}

/** |value - reference| / max(1, |reference|): relative, yet defined when the optimum is near 0. */
