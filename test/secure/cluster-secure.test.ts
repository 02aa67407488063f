import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { eventId, type CatoptEvent } from "../../src/core/event.ts";
import { DEFAULT_ADMM } from "../../src/core/problem-spec.ts";
import { Refusal } from "../../src/core/refusal.ts";
import { solvingThroughputs } from "../../src/families/accelerator-allocation/cluster.ts";
import { acceleratorAllocation, closeClusterRound, openCluster, type ClusterState } from "../../src/families/accelerator-allocation/cluster-fold.ts";
import { decompose } from "../../src/families/accelerator-allocation/decompose.ts";
import { clusterAggregate } from "../../src/families/accelerator-allocation/node-step.ts";
import { policyForm } from "../../src/families/accelerator-allocation/policy.ts";
import { planFromNodes } from "../../src/families/accelerator-allocation/repair.ts";
import {
  aggregateOfSums,
  clusterContributionLength,
  clusterFractionBits,
  clusterLayout,
  clusterSums,
  maxColumnNorm,
  nodeWords,
  nodeSupport,
} from "../../src/families/accelerator-allocation/secure-layout.ts";
import { syntheticCluster } from "../../src/families/accelerator-allocation/synthetic.ts";
import { agreementKeyOf, supportLength } from "../../src/secure/masks.ts";
import { addWords, wordsToBytes, zeroWords } from "../../src/secure/ring.ts";
import { contribute } from "../../src/secure/aggregation.ts";
import { seededRandom } from "../../src/secure/discrete-gaussian.ts";

// A cluster's secure rounds: what a node's words hold, that their sums give the coordinator the very
// step a plain round's every y gives, and what the fold refuses.
const cluster = syntheticCluster({ seed: 7, jobs: 12, tenants: 3, nodes: { V100: 2, P100: 1, K80: 2 }, perNode: 4, policy: "max-min-fairness" });
const solving = solvingThroughputs(cluster);
const { nodes, coupling } = decompose(solving, policyForm(solving));
const layout = clusterLayout(nodes);
const settings = { fractionBits: clusterFractionBits(nodes.length, 4, maxColumnNorm(nodes)), maxAbs: 4, threshold: 2 };

/** Each node's y on its columns: any values within its bounds and its capacity, as its own step keeps them, from a seeded source. */
function someY(label: string): Float64Array[] {
  const random = seededRandom(label);
  return nodes.map((node) => {
    const y = Float64Array.from(node.columns, (c) => (Number(random.uniformBelow(1_000_001n)) / 1e6) * c.upper);
    const booked = y.reduce((sum, v) => sum + v, 0);
    return booked <= 0.9 * node.capacity ? y : y.map((v) => (v * 0.9 * node.capacity) / booked);
  });
}

test("the sums of the nodes' words give the plain round's aggregate and the same repaired plan", () => {
  assert.ok(settings.fractionBits >= 30, `fraction bits ${settings.fractionBits}`);
  const [before, after] = [someY("before"), someY("after")];
  let sum = zeroWords(clusterContributionLength(layout));
  for (const [n, node] of nodes.entries()) sum = addWords(sum, nodeWords(layout, node, settings, after[n], before[n]));
  const sums = clusterSums(layout, settings, sum);
  const secure = aggregateOfSums(3, layout, sums, nodes.length, coupling.resources);
  const plain = clusterAggregate(3, nodes, before, after, coupling.resources);
  const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-9 * (1 + Math.abs(b)), `${what}: ${a} against ${b}`);
  for (const [r, x] of plain.xbar.entries()) close(secure.xbar[r], x, `xbar[${r}]`);
  close(secure.sumSquares, plain.sumSquares, "sum of squares");
  close(secure.sumSquaredSteps, plain.sumSquaredSteps, "sum of squared steps");
  const fromNodes = planFromNodes(cluster, nodes, after);
  const fromSums = planFromNodes(
    cluster,
    layout.blocks.map((b) => b.columns),
    sums.perType,
  );
  for (const job of cluster.jobs)
    for (const type of Object.keys(fromNodes[job.name])) close(fromSums[job.name][type] ?? 0, fromNodes[job.name][type], `${job.name} on ${type}`);
});

