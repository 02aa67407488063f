import type { AdmmSettings } from "../../core/problem-spec.ts";
import { parseAdmm, parseRounds, roundTimeoutOf, scenarioParse, tokenField, type RoundPolicy } from "../../core/scenario-fields.ts";
import { parseFaults, type Fault } from "../../core/faults.ts";
import * as v from "../../core/validate.ts";
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
  /** When the coordinator closes a round before every node's delta is in (absent: synchronous rounds; needs admm.maxStaleness >= 1). */
  readonly rounds: RoundPolicy;
  /** Nodes that leave mid-run (drained): `catopt run` makes each leave after its round. */
  readonly faults: readonly Extract<Fault, { kind: "leave" }>[];
  readonly source: string;
};

export const CLUSTER_FORMAT = "catopt-cluster/1";

export function parseClusterScenario(json: unknown, source: string): ClusterScenario {
  return scenarioParse(source, () => parse(json, source));
}

/**
 * Unless the scenario names it, the censor threshold follows epsAbs: a change that small does
 * not move the plan past where it stops. On scenarios/gavel-2000 (2,000 jobs, max-min) a
 * threshold of epsAbs took as many rounds as sending every change, with 36% fewer entries;
 * four times epsAbs, held fixed, kept it from converging in 20,000 rounds (halving every 1,000
 * rounds, as the threshold does, it converged in 1,104).
 */
function clusterAdmm(value: unknown): AdmmSettings {
  const admm = parseAdmm(value, "scenario.admm", ALLOCATION_ADMM);
  const named = value !== undefined && (value as Record<string, unknown>).censor !== undefined;
  return named ? admm : { ...admm, censor: admm.epsAbs };
}

function parse(json: unknown, source: string): ClusterScenario {
  const s = v.record(json, "scenario");
  if (s.format !== CLUSTER_FORMAT) throw new v.ValidationError("scenario.format", `expected "${CLUSTER_FORMAT}", got ${JSON.stringify(s.format)}`);
  const cluster = parseCluster(s, "scenario");
  const admm = clusterAdmm(s.admm);
  const rounds = parseRounds(s.rounds, "scenario.rounds", cluster.nodes.length);
  // A round closed without every node takes late deltas only within a staleness bound; without one, it could take nothing of a laggard and never converge.
  if (Object.keys(rounds).length > 0 && admm.maxStaleness < 1) throw new v.ValidationError("scenario.admm.maxStaleness", "asynchronous rounds (scenario.rounds) need a staleness bound of at least 1");
  return {
    name: v.string(s.name, "scenario.name"),
    description: s.description === undefined ? "" : v.string(s.description, "scenario.description"),
    tenant: tokenField(s.tenant, "scenario.tenant"),
    problem: tokenField(s.problem, "scenario.problem"),
    cluster,
    admm,
    rounds,
    tenantPlanEvery: s.tenantPlanEvery === undefined ? 1 : v.integer(s.tenantPlanEvery, "scenario.tenantPlanEvery", 1),
    roundTimeoutMs: roundTimeoutOf(s.roundTimeoutMs),
    faults: nodeLeaves(s.faults, cluster),
    source,
  };
}

/** A cluster's rounds are synchronous, so of the scripted faults only a node's leave applies to it (each node's once, and never every node's). */
function nodeLeaves(value: unknown, cluster: ClusterProblem): Extract<Fault, { kind: "leave" }>[] {
  const leaves = parseFaults(value, "scenario.faults", cluster.nodes.map((n) => n.name)).map((f, i) => {
    if (f.kind !== "leave") throw new v.ValidationError(`scenario.faults[${i}].kind`, `"${f.kind}" needs asynchronous rounds, which cluster problems do not have yet: a cluster scenario takes "leave" faults only`);
    return f;
  });
  const twice = leaves.findIndex((f, i) => leaves.findIndex((g) => g.agent === f.agent) !== i);
  if (twice !== -1) throw new v.ValidationError(`scenario.faults[${twice}].agent`, `${leaves[twice].agent} leaves once`);
  if (leaves.length > 0 && leaves.length >= cluster.nodes.length) throw new v.ValidationError("scenario.faults", "every node would leave: at least one must stay");
  return leaves;
}
