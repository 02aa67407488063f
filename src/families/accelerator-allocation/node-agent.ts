import type { AgentTools, AgentView, FamilyAgent, LocalSolver } from "../../core/family.ts";
import { eventId, type AnyEvent, type CatoptEvent } from "../../core/event.ts";
import { secureParticipant } from "../../secure/participant.ts";
import type { SecureSettings } from "../../core/problem-spec.ts";
import { clusterLayout, nodeSupport, nodeWords, type ClusterLayout } from "./secure-layout.ts";
import type { NodeProblem } from "./decompose.ts";
import { solvingThroughputs, type ClusterNode, type ClusterProblem } from "./cluster.ts";
import { applyChange, carryColumns } from "./churn.ts";
import { decompose } from "./decompose.ts";
import { applyUpdate, changedEntries, nodeSolver, type NodePlan } from "./node-solver.ts";
import type { SparseUpdate } from "./schemas.ts";
import { policyForm } from "./policy.ts";

/**
 * A node agent of a cluster problem: owns one node's accelerators, as its adapter found them
 * (type and count). It needs nothing else up front: the jobs and the policy come with the
 * coordinator's cluster-open event, from which it derives its own columns (decompose.ts), and
 * the shared signal comes as sparse updates in the cluster plans, which it folds in order.
 *
 * In a secure problem (its open says so) it joins with its agreement key and answers each plan
 * with its whole y masked for the plan's roster (secure-layout.ts: its type's columns), not a
 * delta; secure/participant.ts keeps the rules of what it masks among and when it reveals.
 */