test("a node of a type no job runs on writes the scalars alone, and masking still works for every node", () => {
  const idle: typeof cluster = { ...cluster, nodes: [...cluster.nodes, { name: "tpu-0", type: "TPU", count: 4 }, { name: "tpu-1", type: "TPU", count: 4 }] };
  const idleNodes = decompose(solvingThroughputs(idle), policyForm(solvingThroughputs(idle))).nodes;
  const idleLayout = clusterLayout(idleNodes);
  assert.equal(nodeSupport(idleLayout, idleNodes, "tpu-0"), [{ offset: idleLayout.values, length: 8 }]);
  const names = idleNodes.map((n) => n.node);
  const idleKeys = Object.fromEntries(names.map((name) => [name, agreementKeyOf(createHash("sha256").update(name).digest(), "platform", "p")]));
  const attempt = {
    context: { tenant: "platform", problem: "p", round: 1, attempt: 1 },
    roster: names.map((name) => ({ name, publicKey: idleKeys[name].publicKey })),
  };
  for (const [n, name] of names.entries()) {
    const words = nodeWords(idleLayout, idleNodes[n], settings, new Float64Array(idleNodes[n].columns.length), new Float64Array(idleNodes[n].columns.length));
    const c = contribute(
      { name, key: idleKeys[name] },
      attempt,
      words,
      (bytes) => new Uint8Array(bytes).fill(n + 1),
      (agent) => nodeSupport(idleLayout, idleNodes, agent),
    );
    assert.is(c.masked.length, supportLength(nodeSupport(idleLayout, idleNodes, name)));
  }
});

test("a node's words hold its own type's columns only, and refuse a value outside its bounds", () => {
  const y = someY("own");
  const words = nodeWords(layout, nodes[0], settings, y[0], y[0]);
  const own = layout.blocks.find((b) => b.type === nodes[0].type);
  for (const b of layout.blocks) {
    const block = Array.from(words.subarray(b.offset, b.offset + b.columns.columns.length));
    assert.is(
      block.some((w) => w !== 0n),
      b === own,
      b.type,
    );
  }
  assert.throws(
    () =>
      nodeWords(
        layout,
        nodes[0],
        settings,
        Float64Array.from(y[0], () => 5),
        y[0],
      ),
    /outside \[0, 4\]/,
  );
});

const open = (admm = { ...DEFAULT_ADMM, maxRounds: 50 }, secure: object = settings): CatoptEvent<"cluster-open/1"> => ({
  schema: "cluster-open/1",
  id: eventId("platform", "p", "open", 0),
  tenant: "platform",
  problem: "p",
  round: 0,
  base: -1,
  body: { cluster, admm, tenantPlanEvery: 1, secure: secure as typeof settings },
});

function refused(run: () => unknown, reason: RegExp): void {
  try {
    run();
    assert.unreachable("took it");
  } catch (err) {
    assert.ok(err instanceof Refusal, String(err));
    assert.match((err as Error).message, reason);
  }
}

test("the fold refuses a secure cluster open with asynchronous rounds or noise, a join without a key, and a plain delta", () => {
  refused(() => openCluster(open({ ...DEFAULT_ADMM, maxStaleness: 2 })), /synchronous rounds only/);
  refused(() => openCluster(open(undefined, { ...settings, noise: { clip: 1, sigma2: 1 } })), /adds no noise yet/);
  refused(() => openCluster(open(undefined, { ...settings, fractionBits: 40, maxAbs: 2 ** 40 })), /sums do not fit/);
  const first = cluster.nodes[0].name;
  refused(() => acceleratorAllocation.apply(openCluster(open()), joinOf(first), first, new Uint8Array(10)), /without an agreement key/);
  const p = startedCluster();
  assert.equal(
    Object.keys(p.plan?.roster ?? {}),
    cluster.nodes.map((n) => n.name),
    "the first plan names every node",
  );
  const delta: CatoptEvent<"node-delta/1"> = {
    schema: "node-delta/1",
    id: eventId("platform", "p", "delta", 1, first),
    tenant: "platform",
    problem: "p",
    round: 1,
    base: 0,
    body: { index: [0], value: [1] },
  };
  refused(() => acceleratorAllocation.apply(p, delta, first), /is secure: .* must come masked/);
});

