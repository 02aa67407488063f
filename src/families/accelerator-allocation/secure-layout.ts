import type { SecureSettings } from "../../core/problem-spec.ts";
import type { RoundAggregate } from "../../solver/admm.ts";
import type { Support } from "../../secure/masks.ts";
import { fromLimbs, MAX_FRACTION_BITS, toLimbs, type Words } from "../../secure/ring.ts";
import type { NodeProblem } from "./decompose.ts";
import { addContribution, columnNorms } from "./node-step.ts";

/**
 * What a node agent contributes to a secure round, in the problem's fixed point: its
 * accelerator-time on every column of its type (one word each; nodes of one type share their
 * columns, jobs that run on the type), zero on every other type's columns; then the squared norms
 * of its contribution and of its step, as the coordinator's residuals weigh them (each as limbs
 * with twice the fraction bits). Their sums are sums per job and type, all the coordinator's step
 * and the plan's repair need (planFromNodes only adds a type's columns up): no node's own.
 */
const SCALAR_LIMBS = 4;
const SCALAR_BITS = 32 * SCALAR_LIMBS - 2;
const VALUE_BITS = 62;

/** Each type's block of words: its columns (those of its first node: a type's nodes share them), in the cluster's order of types. */
export type ClusterLayout = {
  readonly blocks: readonly { readonly type: string; readonly columns: NodeProblem; readonly offset: number }[];
  readonly values: number;
};

const layouts = new WeakMap<readonly NodeProblem[], ClusterLayout>();

export function clusterLayout(nodes: readonly NodeProblem[]): ClusterLayout {
  let layout = layouts.get(nodes);
  if (layout === undefined) {
    const blocks: { type: string; columns: NodeProblem; offset: number }[] = [];
    let offset = 0;
    for (const node of nodes) {
      if (blocks.some((b) => b.type === node.type)) continue;
      blocks.push({ type: node.type, columns: node, offset });
      offset += node.columns.length;
    }
    layout = { blocks, values: offset };
    layouts.set(nodes, layout);
  }
  return layout;
}

export const clusterContributionLength = (layout: ClusterLayout): number => layout.values + 2 * SCALAR_LIMBS;

/**
 * The words node `name` writes (masks.ts Support): its type's columns and the scalars. Its masked
 * contribution carries only those, and it masks its columns with the nodes of its type alone
 * (every other node has zero there): a round's sums are the same, at a fraction of the words.
 */
export function nodeSupport(layout: ClusterLayout, nodes: readonly NodeProblem[], name: string): Support {
  const type = nodes.find((n) => n.node === name)?.type ?? fail(`${name} is not a node of the cluster`);
  const block = layout.blocks.find((b) => b.type === type) ?? fail(`type ${type} has no block in the cluster's layout`);
  const scalars = { offset: layout.values, length: 2 * SCALAR_LIMBS };
  // A type no job can run on has no columns: its nodes write the scalars alone.
  return block.columns.columns.length === 0 ? [scalars] : [{ offset: block.offset, length: block.columns.columns.length }, scalars];
}

/**
 * The most fraction bits a cluster's secure sums can have: each column's sum over `nodes` nodes of
 * at most `maxCount` accelerators in a word, and the weighted squares (at most `maxNorm` times the
 * square of a node's time, twice that for a step) in their limbs.
 */
export function clusterFractionBits(nodes: number, maxCount: number, maxNorm: number): number {
  const bits = (x: number): number => Math.ceil(Math.log2(x + 1));
  return Math.min(MAX_FRACTION_BITS, VALUE_BITS - bits(nodes * maxCount), Math.floor((SCALAR_BITS - bits(4 * nodes * maxNorm * maxCount * maxCount)) / 2));
}

/** The largest weight of a column in the residuals' squares, over the cluster's types. */
export const maxColumnNorm = (nodes: readonly NodeProblem[]): number =>
  Math.max(1, ...clusterLayout(nodes).blocks.flatMap((b) => Array.from(columnNorms(b.columns))));

/** A node's words for a round: its proposed y on its type's columns, and its weighted squares and step's. */
export function nodeWords(layout: ClusterLayout, node: NodeProblem, settings: SecureSettings, next: ArrayLike<number>, previous: ArrayLike<number>): Words {
  const block = layout.blocks.find((b) => b.type === node.type) ?? fail(`type ${node.type} has no block in the cluster's layout`);
  const scale = 2 ** settings.fractionBits;
  const words = new BigUint64Array(clusterContributionLength(layout));
  const norm = columnNorms(node);
  let squares = 0;
  let steps = 0;
  for (let k = 0; k < node.columns.length; k++) {
    const y = next[k];
    if (!(y >= 0 && y <= settings.maxAbs)) fail(`column ${k} is ${y}, outside [0, ${settings.maxAbs}]`);
    words[block.offset + k] = BigInt(Math.round(y * scale));
    squares += norm[k] * y * y;
    steps += norm[k] * (y - previous[k]) * (y - previous[k]);
  }
  const fixed2 = (x: number): bigint => BigInt(Math.round(x * scale * scale));
  words.set(toLimbs(fixed2(squares), SCALAR_LIMBS), layout.values);
  words.set(toLimbs(fixed2(steps), SCALAR_LIMBS), layout.values + SCALAR_LIMBS);
  return words;
}

/** The sums a round's words add up to: each type's column sums, and the sums of the weighted squares. */
export type ClusterSums = { readonly perType: readonly (readonly number[])[]; readonly sumSquares: number; readonly sumSquaredSteps: number };

export function clusterSums(layout: ClusterLayout, settings: SecureSettings, words: Words): ClusterSums {
  const scale = 2 ** settings.fractionBits;
  const scalar = (k: number): number =>
    Number(fromLimbs(Array.from(words.subarray(layout.values + k * SCALAR_LIMBS, layout.values + (k + 1) * SCALAR_LIMBS)))) / (scale * scale);
  return {
    perType: layout.blocks.map((b) => Array.from(words.subarray(b.offset, b.offset + b.columns.columns.length), (w) => Number(BigInt.asIntN(64, w)) / scale)),
    sumSquares: scalar(0),
    sumSquaredSteps: scalar(1),
  };
}

/** The round's aggregate from its sums (clusterAggregate's, summed per type instead of per node: the contribution is linear in y). */
export function aggregateOfSums(round: number, layout: ClusterLayout, sums: ClusterSums, nodes: number, resources: number): RoundAggregate {
  const total = new Float64Array(resources);
  for (const [t, b] of layout.blocks.entries()) addContribution(b.columns, sums.perType[t], total);
  return { round, agents: nodes, xbar: Array.from(total, (v) => v / nodes), sumSquares: sums.sumSquares, sumSquaredSteps: sums.sumSquaredSteps };
}

function fail(reason: string): never {
  throw new RangeError(reason);
}
