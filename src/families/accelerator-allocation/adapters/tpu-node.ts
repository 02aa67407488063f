import { adapterInputError, type AcceleratorAdapter } from "./accelerator-node.ts";

/**
 * Google TPU: the JSON of `gcloud compute tpus tpu-vm describe <name> --zone <zone> --format=json`.
 * The slice's size comes from "acceleratorType" ("v4-8"; the number counts TensorCores for
 * v2, v3, v4 and v5p, whose chips have two, and chips for v5e "v5litepod" and v6e), or from
 * "acceleratorConfig" ({"type": "V4", "topology": "2x2x1"}: chips = the product). The node's
 * accelerators are chips; the type is "TPU-<generation>" (TPU-v4, TPU-v5e, ...).
 */
const TWO_CORES_PER_CHIP = new Set(["v2", "v3", "v4", "v5p"]);
const GENERATION: Readonly<Record<string, string>> = { v2: "v2", v3: "v3", v4: "v4", v5p: "v5p", v5litepod: "v5e", v5lite_pod: "v5e", v5e: "v5e", v6e: "v6e" };

export const tpuNode: AcceleratorAdapter = {
  name: "tpu-node",
  describe: "Google Cloud TPU VMs: the JSON of gcloud compute tpus tpu-vm describe --format=json",
  command: [],
  toNode(node, text, source) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw adapterInputError(source, `not JSON (${(err as Error).message}); was gcloud run with --format=json?`);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw adapterInputError(source, "expected the JSON object of a TPU VM description");
    const d = json as Record<string, unknown>;
    if (d.state !== undefined && d.state !== "READY")
      throw adapterInputError(`${source}, field "state"`, `the TPU is ${JSON.stringify(d.state)}, not READY: its chips cannot take work`);
    const { generation, chips } = d.acceleratorType !== undefined ? fromType(d.acceleratorType, source) : fromConfig(d.acceleratorConfig, source);
    const id = typeof d.name === "string" ? d.name : node;
    return {
      name: node,
      type: `TPU-${generation}`,
      count: chips,
      devices: Array.from({ length: chips }, (_, i) => ({ id: `${id}/chip${i}`, model: `TPU ${generation}`, memoryMiB: null })),
    };
  },
};

function fromType(value: unknown, source: string): { generation: string; chips: number } {
  const where = `${source}, field "acceleratorType"`;
  const match = typeof value === "string" ? /^(v\d+[a-z]*)-(\d+)$/.exec(value) : null;
  if (match === null) throw adapterInputError(where, `expected "<version>-<size>" such as "v4-8", got ${JSON.stringify(value)}`);
  const [, version, size] = match;
  const generation = GENERATION[version];
  if (generation === undefined) throw adapterInputError(where, `unknown TPU version "${version}" (known: ${Object.keys(GENERATION).join(", ")})`);
  const cores = Number(size);
  const chips = TWO_CORES_PER_CHIP.has(version) ? cores / 2 : cores;
  if (!Number.isInteger(chips) || chips < 1) throw adapterInputError(where, `"${value}" is not a whole number of chips`);
  return { generation, chips };
}

function fromConfig(value: unknown, source: string): { generation: string; chips: number } {
  const where = `${source}, field "acceleratorConfig"`;
  if (typeof value !== "object" || value === null)
    throw adapterInputError(source, 'neither "acceleratorType" nor "acceleratorConfig": is this a TPU VM description?');
  const { type, topology } = value as Record<string, unknown>;
  const generation = typeof type === "string" ? GENERATION[type.toLowerCase()] : undefined;
  if (generation === undefined) throw adapterInputError(`${where}.type`, `unknown TPU type ${JSON.stringify(type)}`);
  const dims = typeof topology === "string" && /^\d+(x\d+)*$/.test(topology) ? topology.split("x").map(Number) : undefined;
  if (dims === undefined) throw adapterInputError(`${where}.topology`, `expected a topology such as "2x2x1", got ${JSON.stringify(topology)}`);
  return { generation, chips: dims.reduce((a, b) => a * b, 1) };
}
