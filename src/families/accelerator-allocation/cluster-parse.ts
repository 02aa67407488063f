import { tokenField } from "../../core/scenario-fields.ts";
import * as v from "../../core/validate.ts";
import { POLICIES, typeCounts, type ClusterJob, type ClusterNode, type ClusterProblem } from "./cluster.ts";

/**
 * A ClusterProblem from untyped fields: a scenario file's and the cluster-open/1 event's body
 * share this parser, so a plan is checked against exactly what the scenario could say. Every
 * error is a ValidationError naming the field's path below `at`.
 */
export function parseCluster(fields: Readonly<Record<string, unknown>>, at: string): ClusterProblem {
  const nodes = bounded(v.array(fields.nodes, `${at}.nodes`), `${at}.nodes`, MAX_NODES, "nodes").map((item, i): ClusterNode => {
    const where = `${at}.nodes[${i}]`;
    const n = v.record(item, where);
    return { name: tokenField(n.name, `${where}.name`), type: v.string(n.type, `${where}.type`), count: v.integer(n.count, `${where}.count`, 1) };
  });
  if (nodes.length === 0) fail(`${at}.nodes`, "list at least one node");
  unique(
    nodes.map((n) => n.name),
    `${at}.nodes`,
    "node",
  );
  const types = typeCounts(nodes);

  const jobs = bounded(v.array(fields.jobs, `${at}.jobs`), `${at}.jobs`, MAX_JOBS, "jobs").map((item, i): ClusterJob => {
    const where = `${at}.jobs[${i}]`;
    const job = parseJob(item, where);
    for (const type of Object.keys(job.throughput))
      if (!types.has(type)) fail(`${where}.throughput.${type}`, `no node has accelerator type "${type}" (types: ${[...types.keys()].join(", ")})`);
    return job;
  });
  if (jobs.length === 0) fail(`${at}.jobs`, "list at least one job");
  unique(
    jobs.map((j) => j.name),
    `${at}.jobs`,
    "job",
  );

  const policy = v.oneOf(fields.policy, POLICIES, `${at}.policy`);
  if (policy === "makespan")
    for (const [i, job] of jobs.entries()) if (job.steps === undefined) fail(`${at}.jobs[${i}].steps`, "the makespan policy needs every job's steps left");
  const prices = fields.prices === undefined ? undefined : v.numberMap(fields.prices, `${at}.prices`);
  if (policy === "cost") {
    for (const type of types.keys()) if (!((prices?.[type] ?? 0) > 0)) fail(`${at}.prices.${type}`, "the cost policy needs a price > 0 for every type");
  }
  const quotas = fields.quotas === undefined ? undefined : v.numberMap(fields.quotas, `${at}.quotas`);
  for (const [tenant, quota] of Object.entries(quotas ?? {})) {
    if (!jobs.some((j) => j.tenant === tenant)) fail(`${at}.quotas.${tenant}`, "no job belongs to this tenant");
    if (quota < 0) fail(`${at}.quotas.${tenant}`, `must be >= 0, got ${quota}`);
  }
  const agnostic = fields.heterogeneityAgnostic;
  if (agnostic !== undefined && typeof agnostic !== "boolean") fail(`${at}.heterogeneityAgnostic`, "expected true or false");
  return {
    nodes,
    jobs,
    policy,
    ...(prices === undefined ? {} : { prices }),
    ...(quotas === undefined ? {} : { quotas }),
    ...(agnostic === true ? { heterogeneityAgnostic: true } : {}),
  };
}

/** One job, its fields bounded; whether the cluster has its throughputs' types is the cluster's check (parseCluster). */
export function parseJob(item: unknown, where: string): ClusterJob {
  const j = v.record(item, where);
  const throughput = v.numberMap(j.throughput, `${where}.throughput`);
  for (const [type, t] of Object.entries(throughput)) {
    if (t < 0) fail(`${where}.throughput.${type}`, `must be >= 0, got ${t}`);
    if (t > 0 && t < MIN_THROUGHPUT)
      fail(`${where}.throughput.${type}`, `${t} steps/s is below ${MIN_THROUGHPUT.toExponential()}: give 0 for a type the job cannot run on`);
    if (t > MAX_THROUGHPUT) fail(`${where}.throughput.${type}`, `${t} steps/s is beyond ${MAX_THROUGHPUT}: rescale the units`);
  }
  if (!Object.values(throughput).some((t) => t > 0)) fail(`${where}.throughput`, "the job can run on no type (every throughput is 0)");
  const optional = (key: string) => (j[key] === undefined ? {} : { [key]: v.positive(j[key], `${where}.${key}`) });
  return {
    name: tokenField(j.name, `${where}.name`),
    tenant: tokenField(j.tenant, `${where}.tenant`),
    scale: v.integer(j.scale ?? 1, `${where}.scale`, 1),
    throughput,
    ...optional("weight"),
    ...optional("steps"),
    ...optional("slo"),
  };
}

function unique(names: readonly string[], at: string, what: string): void {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) fail(at, `${what} "${name}" appears twice`);
    seen.add(name);
  }
}

/** A cluster holds at most this many nodes and jobs: bounds read before anything else, since changes may add jobs while a problem runs. */
export const MAX_NODES = 10_000;
export const MAX_JOBS = 100_000;

/** The least positive throughput, steps/s (one step in about 12 days): below it a demand or a max-min unit rounds to nothing. */
const MIN_THROUGHPUT = 1e-6;
const MAX_THROUGHPUT = 1e9;

function bounded(items: readonly unknown[], at: string, max: number, what: string): readonly unknown[] {
  if (items.length > max) fail(at, `at most ${max} ${what}, got ${items.length}`);
  return items;
}

function fail(at: string, message: string): never {
  throw new v.ValidationError(at, message);
}