const keys = Object.fromEntries(cluster.nodes.map((n) => [n.name, agreementKeyOf(createHash("sha256").update(n.name).digest(), "platform", "p")]));

/** A node's join, with its agreement key unless `keyless`. */
const joinOf = (name: string, keyless = true): CatoptEvent<"node-join/1"> => ({
  schema: "node-join/1",
  id: eventId("platform", "p", "join", 0, name),
  tenant: "platform",
  problem: "p",
  round: 0,
  base: -1,
  body: { type: cluster.nodes.find((n) => n.name === name)?.type ?? "", count: 4, ...(keyless ? {} : { agreementKey: keys[name].publicKey }) },
});

/** A secure cluster problem past round 0: every node joined with its key. */
function startedCluster(): ClusterState {
  let p: ClusterState = openCluster(open());
  for (const n of cluster.nodes) p = acceleratorAllocation.apply(p, joinOf(n.name, false), n.name, new Uint8Array(10)) as ClusterState;
  return closeClusterRound(p, {
    schema: "round/2",
    id: eventId("platform", "p", "round", 0),
    tenant: "platform",
    problem: "p",
    round: 0,
    base: -1,
    body: { took: cluster.nodes.map((n) => eventId("platform", "p", "join", 0, n.name)), closedBy: "all" },
  });
}

/** Round 1 with every node's words (`wordsOf` may lie for some), its round event and every reveal. */
function round1(p: ClusterState, wordsOf: (n: number) => BigUint64Array): ClusterState {
  const names = cluster.nodes.map((n) => n.name);
  const attempt = {
    context: { tenant: "platform", problem: "p", round: 1, attempt: 1 },
    roster: names.map((name) => ({ name, publicKey: keys[name].publicKey })),
  };
  const sent = names.map((name, n) => {
    const c = contribute(
      { name, key: keys[name] },
      attempt,
      wordsOf(n),
      (bytes) => createHash("sha256").update(`${name}/${bytes}`).digest().subarray(0, bytes),
      (agent) => nodeSupport(layout, nodes, agent),
    );
    const event: CatoptEvent<"masked/1"> = {
      schema: "masked/1",
      id: eventId("platform", "p", "masked", 1, name),
      tenant: "platform",
      problem: "p",
      round: 1,
      base: 0,
      body: { attempt: 1, words: wordsToBytes(c.masked), commitment: c.commitment, shares: c.sealedShares, shareDigests: c.shareDigests },
    };
    return { c, event };
  });
  for (const [n, name] of names.entries()) p = acceleratorAllocation.apply(p, sent[n].event, name) as ClusterState;
  p = closeClusterRound(p, {
    schema: "round/2",
    id: eventId("platform", "p", "round", 1),
    tenant: "platform",
    problem: "p",
    round: 1,
    base: 0,
    body: { took: sent.map((x) => x.event.id), closedBy: "all" },
  });
  for (const [n, name] of names.entries()) {
    const reveal: CatoptEvent<"reveal/1"> = {
      schema: "reveal/1",
      id: eventId("platform", "p", "reveal", 1, name),
      tenant: "platform",
      problem: "p",
      round: 1,
      base: 0,
      body: { seed: sent[n].c.selfSeed, took: names, attempt: 1 },
    };
    p = acceleratorAllocation.apply(p, reveal, name) as ClusterState;
  }
  return p;
}

test("a secure round closes on the nodes' sums; one whose sums no honest nodes could give is refused", () => {
  const y = someY("round");
  const honest = (n: number) => nodeWords(layout, nodes[n], settings, y[n], new Float64Array(y[n].length));
  const p = round1(startedCluster(), honest);
  assert.is(p.round, 1);
  assert.ok(
    p.y.every((values) => values.every((v) => v === 0)),
    "the fold holds no node's y",
  );
  // A node that books 1,000 accelerator-time on a column of a 4-accelerator node (its words, masked, show nothing of it).
  const lying = (n: number) =>
    n === 0
      ? nodeWords(
          layout,
          nodes[0],
          { ...settings, maxAbs: 1e6 },
          Float64Array.from(y[0], () => 1000),
          y[0],
        )
      : honest(n);
  refused(() => round1(startedCluster(), lying), /outside what its taken nodes can book|more than its taken nodes/);
});

test.run();
