import { effectiveThroughput, equalSplit, typeCounts, type ClusterProblem, type TypeAllocation } from "./cluster.ts";

/**
 * The plan as a person reads it: per tenant, each job's time on each type as a stacked bar
 * (one shade per type), its effective throughput, and what the policy cares about (its share of
 * the equal split, or its SLO floor). A tenant with more than `perTenant` jobs shows its first
 * ones and how many more there are: thousands of bars help nobody.
 */
const SHADES = ["█", "▓", "▒", "░", "#", "=", "+", "-"];

export function allocationPicture(problem: ClusterProblem, x: TypeAllocation, width = 30, perTenant = 10): string[] {
  const counts = typeCounts(problem.nodes);
  const types = [...counts.keys()];
  const shade = (t: string) => SHADES[types.indexOf(t) % SHADES.length];
  const split = equalSplit(problem);
  const nameWidth = Math.max(...problem.jobs.map((j) => j.name.length));
  const lines = [`time on each type per job (${types.map((t) => `${shade(t)} ${t}`).join("  ")}; bar = 100% of the job's time)`];
  const tenants = [...new Set(problem.jobs.map((j) => j.tenant))];
  for (const tenant of tenants) {
    const jobs = problem.jobs.filter((j) => j.tenant === tenant);
    lines.push(`tenant ${tenant}${jobs.length > perTenant ? ` (first ${perTenant} of ${jobs.length} jobs)` : ""}`);
    for (const job of jobs.slice(0, perTenant)) {
      const row = x[job.name] ?? {};
      let bar = "";
      for (const t of types) bar += shade(t).repeat(Math.round((row[t] ?? 0) * width));
      bar = bar.slice(0, width).padEnd(width, "·");
      const thr = effectiveThroughput(job, row);
      const equal = effectiveThroughput(job, split[job.name]);
      const measure =
        problem.policy === "cost" && job.slo !== undefined
          ? `slo ${job.slo} ${thr >= job.slo - 1e-6 ? "met" : "MISSED"}`
          : `${(thr / equal).toFixed(2)}x equal split`;
      lines.push(`  ${job.name.padEnd(nameWidth)} x${String(job.scale).padEnd(2)} ${bar} ${thr.toFixed(3).padStart(9)} steps/s  ${measure}`);
    }
  }
  const used = types.map((t) => {
    const busy = problem.jobs.reduce((sum, job) => sum + job.scale * (x[job.name]?.[t] ?? 0), 0);
    return `${t} ${busy.toFixed(2)}/${counts.get(t)}`;
  });
  lines.push(`accelerators in use: ${used.join(", ")}`);
  return lines;
}
