import { loadHighs } from "../../solver/highs.ts";
import type { LocalProblem } from "./local-problem.ts";
import type { GlobalConstraint } from "../../core/problem-spec.ts";

/**
 * The centralized reference: every local problem and the global constraints as one convex QP,
 * solved by HiGHS (WebAssembly). This pools the data the distributed run keeps apart, so it is
 * for validation only: the distributed plan is judged by its gap to this optimum.
 */
export type ReferenceResult =
  | {
      readonly status: "optimal";
      readonly objective: number;
      readonly allocations: Readonly<Record<string, Readonly<Record<string, number>>>>;
    }
  | { readonly status: "infeasible" | "unbounded" | "error"; readonly detail: string };

export async function solveReference(problems: readonly LocalProblem[], constraints: readonly GlobalConstraint[]): Promise<ReferenceResult> {
  const solver = await loadHighs();
  const names = problems.map((p, i) => p.variables.map((_, j) => `x_${i}_${j}`));
  const linear: string[] = [];
  const quadratic: string[] = [];
  const bounds: string[] = [];
  for (const [i, p] of problems.entries()) {
    for (const [j, v] of p.variables.entries()) {
      const name = names[i][j];
      if (v.linear !== 0) linear.push(term(v.linear, name));
      if (v.quadratic !== 0) quadratic.push(term(v.quadratic, `${name}^2`));
      bounds.push(`${num(v.lower)} <= ${name} <= ${num(v.upper)}`);
    }
  }
  const rows: string[] = [];
  for (const [k, c] of constraints.entries()) {
    const terms = problems.flatMap((p, i) =>
      p.variables.flatMap((v, j) => {
        const coefficient = c.coefficients[v.resource] ?? 0;
        return coefficient === 0 ? [] : [term(coefficient, names[i][j])];
      }),
    );
    if (terms.length === 0) {
      if (c.limit < 0) return { status: "infeasible", detail: `constraint ${c.name} reads 0 <= ${c.limit}` };
      continue;
    }
    rows.push(` r${k}: ${terms.join(" ")} <= ${num(c.limit)}`);
  }
  const objective = [...linear, ...(quadratic.length > 0 ? [`+ [ ${quadratic.join(" ")} ] / 2`] : [])];
  const model = [
    "Minimize",
    ` obj: ${objective.length > 0 ? objective.join(" ") : "0 x_0_0"}`,
    "Subject To",
    ...(rows.length > 0 ? rows : [" r_none: 0 x_0_0 <= 0"]),
    "Bounds",
    ...bounds.map((b) => ` ${b}`),
    "End",
  ].join("\n");

  const result = solver.solve(model, { output_flag: false, primal_feasibility_tolerance: 1e-9, dual_feasibility_tolerance: 1e-9 });
  if (result.Status === "Infeasible") return { status: "infeasible", detail: "HiGHS found no point meeting every bound and constraint" };
  if (result.Status === "Unbounded") return { status: "unbounded", detail: "HiGHS found the objective unbounded" };
  if (result.Status !== "Optimal") return { status: "error", detail: `HiGHS ended with status ${result.Status}` };
  const constant = problems.reduce((sum, p) => sum + p.constant, 0);
  const allocations = Object.fromEntries(
    problems.map((p, i) => [p.owner, Object.fromEntries(p.variables.map((v, j) => [v.resource, result.Columns[names[i][j]]?.Primal ?? 0]))]),
  );
  return { status: "optimal", objective: result.ObjectiveValue + constant, allocations };
}

function term(coefficient: number, name: string): string {
  return `${coefficient < 0 ? "-" : "+"} ${num(Math.abs(coefficient))} ${name}`;
}

/** LP text wants plain decimals; toPrecision(17) keeps every bit of a double. */
function num(n: number): string {
  if (n === Infinity) return "+inf";
  if (n === -Infinity) return "-inf";
  return Number.isInteger(n) ? String(n) : n.toPrecision(17);
}
