import type { AdmmSettings } from "../core/problem-spec.ts";
import { parseAdmm, readScenarioJson, roundTimeoutOf, scenarioParse, tokenField } from "../core/scenario.ts";
import * as v from "../core/validate.ts";
import type { ClusterProblem } from "./cluster.ts";
import { parseCluster } from "./cluster-parse.ts";
import { ALLOCATION_ADMM } from "./solve-in-process.ts";

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
  readonly admm: AdmmSettings;
  /** Tenant plans go out every this many rounds (and with the final plan). */
  readonly tenantPlanEvery: number;
  /** How long the coordinator waits for a round's deltas before it gives up, in ms. */
  readonly roundTimeoutMs: number;
  readonly source: string;
};

export const CLUSTER_FORMAT = "catopt-cluster/1";

export async function loadClusterScenario(reference: string, root: string): Promise<ClusterScenario> {
  const { file, json } = await readScenarioJson(reference, root);
  return parseClusterScenario(json, file);
}

export function parseClusterScenario(json: unknown, source: string): ClusterScenario {
  return scenarioParse(source, () => parse(json, source));
}

function parse(json: unknown, source: string): ClusterScenario {
  const s = v.record(json, "scenario");
  if (s.format !== CLUSTER_FORMAT) throw new v.ValidationError("scenario.format", `expected "${CLUSTER_FORMAT}", got ${JSON.stringify(s.format)}`);
  const cluster = parseCluster(s, "scenario");
  return {
    name: v.string(s.name, "scenario.name"),
    description: s.description === undefined ? "" : v.string(s.description, "scenario.description"),
    tenant: tokenField(s.tenant, "scenario.tenant"),
    problem: tokenField(s.problem, "scenario.problem"),
    cluster,
    admm: parseAdmm(s.admm, "scenario.admm", ALLOCATION_ADMM),
    tenantPlanEvery: s.tenantPlanEvery === undefined ? 1 : v.integer(s.tenantPlanEvery, "scenario.tenantPlanEvery", 1),
    roundTimeoutMs: roundTimeoutOf(s.roundTimeoutMs),
    source,
  };
}
