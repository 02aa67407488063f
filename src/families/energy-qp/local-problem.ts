import { ValidationError } from "../../core/validate.ts";

/**
 * The Object of DESIGN.md: one owner's private problem, as an adapter (functor) produces it.
 *
 *   minimize   constant + sum_j ( quadratic_j / 2 * x_j^2 + linear_j * x_j )
 *   subject to lower_j <= x_j <= upper_j
 *
 * Each variable is the owner's use of one shared resource (at most one variable per
 * resource), which keeps the local ADMM step exact and closed-form.
 */
export type LocalVariable = {
  readonly resource: string;
  readonly lower: number;
  readonly upper: number;
  /** >= 0: the objective is convex. */
  readonly quadratic: number;
  readonly linear: number;
};

export type LocalProblem = {
  /** The agent that owns and solves this problem. */
  readonly owner: string;
  readonly variables: readonly LocalVariable[];
  readonly constant: number;
};

/** The value of the owner's objective at x (keyed by resource). */
export function localObjective(problem: LocalProblem, x: Readonly<Record<string, number>>): number {
  let value = problem.constant;
  for (const v of problem.variables) {
    const xj = x[v.resource] ?? 0;
    value += 0.5 * v.quadratic * xj * xj + v.linear * xj;
  }
  return value;
}

/** Checks the invariants the solver relies on; `path` names where the problem came from. */
export function checkLocalProblem(problem: LocalProblem, path: string): LocalProblem {
  const seen = new Set<string>();
  problem.variables.forEach((v, j) => {
    const at = `${path}.variables[${j}] (${v.resource})`;
    if (seen.has(v.resource)) throw new ValidationError(at, "a resource may appear only once per problem");
    seen.add(v.resource);
    for (const [name, n] of [
      ["lower", v.lower],
      ["upper", v.upper],
      ["quadratic", v.quadratic],
      ["linear", v.linear],
    ] as const) {
      if (!Number.isFinite(n)) throw new ValidationError(`${at}.${name}`, `expected a finite number, got ${n}`);
    }
    if (v.lower > v.upper) throw new ValidationError(at, `lower bound ${v.lower} exceeds upper bound ${v.upper}`);
    if (v.quadratic < 0) throw new ValidationError(`${at}.quadratic`, `must be >= 0 for a convex objective, got ${v.quadratic}`);
  });
  if (!Number.isFinite(problem.constant)) throw new ValidationError(`${path}.constant`, "expected a finite number");
  return problem;
}
