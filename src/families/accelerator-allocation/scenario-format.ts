import { catoptError } from "../../core/errors.ts";
import type { NodeAdapter, ScenarioFormat } from "../../core/scenario-format.ts";
import { ACCELERATOR_ADAPTERS } from "./adapters/registry.ts";
import { CLUSTER_FORMAT, clusterOpenEvent, clusterTenantsOf, parseClusterScenario, type ClusterScenario } from "./cluster-scenario.ts";
import { nodeAgent } from "./node-agent.ts";
import { isClusterState } from "./cluster-fold.ts";
import { describeObjective, policyForm } from "./policy.ts";
import { solveAllocationReference } from "./reference-lp.ts";
import { allocationPicture } from "./render.ts";
import { checkSlos } from "./slo-check.ts";

/**
 * Cluster scenarios ("catopt-cluster/1"): one node agent per node; the coordinator publishes the
 * cluster plan for the nodes and each job tenant's own plan on that tenant's subject.
 */
export const clusterScenarios: ScenarioFormat<ClusterScenario> = {
  format: CLUSTER_FORMAT,
  parse: parseClusterScenario,
  describe: (s) => {
    const tenants = clusterTenantsOf(s);
    const rounds =
      s.secure === undefined
        ? `plain rounds (${s.plainBecause ?? "secure aggregation is off"})`
        : `secure aggregation (fixed point 2^-${s.secure.fractionBits}, at least ${s.secure.threshold} nodes a round)`;
    const when = s.churn.map((c) => (c.round === undefined ? `${c.afterMs} ms` : `round ${c.round}`));
    const churn = s.churn.length === 0 ? "" : `; churn: ${s.churn.length} change(s), after ${when.join(", ")}`;
    return `cluster ${s.name}: ${s.cluster.nodes.length} node agents, ${s.cluster.jobs.length} jobs of ${tenants.length} tenants (${tenants.join(", ")}), policy ${s.cluster.policy}; ${rounds}${churn}`;
  },
  agents: (s) => s.cluster.nodes.map((n) => n.name),
  planTenants: clusterTenantsOf,
  open: (s, tenant, problem) => clusterOpenEvent(tenant, problem, s),
  agent: (s, tenant, problem, name) => nodeAgent(tenant, problem, s.cluster.nodes.find((n) => n.name === name) ?? noNode(s, name)),
  reference: async (s, without) => {
    const cluster = { ...s.cluster, nodes: s.cluster.nodes.filter((n) => !without.includes(n.name)) };
    if (cluster.policy === "cost") {
      const slos = checkSlos(cluster);
      if (slos !== undefined && !slos.feasible)
        throw catoptError("PROBLEM_INFEASIBLE", `${s.source}: the SLOs cannot all be met (${slos.short.length} jobs fall short; see catopt allocate)`);
    }
    // The policy as the problem opened it (max-min fairness weighs each job by its equal split of the whole cluster), on the nodes that stayed.
    const solved = await solveAllocationReference(cluster, policyForm(s.cluster));
    return solved.status === "optimal" ? { status: "optimal", objective: solved.objective, seconds: solved.seconds, allocations: solved.x } : solved;
  },
  // The fold's cluster is the scenario's until a churn entry changes its jobs (the wire sorts a map's keys: compared in that order).
  changed: (s, problem) =>
    isClusterState(problem) && jobsKey(problem.open.cluster) !== jobsKey(s.cluster) ? { ...s, cluster: problem.open.cluster } : undefined,
  picture: (s, allocations) => allocationPicture(s.cluster, allocations),
  describeObjective: (s, objective) => describeObjective(s.cluster, objective),
  progressEvery: 100,
  nodeAdapters: new Map(
    [...ACCELERATOR_ADAPTERS.values()].map((adapter): [string, NodeAdapter] => [
      adapter.name,
      {
        name: adapter.name,
        describe: adapter.describe,
        command: adapter.command,
        read: (name, text, source, type) => {
          const { devices: _devices, ...read } = adapter.toNode(name, text, source);
          const node = type === undefined ? read : { ...read, type };
          return { describe: `${node.count} x ${node.type}`, agent: (tenant, problem) => nodeAgent(tenant, problem, node) };
        },
      },
    ]),
  ),
};

/** A cluster's jobs as text, each job's throughputs by type in sorted order. */
const jobsKey = (cluster: ClusterScenario["cluster"]): string =>
  JSON.stringify(cluster.jobs.map((j) => ({ ...j, throughput: Object.fromEntries(Object.entries(j.throughput).sort(([a], [b]) => (a < b ? -1 : 1))) })));

function noNode(s: ClusterScenario, name: string): never {
  throw catoptError("USAGE", `cluster scenario ${s.name} has no node "${name}" (its nodes: ${s.cluster.nodes.map((n) => n.name).join(", ")})`);
}
