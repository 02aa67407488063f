import type { FamilyAgent, LocalSolver } from "../../core/family.ts";
import { eventId, type CatoptEvent } from "../../core/event.ts";
import { solvingThroughputs, type ClusterNode } from "./cluster.ts";
import { decompose } from "./decompose.ts";
import { applyUpdate, changedEntries, nodeSolver, type NodePlan } from "./node-solver.ts";
import type { SparseUpdate } from "./schemas.ts";
import { policyForm } from "./policy.ts";

/**
 * A node agent of a cluster problem: owns one node's accelerators, as its adapter found them
 * (type and count). It needs nothing else up front: the jobs and the policy come with the
 * coordinator's cluster-open event, from which it derives its own columns (decompose.ts), and
 * the shared signal comes as sparse updates in the cluster plans, which it folds in order.
 */
export function nodeAgent(tenant: string, problem: string, node: ClusterNode): FamilyAgent {
  let opened: { readonly id: string; readonly agents: readonly string[] } | undefined;
  let solver: LocalSolver<NodePlan, Float64Array> | undefined;
  let signal = new Float64Array(0);
  // What each of our deltas changed (by its round), and our y as the rounds took them: with
  // asynchronous rounds a round may take our delta late or not at all, so our committed y is what
  // the round events say, as the fold has it. A restarted agent rebuilds both from the stream
  // (resume: its own deltas; then the round events, read in order).
  const updates = new Map<number, SparseUpdate>();
  // Deltas this agent sent before a restart, by round: a round it answers again gets the very
  // event it sent (a recomputed one could differ in its last bits, and only the first counts).
  const sent = new Map<number, CatoptEvent<"node-delta/1">>();
  let committed = new Float64Array(0);
  let lastRound = -1; // the last round event taken: each counts once, in order, as in the fold
  let maxStaleness = 0;
  const ourDelta = new RegExp(`^${escapeRegExp(`${tenant}/${problem}/delta/`)}(\\d+)${escapeRegExp(`/${node.name}`)}$`);
  const ready = (): LocalSolver<NodePlan, Float64Array> =>
    solver ??
    (() => {
      throw new Error("a plan before the problem opened");
    })();

  return {
    name: node.name,
    solver: {
      commit: (plan, proposed) => ready().commit(plan as NodePlan, proposed as Float64Array | null),
      step: (plan, committed) => ready().step(plan as NodePlan, committed as Float64Array),
    },
    joinEvent: (): CatoptEvent<"node-join/1"> => ({
      schema: "node-join/1",
      id: eventId(tenant, problem, "join", 0, node.name),
      tenant,
      problem,
      round: 0,
      base: -1,
      body: { type: node.type, count: node.count },
    }),
    deltaEvent: (view): CatoptEvent<"node-delta/1"> => {
      const round = view.planRound + 1;
      const before = sent.get(round);
      if (before !== undefined) return before;
      const body = changedEntries(view.committed as Float64Array, view.proposed as Float64Array);
      updates.set(round, body);
      return { schema: "node-delta/1", id: eventId(tenant, problem, "delta", round, node.name), tenant, problem, round, base: view.planRound, body };
    },
    resume: (own) => {
      for (const event of own) {
        if (event.schema !== "node-delta/1" || sent.has(event.round)) continue; // the first of a round is the one that counts
        sent.set(event.round, event);
        updates.set(event.round, event.body);
      }
    },
    opened: (event) => {
      if (event.schema !== "cluster-open/1") return undefined;
      // The same open again (read once to catch up, then acted on): what was folded since stays.
      // Another open of the problem is refused by the fold, and so ignored here.
      if (opened !== undefined) return { agents: opened.agents };
      const at = event.body.cluster.nodes.findIndex((n) => n.name === node.name);
      const planned = event.body.cluster.nodes[at];
      if (planned !== undefined && (planned.type !== node.type || planned.count !== node.count)) {
        return { stop: `node ${node.name} has ${node.count} x ${node.type}, but cluster problem ${problem} expects ${planned.count} x ${planned.type} there` };
      }
      const agents = event.body.cluster.nodes.map((n) => n.name);
      if (planned !== undefined) {
        const solving = solvingThroughputs(event.body.cluster);
        const decomposition = decompose(solving, policyForm(solving), node.name);
        solver = nodeSolver(decomposition.nodes[0], event.body.admm.censor ?? 0);
        maxStaleness = event.body.admm.maxStaleness;
        signal = new Float64Array(decomposition.coupling.resources);
        committed = new Float64Array(decomposition.nodes[0].columns.length);
        opened = { id: event.id, agents };
      }
      return { agents };
    },
    plan: (event) => {
      if (event.schema === "round/2") {
        if (event.round !== lastRound + 1) return undefined; // one the fold refuses as out of order
        lastRound = event.round;
        for (const id of event.body.took) {
          const update = updates.get(Number(ourDelta.exec(id)?.[1] ?? Number.NaN));
          if (update !== undefined) applyUpdate(committed, update);
        }
        // What no round may take any more is dropped: a delta for round r counts up to round r + maxStaleness.
        for (const round of updates.keys()) if (round < event.round - maxStaleness) updates.delete(round);
        for (const round of sent.keys()) if (round < event.round - maxStaleness) sent.delete(round);
        return undefined;
      }
      if (event.schema !== "cluster-plan/1") return undefined;
      applyUpdate(signal, event.body.signal);
      // Copies: the machine may hold this plan while the next one is folded.
      return {
        status: event.body.status,
        round: event.round,
        rho: event.body.rho,
        signal: Float64Array.from(signal),
        committed: Float64Array.from(committed),
      } satisfies NodePlan;
    },
  };
}

/** `text` as a literal inside a regular expression. */
const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
