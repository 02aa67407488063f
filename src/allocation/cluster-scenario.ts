import { scenarioParse, tokenField } from "../core/scenario.ts";
import * as v from "../core/validate.ts";
import { POLICIES, typeCounts, type ClusterJob, type ClusterNode, type ClusterProblem } from "./cluster.ts";

/**
 * A cluster scenario file, format "catopt-cluster/1" (see scenarios/gavel-small/scenario.json):
 * the nodes, the jobs with their per-type throughputs, the policy and the limits that apply.
 * Every error names the field's path.
 */
export type ClusterScenario = {
  readonly name: string;
  readonly description: string;
  /** The platform tenant that runs the coordinator; jobs' tenants get their own plan topics. */
  readonly tenant: string;
  readonly problem: string;
  readonly cluster: ClusterProblem;
  readonly source: string;
};

export const CLUSTER_FORMAT = "catopt-cluster/1";

export function parseClusterScenario(json: unknown, source: string): ClusterScenario {
  return scenarioParse(source, () => parse(json, source));
}

function parse(json: unknown, source: string): ClusterScenario {
  const s = v.record(json, "scenario");
  if (s.format !== CLUSTER_FORMAT) throw new v.ValidationError("scenario.format", `expected "${CLUSTER_FORMAT}", got ${JSON.stringify(s.format)}`);
  const token = tokenField;
  const nodes = v.array(s.nodes, "scenario.nodes").map((item, i): ClusterNode => {
    const at = `scenario.nodes[${i}]`;
    const n = v.record(item, at);
    return { name: token(n.name, `${at}.name`), type: v.string(n.type, `${at}.type`), count: v.integer(n.count, `${at}.count`, 1) };
  });
  if (nodes.length === 0) throw new v.ValidationError("scenario.nodes", "list at least one node");
  unique(nodes.map((n) => n.name), "scenario.nodes", "node");
  const types = typeCounts(nodes);

  const jobs = v.array(s.jobs, "scenario.jobs").map((item, i): ClusterJob => {
    const at = `scenario.jobs[${i}]`;
    const j = v.record(item, at);
    const throughput = v.numberMap(j.throughput, `${at}.throughput`);
    for (const [type, t] of Object.entries(throughput)) {
      if (!types.has(type)) throw new v.ValidationError(`${at}.throughput.${type}`, `no node has accelerator type "${type}" (types: ${[...types.keys()].join(", ")})`);
      if (t < 0) throw new v.ValidationError(`${at}.throughput.${type}`, `must be >= 0, got ${t}`);
    }
    if (!Object.values(throughput).some((t) => t > 0)) throw new v.ValidationError(`${at}.throughput`, "the job can run on no type (every throughput is 0)");
    const optional = (key: string) => (j[key] === undefined ? {} : { [key]: v.positive(j[key], `${at}.${key}`) });
    return {
      name: token(j.name, `${at}.name`),
      tenant: token(j.tenant, `${at}.tenant`),
      scale: v.integer(j.scale ?? 1, `${at}.scale`, 1),
      throughput,
      ...optional("weight"),
      ...optional("steps"),
      ...optional("slo"),
    };
  });
  if (jobs.length === 0) throw new v.ValidationError("scenario.jobs", "list at least one job");
  unique(jobs.map((j) => j.name), "scenario.jobs", "job");

  const policy = v.oneOf(s.policy, POLICIES, "scenario.policy");
  if (policy === "makespan") jobs.forEach((job, i) => job.steps === undefined && fail(`scenario.jobs[${i}].steps`, "the makespan policy needs every job's steps left"));
  const prices = s.prices === undefined ? undefined : v.numberMap(s.prices, "scenario.prices");
  if (policy === "cost") {
    for (const type of types.keys()) if (!((prices?.[type] ?? 0) > 0)) fail(`scenario.prices.${type}`, "the cost policy needs a price > 0 for every type");
  }
  const quotas = s.quotas === undefined ? undefined : v.numberMap(s.quotas, "scenario.quotas");
  for (const [tenant, quota] of Object.entries(quotas ?? {})) {
    if (!jobs.some((j) => j.tenant === tenant)) fail(`scenario.quotas.${tenant}`, "no job belongs to this tenant");
    if (quota < 0) fail(`scenario.quotas.${tenant}`, `must be >= 0, got ${quota}`);
  }
  return {
    name: v.string(s.name, "scenario.name"),
    description: s.description === undefined ? "" : v.string(s.description, "scenario.description"),
    tenant: token(s.tenant, "scenario.tenant"),
    problem: token(s.problem, "scenario.problem"),
    cluster: { nodes, jobs, policy, ...(prices === undefined ? {} : { prices }), ...(quotas === undefined ? {} : { quotas }) },
    source,
  };
}

function unique(names: readonly string[], at: string, what: string): void {
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) fail(at, `${what} "${twice}" appears twice`);
}

function fail(at: string, message: string): never {
  throw new v.ValidationError(at, message);
}
