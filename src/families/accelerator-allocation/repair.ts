import type { ClusterProblem, TypeAllocation } from "./cluster.ts";
import type { NodeProblem } from "./decompose.ts";

/**
 * From the node agents' accelerator-time y to the plan users get, X[job][type], made feasible.
 * ADMM meets the coupling only to its tolerance; a plan handed out must not overbook. Node
 * capacities hold exactly already (each agent's step keeps its own), so only the coupling is
 * repaired: a job whose row exceeds 1 and a tenant over its quota are scaled down, which never
 * raises any other row. The result violates no capacity, row or quota by more than rounding.
 */
export function planFromNodes(problem: ClusterProblem, nodes: readonly NodeProblem[], y: readonly ArrayLike<number>[]): TypeAllocation {
  const x: Record<string, number>[] = problem.jobs.map(() => ({}));
  for (const [n, node] of nodes.entries()) {
    for (const [k, c] of node.columns.entries()) {
      const share = y[n][k] / problem.jobs[c.job].scale;
      if (share > 0) x[c.job][node.type] = (x[c.job][node.type] ?? 0) + share;
    }
  }
  for (const row of x) {
    const sum = Object.values(row).reduce((a, b) => a + b, 0);
    if (sum > 1) for (const type of Object.keys(row)) row[type] /= sum;
  }
  for (const [tenant, quota] of Object.entries(problem.quotas ?? {})) {
    const members = problem.jobs.flatMap((job, j) => (job.tenant === tenant ? [j] : []));
    const used = members.reduce((sum, j) => sum + problem.jobs[j].scale * Object.values(x[j]).reduce((a, b) => a + b, 0), 0);
    if (used > quota) for (const j of members) for (const type of Object.keys(x[j])) x[j][type] *= quota / used;
  }
  return Object.fromEntries(problem.jobs.map((job, j) => [job.name, x[j]]));
}

/** The largest amount by which a plan breaks a capacity, a job row or a quota (0: feasible). */
export function planViolation(problem: ClusterProblem, x: TypeAllocation): number {
  let worst = 0;
  const perType = new Map<string, number>();
  const perTenant = new Map<string, number>();
  for (const job of problem.jobs) {
    let row = 0;
    for (const [type, share] of Object.entries(x[job.name] ?? {})) {
      worst = Math.max(worst, -share);
      row += share;
      perType.set(type, (perType.get(type) ?? 0) + job.scale * share);
      perTenant.set(job.tenant, (perTenant.get(job.tenant) ?? 0) + job.scale * share);
    }
    worst = Math.max(worst, row - 1);
  }
  const capacity = new Map<string, number>();
  for (const node of problem.nodes) capacity.set(node.type, (capacity.get(node.type) ?? 0) + node.count);
  for (const [type, used] of perType) worst = Math.max(worst, used - (capacity.get(type) ?? 0));
  for (const [tenant, quota] of Object.entries(problem.quotas ?? {})) worst = Math.max(worst, (perTenant.get(tenant) ?? 0) - quota);
  return worst;
}
