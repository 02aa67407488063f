import type { AdmmSettings, SecureSettings } from "../../core/problem-spec.ts";
import { solvingThroughputs } from "./cluster.ts";
import { coefficientProblem, decompose, type Decomposition } from "./decompose.ts";
import { policyForm } from "./policy.ts";
import { clusterFractionBits, maxColumnNorm } from "./secure-layout.ts";
import { eventId, type CatoptEvent } from "../../core/event.ts";
import type { ScenarioBase, ScriptedEvent } from "../../core/scenario-format.ts";
import { applyChange, parseChange, type ClusterChange } from "./churn.ts";
import { parseAdmm, parseRounds, parseScenarioFaults, roundTimeoutOf, scenarioParse, tokenField } from "../../core/scenario-fields.ts";
import * as v from "../../core/validate.ts";
import { didYouMean } from "../../core/suggest.ts";
import type { ClusterProblem, PolicyName } from "./cluster.ts";
import { parseCluster } from "./cluster-parse.ts";
import { allocationAdmm } from "./solve-in-process.ts";

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
  /** Jobs that arrive, depart or are re-measured as the run goes (`"churn"`), each after a round; empty: none. */
  readonly churn: readonly ScriptedChange[];
};

/** A churn entry: the change the platform sends once round `round` has closed, or `afterMs` into the run (exactly one). */
export type ScriptedChange = { readonly round?: number; readonly afterMs?: number; readonly change: ClusterChange };

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
function clusterAdmm(value: unknown, policy: PolicyName): AdmmSettings {
  const admm = parseAdmm(value, "scenario.admm", allocationAdmm(policy));
  const named = value !== undefined && (value as Record<string, unknown>).censor !== undefined;
  return named ? admm : { ...admm, censor: admm.epsAbs };
}

