import type { FamilyAgent, LocalSolver } from "../../core/family.ts";
import { eventId, type CatoptEvent } from "../../core/event.ts";
import { solvingThroughputs, type ClusterNode } from "./cluster.ts";
import { decompose, type NodeProblem } from "./decompose.ts";
import { applyUpdate, changedEntries, nodeSolver, type NodePlan } from "./node-solver.ts";
import { policyForm } from "./policy.ts";

/**
 * A node agent of a cluster problem: owns one node's accelerators, as its adapter found them
 * (type and count). It needs nothing else up front: the jobs and the policy come with the
 * coordinator's cluster-open event, from which it derives its own columns (decompose.ts), and
 * the shared signal comes as sparse updates in the cluster plans, which it folds in order.
 */
export function nodeAgent(tenant: string, problem: string, node: ClusterNode): FamilyAgent {
  let local: NodeProblem | undefined;
  let solver: LocalSolver<NodePlan, Float64Array> | undefined;
  let signal = new Float64Array(0);
  // What we proposed for each round (by the round of its delta), and what the rounds took of it:
  // with asynchronous rounds a round may take our delta late or not at all, so our committed y is
  // what the round events say, as the fold has it.
  const proposals = new Map<number, Float64Array>();
  let committed: Float64Array | undefined;
  let maxStaleness: number | undefined;
  const ourDelta = new RegExp(`^${escape(`${tenant}/${problem}/delta/`)}(\\d+)${escape(`/${node.name}`)}$`);
  const ready = (): LocalSolver<NodePlan, Float64Array> => solver ?? (() => { throw new Error("a plan before the problem opened"); })();

  return {
    name: node.name,
    solver: { commit: (plan, proposed) => ready().commit(plan as NodePlan, proposed as Float64Array | null), step: (plan, committed) => ready().step(plan as NodePlan, committed as Float64Array) },
    joinEvent: (): CatoptEvent<"node-join/1"> => ({ schema: "node-join/1", id: eventId(tenant, problem, "join", 0, node.name), tenant, problem, round: 0, base: -1, body: { type: node.type, count: node.count } }),
    deltaEvent: (view): CatoptEvent<"node-delta/1"> => {
      const round = view.planRound + 1;
      proposals.set(round, Float64Array.from(view.proposed as Float64Array));
      const body = changedEntries(view.committed as Float64Array, view.proposed as Float64Array);
      return { schema: "node-delta/1", id: eventId(tenant, problem, "delta", round, node.name), tenant, problem, round, base: view.planRound, body };
    },
    opened: (event) => {
      if (event.schema !== "cluster-open/1") return undefined;
      const at = event.body.cluster.nodes.findIndex((n) => n.name === node.name);
      const planned = event.body.cluster.nodes[at];
      if (planned !== undefined && (planned.type !== node.type || planned.count !== node.count)) {
        return { stop: `node ${node.name} has ${node.count} x ${node.type}, but cluster problem ${problem} expects ${planned.count} x ${planned.type} there` };
      }
      if (planned !== undefined) {
        const solving = solvingThroughputs(event.body.cluster);
        const decomposition = decompose(solving, policyForm(solving), node.name);
        local = decomposition.nodes[0];
        solver = nodeSolver(local, event.body.admm.censor ?? 0);
        maxStaleness = event.body.admm.maxStaleness;
        signal = new Float64Array(decomposition.coupling.resources);
      }
      return { agents: event.body.cluster.nodes.map((n) => n.name) };
    },
    plan: (event) => {
      if (event.schema === "round/1" || event.schema === "round/2") {
        for (const id of event.body.took) {
          const round = Number(ourDelta.exec(id)?.[1] ?? Number.NaN);
          const taken = proposals.get(round);
          if (taken !== undefined) committed = taken;
        }
        // Proposals older than any round may still take are dropped.
        for (const round of proposals.keys()) if (round <= event.round - 1 - (maxStaleness ?? 0)) proposals.delete(round);
        return undefined;
      }
      if (event.schema !== "cluster-plan/1") return undefined;
      applyUpdate(signal, event.body.signal);
      // A copy: the machine may hold this plan while the next one is folded.
      return { status: event.body.status, round: event.round, rho: event.body.rho, signal: Float64Array.from(signal), ...(committed === undefined ? {} : { committed: Float64Array.from(committed) }) } satisfies NodePlan;
    },
  };
}

/** `text` as a literal inside a regular expression. */
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
