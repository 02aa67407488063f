import type { AdmmSettings, SecureSettings } from "../../core/problem-spec.ts";
import { solvingThroughputs } from "./cluster.ts";
import { decompose } from "./decompose.ts";
import { policyForm } from "./policy.ts";
import { clusterFractionBits, maxColumnNorm } from "./secure-layout.ts";
import { eventId, type CatoptEvent } from "../../core/event.ts";
import type { ScenarioBase } from "../../core/scenario-format.ts";
import { parseAdmm, parseRounds, parseScenarioFaults, roundTimeoutOf, scenarioParse, tokenField } from "../../core/scenario-fields.ts";
import * as v from "../../core/validate.ts";
import type { ClusterProblem } from "./cluster.ts";
import { parseCluster } from "./cluster-parse.ts";
import { ALLOCATION_ADMM } from "./solve-in-process.ts";

/**
 * A cluster scenario file, format "catopt-cluster/1" (see scenarios/gavel-small/scenario.json):
 * the nodes, the jobs with their per-type throughputs, the policy and the limits that apply.
 * Every error names the field's path.
 */
export type ClusterScenario = ScenarioBase & {
  readonly cluster: ClusterProblem;
  readonly admm: AdmmSettings;
  /** Tenant plans go out every this many rounds (and with the final plan). */
  readonly tenantPlanEvery: number;
  /** Secure aggregation of the nodes' sums per job and type (`"secure": true`); absent: plain rounds. */
  readonly secure?: SecureSettings;
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
  if (Object.keys(rounds).length > 0 && admm.maxStaleness < 1)
    throw new v.ValidationError("scenario.admm.maxStaleness", "asynchronous rounds (scenario.rounds) need a staleness bound of at least 1");
  const choice = secureOf(s.secure, cluster, Object.keys(rounds).length === 0 && admm.maxStaleness === 0);
  const tenant = tokenField(s.tenant, "scenario.tenant");
  if (cluster.jobs.some((j) => j.tenant === tenant))
    throw new v.ValidationError("scenario.tenant", `"${tenant}" is the platform's tenant; jobs belong to their own tenants`);
  return {
    name: v.string(s.name, "scenario.name"),
    description: s.description === undefined ? "" : v.string(s.description, "scenario.description"),
    tenant,
    problem: tokenField(s.problem, "scenario.problem"),
    cluster,
    admm,
    ...("settings" in choice ? { secure: choice.settings } : { plainBecause: choice.plainBecause }),
    rounds,
    tenantPlanEvery: s.tenantPlanEvery === undefined ? 1 : v.integer(s.tenantPlanEvery, "scenario.tenantPlanEvery", 1),
    roundTimeoutMs: roundTimeoutOf(s.roundTimeoutMs),
    faults: parseScenarioFaults(
      s.faults,
      "scenario.faults",
      cluster.nodes.map((n) => n.name),
      rounds,
    ),
    maxRounds: admm.maxRounds,
    source,
  };
}

/**
 * Secure aggregation of a cluster's rounds, on by default where the rounds allow it: synchronous
 * rounds, two nodes at least, and sums of the nodes' time and weighted squares that leave the
 * fixed point 20 fraction bits at least (secure-layout.ts). The nodes send their accelerator-time
 * masked, and the coordinator learns only its sums per job and type. `"secure": true` where the
 * rounds do not allow it is refused, with why; `"secure": false` runs plain rounds.
 */
function secureOf(value: unknown, cluster: ClusterProblem, synchronous: boolean): { readonly settings: SecureSettings } | { readonly plainBecause: string } {
  const asked = value === undefined ? undefined : v.boolean(value, "scenario.secure");
  if (asked === false) return { plainBecause: 'the scenario says "secure": false' };
  const maxAbs = Math.max(...cluster.nodes.map((n) => n.count));
  const solving = solvingThroughputs(cluster);
  const bits = clusterFractionBits(cluster.nodes.length, maxAbs, maxColumnNorm(decompose(solving, policyForm(solving)).nodes));
  const why = !synchronous
    ? "secure aggregation takes synchronous rounds (a masked contribution counts only in the round it was masked for)"
    : cluster.nodes.length < 2
      ? "secure aggregation needs two nodes at least"
      : bits < MIN_FRACTION_BITS
        ? `the cluster's sums leave ${bits} fraction bits in 64-bit words, fewer than ${MIN_FRACTION_BITS}`
        : undefined;
  if (why !== undefined) {
    if (asked === true)
      throw new v.ValidationError("scenario.secure", `${why}: ${synchronous ? "" : "drop scenario.rounds and admm.maxStaleness, or "}set "secure": false`);
    return { plainBecause: why };
  }
  return { settings: { fractionBits: bits, maxAbs, threshold: 2 } };
}

/** The coarsest fixed point a cluster's secure sums may take: 2^-20 accelerators is far below any tolerance of an allocation. */
const MIN_FRACTION_BITS = 20;

/** The event that opens a cluster scenario's problem: the cluster, as every node and the coordinator see it. */
export function clusterOpenEvent(tenant: string, problem: string, scenario: ClusterScenario): CatoptEvent<"cluster-open/1"> {
  return {
    schema: "cluster-open/1",
    id: eventId(tenant, problem, "open", 0),
    tenant,
    problem,
    round: 0,
    base: -1,
    body: {
      cluster: scenario.cluster,
      admm: scenario.admm,
      tenantPlanEvery: scenario.tenantPlanEvery,
      ...(scenario.secure === undefined ? {} : { secure: scenario.secure }),
    },
  };
}

/** The tenants whose jobs the cluster runs: each gets its own plan topic. */
export const clusterTenantsOf = (scenario: ClusterScenario): string[] => [...new Set(scenario.cluster.jobs.map((j) => j.tenant))];