function parse(json: unknown, source: string): ClusterScenario {
  const s = v.record(json, "scenario");
  if (s.format !== CLUSTER_FORMAT) throw new v.ValidationError("scenario.format", `expected "${CLUSTER_FORMAT}", got ${JSON.stringify(s.format)}`);
  const cluster = parseCluster(s, "scenario");
  const admm = clusterAdmm(s.admm, cluster.policy);
  const rounds = parseRounds(s.rounds, "scenario.rounds", cluster.nodes.length);
  // A round closed without every node takes late deltas only within a staleness bound; without one, it could take nothing of a laggard and never converge.
  if (Object.keys(rounds).length > 0 && admm.maxStaleness < 1)
    throw new v.ValidationError("scenario.admm.maxStaleness", "asynchronous rounds (scenario.rounds) need a staleness bound of at least 1");
  const synchronous = Object.keys(rounds).length === 0 && admm.maxStaleness === 0;
  const { churn, clusters } = parseChurn(s.churn, cluster, synchronous);
  // The cluster and each one its churn leaves, decomposed once: their coefficients within ADMM's range, and the secure fixed point from them.
  const decompositions = [cluster, ...clusters].map((c, i) => {
    const solving = solvingThroughputs(c);
    const decomposition = decompose(solving, policyForm(solving));
    const out = coefficientProblem(solving, decomposition);
    if (out !== undefined) throw new v.ValidationError(i === 0 ? "scenario.jobs" : `scenario.churn[${i - 1}]`, out);
    return decomposition;
  });
  const choice = secureOf(s.secure, cluster, decompositions, synchronous);
  const tenant = tokenField(s.tenant, "scenario.tenant");
  if ([...cluster.jobs, ...churn.flatMap((c) => c.change.arrive)].some((j) => j.tenant === tenant))
    throw new v.ValidationError("scenario.tenant", `"${tenant}" is the platform's tenant; jobs belong to their own tenants`);
  return {
    name: v.string(s.name, "scenario.name"),
    description: s.description === undefined ? "" : v.string(s.description, "scenario.description"),
    tenant,
    problem: tokenField(s.problem, "scenario.problem"),
    cluster,
    admm,
    ...("settings" in choice ? { secure: choice.settings } : { plainBecause: choice.plainBecause }),
    churn,
    ...(churn.length === 0 ? {} : { scripted: churn.map((entry, i) => scriptedChange(entry, i)) }),
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
function secureOf(
  value: unknown,
  cluster: ClusterProblem,
  decompositions: readonly Decomposition[],
  synchronous: boolean,
): { readonly settings: SecureSettings } | { readonly plainBecause: string } {
  const asked = value === undefined ? undefined : v.boolean(value, "scenario.secure");
  if (asked === false) return { plainBecause: 'the scenario says "secure": false' };
  const maxAbs = Math.max(...cluster.nodes.map((n) => n.count));
  // The fixed point holds for the cluster as every churn entry leaves it (a job's throughput weighs in its words).
  const bits = Math.min(...decompositions.map((d) => clusterFractionBits(cluster.nodes.length, maxAbs, maxColumnNorm(d.nodes))));
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

/**
 * A scenario's "churn": changes of its jobs, each after a round (1 or later, in order), checked
 * against the cluster as the entries before it leave it, so that a bad entry is refused before
 * the run, naming it. Synchronous rounds only, as the fold requires.
 */
function parseChurn(
  value: unknown,
  cluster: ClusterProblem,
  synchronous: boolean,
): { readonly churn: readonly ScriptedChange[]; readonly clusters: readonly ClusterProblem[] } {
  if (value === undefined) return { churn: [], clusters: [] };
  const items = v.array(value, "scenario.churn");
  if (items.length > MAX_CHURN_ENTRIES) throw new v.ValidationError("scenario.churn", `at most ${MAX_CHURN_ENTRIES} entries, got ${items.length}`);
  if (items.length > 0 && !synchronous)
    throw new v.ValidationError("scenario.churn", "jobs change only with synchronous rounds: drop scenario.rounds and admm.maxStaleness, or the churn");
  let current = cluster;
  let [lastRound, lastMs] = [1, 0];
  const clusters: ClusterProblem[] = [];
  const churn = items.map((item, i): ScriptedChange => {
    const at = `scenario.churn[${i}]`;
    const fields = v.record(item, at);
    const unknown = Object.keys(fields).find((key) => !CHURN_FIELDS.includes(key));
    if (unknown !== undefined)
      throw new v.ValidationError(
        `${at}.${unknown}`,
        `a churn entry has no such field${didYouMean(unknown, CHURN_FIELDS)} (its fields: ${CHURN_FIELDS.join(", ")})`,
      );
    if ((fields.round === undefined) === (fields.afterMs === undefined)) throw new v.ValidationError(at, 'give it a "round" or an "afterMs", one of them');
    let when: { round: number } | { afterMs: number };
    if (fields.round !== undefined) {
      lastRound = v.integer(fields.round, `${at}.round`, lastRound);
      when = { round: lastRound };
    } else {
      lastMs = v.integer(fields.afterMs, `${at}.afterMs`, lastMs);
      if (lastMs > MAX_CHURN_MS) throw new v.ValidationError(`${at}.afterMs`, `at most ${MAX_CHURN_MS} (a day), got ${lastMs}`);
      when = { afterMs: lastMs };
    }
    const change = parseChange(fields, at);
    current = applyChange(current, change, at);
    clusters.push(current);
    return { ...when, change };
  });
  return { churn, clusters };
}

const CHURN_FIELDS = ["round", "afterMs", "arrive", "depart", "throughput"];
const MAX_CHURN_MS = 86_400_000;
/** Each entry is checked against the whole cluster; the fold takes at most 64 waiting for one round. */
const MAX_CHURN_ENTRIES = 1000;

/** The platform's cluster-change/1 for a churn entry: its id names the entry, so that each is its own event. */
function scriptedChange({ round, afterMs, change }: ScriptedChange, index: number): ScriptedEvent {
  const parts = [
    change.arrive.length > 0 ? `${change.arrive.length} ${change.arrive.length === 1 ? "job arrives" : "jobs arrive"}` : "",
    change.depart.length > 0 ? `${change.depart.length} ${change.depart.length === 1 ? "departs" : "depart"}` : "",
    Object.keys(change.throughput).length > 0 ? `${Object.keys(change.throughput).length} re-measured` : "",
  ].filter((p) => p !== "");
  return {
    ...(round === undefined ? {} : { round }),
    ...(afterMs === undefined ? {} : { afterMs }),
    describe: parts.join(", "),
    event: (tenant, problem) => ({
      schema: "cluster-change/1",
      id: eventId(tenant, problem, "change", round ?? 0, `churn-${index}`),
      tenant,
      problem,
      round: round ?? 0,
      base: round ?? 0,
      body: change,
    }),
  };
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

/** The tenants whose jobs the cluster runs, or will once its churn brings them: each gets its own plan topic. */
export const clusterTenantsOf = (scenario: ClusterScenario): string[] => [
  ...new Set([...scenario.cluster.jobs, ...scenario.churn.flatMap((c) => c.change.arrive)].map((j) => j.tenant)),
];