export function nodeAgent(tenant: string, problem: string, node: ClusterNode): FamilyAgent {
  let opened: { readonly id: string; readonly agents: readonly string[] } | undefined;
  // The cluster as it stands (the open's, then each plan's changes) and this node's columns in it, the censor its steps use, and the round of the last change taken (a plan may be read twice).
  let cluster: { readonly problem: ClusterProblem; readonly own: NodeProblem } | undefined;
  let censor = 0;
  let changedAt = -1;
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
  let committed: Float64Array = new Float64Array(0);
  let lastRound = -1; // the last round event taken: each counts once, in order, as in the fold
  let maxStaleness = 0;
  let tools: AgentTools | undefined;
  /** A secure problem's: its settings, the cluster's layout, this node's columns, what it proposed each round, what each round answered. */
  let secureOpen:
    | {
        readonly settings: SecureSettings;
        readonly layout: ClusterLayout;
        readonly nodes: readonly NodeProblem[];
        readonly columns: NodeProblem;
        readonly agents: readonly string[];
      }
    | undefined;
  const proposals = new Map<number, Float64Array>();
  const views = new Map<number, AgentView>();
  const secure = secureParticipant({
    tenant,
    problem,
    owner: node.name,
    agents: () => secureOpen?.agents ?? [],
    threshold: () => secureOpen?.settings.threshold ?? 2,
    tools: () => tools,
    joinKey: (join) => (join.schema === "node-join/1" ? join.body.agreementKey : undefined),
    support: (agent) => {
      if (secureOpen === undefined) throw new Error("a secure round before the problem opened");
      return nodeSupport(secureOpen.layout, secureOpen.nodes, agent);
    },
  });
  const masked = (view: AgentView): AnyEvent => {
    const open = secureOpen as NonNullable<typeof secureOpen>;
    const proposed = view.proposed as Float64Array;
    return secure.mask(view.planRound + 1, nodeWords(open.layout, open.columns, open.settings, proposed, view.committed as Float64Array), Array.from(proposed));
  };
  /** This node's columns in `of`, and how many resources the signal covers. */
  const ownColumns = (of: ClusterProblem): { readonly node: NodeProblem; readonly resources: number } => {
    const solving = solvingThroughputs(of);
    const decomposition = decompose(solving, policyForm(solving), node.name);
    return { node: decomposition.nodes[0], resources: decomposition.coupling.resources };
  };
  const secureColumns = (of: ClusterProblem) => {
    const solving = solvingThroughputs(of);
    const all = decompose(solving, policyForm(solving)).nodes;
    return { layout: clusterLayout(all), nodes: all, columns: all.find((n) => n.node === node.name) as NodeProblem };
  };
  /**
   * The cluster changed, as the round's plan says (cluster-fold.ts finishRound does the same): our
   * committed time carried by job, the signal to be sent whole, what earlier rounds left dropped.
   */
  const takeChanges = (before: NonNullable<typeof cluster>, after: ClusterProblem, round: number): void => {
    const columns = ownColumns(after);
    committed = carryColumns(before.problem, before.own.columns, committed, after, columns.node.columns);
    solver = nodeSolver(columns.node, censor);
    signal = new Float64Array(columns.resources);
    if (secureOpen !== undefined) secureOpen = { ...secureOpen, ...secureColumns(after) };
    cluster = { problem: after, own: columns.node };
    // What rounds up to this one sent or proposed is of the old columns; a later round's (known again from the stream after a restart) is already of the new ones.
    for (const byRound of [updates, sent, proposals, views]) for (const r of byRound.keys()) if (r <= round) byRound.delete(r);
  };
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
    equip: (given) => {
      tools = given;
    },
    joinEvent: (): CatoptEvent<"node-join/1"> => ({
      schema: "node-join/1",
      id: eventId(tenant, problem, "join", 0, node.name),
      tenant,
      problem,
      round: 0,
      base: -1,
      body: { type: node.type, count: node.count, ...(secureOpen === undefined ? {} : { agreementKey: secure.publicKey() }) },
    }),
    deltaEvent: (view): AnyEvent => {
      const round = view.planRound + 1;
      if (secureOpen !== undefined) {
        views.set(round, view);
        if (!proposals.has(round)) proposals.set(round, Float64Array.from(view.proposed as Float64Array));
        return masked(view);
      }
      const before = sent.get(round);
      if (before !== undefined) return before;
      const body = changedEntries(view.committed as Float64Array, view.proposed as Float64Array);
      updates.set(round, body);
      return { schema: "node-delta/1", id: eventId(tenant, problem, "delta", round, node.name), tenant, problem, round, base: view.planRound, body };
    },
    resume: (own) => {
      secure.resume(own);
      // What its journaled contributions stood for: the round events then rebuild its committed y, as the fold took it.
      for (const [round, values] of secure.journaled()) if (!proposals.has(round)) proposals.set(round, Float64Array.from(values as number[]));
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
      if (planned !== undefined && event.body.secure !== undefined) {
        // Its values live only in masked words: a restarted node would answer with other values under the same masks.
        if (secure.maskedBefore())
          return {
            stop: `${node.name} sent masked contributions to secure problem ${problem} before it restarted, and its journal does not hold them (its values are only in masked words): start it under a new --problem-id`,
          };
        secureOpen = { settings: event.body.secure, agents, ...secureColumns(event.body.cluster) };
      }
      if (planned !== undefined) {
        censor = event.body.admm.censor ?? 0;
        const columns = ownColumns(event.body.cluster);
        solver = nodeSolver(columns.node, censor);
        signal = new Float64Array(columns.resources);
        committed = new Float64Array(columns.node.columns.length);
        maxStaleness = event.body.admm.maxStaleness;
        cluster = { problem: event.body.cluster, own: columns.node };
        opened = { id: event.id, agents };
      }
      return { agents };
    },
    plan: (event) => {
      if (event.schema === "attempt/1") {
        if (secureOpen !== undefined) secure.takeAttempt(event);
        return undefined;
      }
      if (event.schema === "round/2" && secureOpen !== undefined) {
        if (event.round !== lastRound + 1) return undefined; // one the fold refuses as out of order
        lastRound = event.round;
        // A secure round takes our contribution to itself (of whichever attempt): what we proposed for it is what it committed.
        const ours = event.body.took.some((id) => {
          const [t, p, kind, round, owner, ...rest] = id.split("/");
          return (
            t === tenant && p === problem && /^masked(-\d+)?$/.test(kind ?? "") && round === String(event.round) && owner === node.name && rest.length === 0
          );
        });
        const proposed = proposals.get(event.round);
        if (ours && proposed !== undefined) committed = Float64Array.from(proposed);
        // What no attempt may ask for again: rounds before this one (a view is as large as the node's columns, every round).
        for (const round of proposals.keys()) if (round < event.round) proposals.delete(round);
        for (const round of views.keys()) if (round < event.round) views.delete(round);
        return undefined;
      }
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
      if (event.body.changes !== undefined && event.round > changedAt && cluster !== undefined) {
        changedAt = event.round;
        takeChanges(
          cluster,
          event.body.changes.reduce((c, change) => applyChange(c, change), cluster.problem),
          event.round,
        );
      }
      // The signal first: the next plan's update is relative to this one's, whether or not its roster is refused below.
      applyUpdate(signal, event.body.signal);
      if (secureOpen !== undefined && event.body.status === "running") secure.takeRoster(event.round, event.body.roster ?? {}, event.body.joins);
      // Copies: the machine may hold this plan while the next one is folded.
      return {
        status: event.body.status,
        round: event.round,
        rho: event.body.rho,
        signal: Float64Array.from(signal),
        committed: Float64Array.from(committed),
      } satisfies NodePlan;
    },
    reply: (event) => {
      if (secureOpen === undefined) return undefined;
      if (event.schema === "round/2" && event.round >= 1) return secure.reveal(event);
      // Another attempt of a round we answered, with us in its roster: mask again, afresh.
      const view = views.get(event.round);
      if (event.schema === "attempt/1" && view !== undefined && event.body.roster.includes(node.name)) return masked(view);
      if (event.schema === "recover/1") return secure.shares(event);
      return undefined;
    },
  };
}

/** `text` as a literal inside a regular expression. */
const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
