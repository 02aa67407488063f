import { loadHighs } from "../../solver/highs.ts";
import { throughputOn, typeCounts, type ClusterProblem, type TypeAllocation } from "./cluster.ts";
import type { PolicyForm } from "./policy.ts";

/**
 * The allocation LP solved centrally by HiGHS at the type level (Gavel's formulation): the
 * reference every distributed plan is judged against. It pools every job's figures, so it
 * is for validation and benchmarks only.
 */
export type AllocationReference =
  | { readonly status: "optimal"; readonly objective: number; readonly x: TypeAllocation; readonly seconds: number }
  | { readonly status: "infeasible" | "error"; readonly detail: string; readonly seconds: number };

export async function solveAllocationReference(
  problem: ClusterProblem,
  form: PolicyForm,
  clock: () => number = () => performance.now(),
): Promise<AllocationReference> {
  const solver = await loadHighs();
  const model = allocationLp(problem, form);
  const started = clock();
  const result = solver.solve(model.text, { output_flag: false, primal_feasibility_tolerance: 1e-9, dual_feasibility_tolerance: 1e-9 });
  const seconds = (clock() - started) / 1000;
  if (result.Status === "Infeasible") return { status: "infeasible", detail: "HiGHS found no allocation meeting every constraint", seconds };
  if (result.Status !== "Optimal") return { status: "error", detail: `HiGHS ended with status ${result.Status}`, seconds };
  const x = Object.fromEntries(
    problem.jobs.map((job, j) => [
      job.name,
      Object.fromEntries(model.columns[j].map(([type, name]) => [type, Math.max(0, result.Columns[name]?.Primal ?? 0)])),
    ]),
  );
  return { status: "optimal", objective: result.ObjectiveValue, x, seconds };
}

/** The LP in CPLEX LP text, and which column is X[job][type]. */
export function allocationLp(problem: ClusterProblem, form: PolicyForm): { text: string; columns: (readonly [string, string])[][] } {
  const counts = typeCounts(problem.nodes);
  const columns = problem.jobs.map((job, j) => [...counts.keys()].filter((t) => throughputOn(job, t) > 0).map((t, k) => [t, `x_${j}_${k}`] as const));
  const objective: string[] = [];
  const rows: string[] = [];
  problem.jobs.forEach((job, j) => {
    for (const [type, name] of columns[j]) {
      const gain = form.gain[j]?.[type] ?? 0;
      if (gain !== 0) objective.push(term(gain, name));
    }
    if (columns[j].length > 0) rows.push(` row_${j}: ${columns[j].map(([, name]) => term(1, name)).join(" ")} <= 1`);
    const thr = columns[j].map(([type, name]) => term(throughputOn(job, type), name));
    if (form.demand !== undefined) rows.push(` fair_${j}: ${[...thr, term(-form.demand[j], "tau")].join(" ")} >= 0`);
    if (form.floor[j] > 0) rows.push(` floor_${j}: ${thr.length > 0 ? thr.join(" ") : "0 x_0_0"} >= ${num(form.floor[j])}`);
  });
  if (form.demand !== undefined) objective.push(term(1, "tau"));
  [...counts].forEach(([type, count], t) => {
    const terms = problem.jobs.flatMap((job, j) => columns[j].filter(([ty]) => ty === type).map(([, name]) => term(job.scale, name)));
    if (terms.length > 0) rows.push(` cap_${t}: ${terms.join(" ")} <= ${num(count)}`);
  });
  Object.entries(problem.quotas ?? {}).forEach(([tenant, quota], q) => {
    const terms = problem.jobs.flatMap((job, j) => (job.tenant === tenant ? columns[j].map(([, name]) => term(job.scale, name)) : []));
    if (terms.length > 0) rows.push(` quota_${q}: ${terms.join(" ")} <= ${num(quota)}`);
  });
  const text = [
    "Maximize",
    ` obj: ${objective.length > 0 ? objective.join(" ") : "0 x_0_0"}`,
    "Subject To",
    ...(rows.length > 0 ? rows : [" none: 0 x_0_0 <= 0"]),
    ...(form.demand !== undefined ? ["Bounds", " tau free"] : []),
    "End",
  ].join("\n");
  return { text, columns };
}

function term(coefficient: number, name: string): string {
  return `${coefficient < 0 ? "-" : "+"} ${num(Math.abs(coefficient))} ${name}`;
}

function num(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toPrecision(17);
}
