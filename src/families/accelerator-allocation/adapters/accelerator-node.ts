import type { ClusterNode } from "../cluster.ts";
import { catoptError } from "../../../core/errors.ts";

/**
 * Functors for accelerator nodes: a vendor tool's own output on a node (nvidia-smi's CSV,
 * rocm-smi's JSON, a TPU VM's description) -> the vendor-agnostic node a node agent owns: its
 * name, its accelerator type (as cluster scenarios name types) and how many it has. Input an
 * adapter does not understand is an ADAPTER_INPUT error naming the source, the line or the
 * field, and why.
 */
export type AcceleratorDevice = { readonly id: string; readonly model: string; readonly memoryMiB: number | null };

export type NodeInventory = ClusterNode & { readonly devices: readonly AcceleratorDevice[] };

export type AcceleratorAdapter = {
  readonly name: string;
  readonly describe: string;
  /** The command whose output the adapter reads, run on the node when no input file is given. */
  readonly command: readonly string[];
  toNode(node: string, text: string, source: string): NodeInventory;
};

/** Model names as the tools print them -> the type names of cluster scenarios and published figures. */
const KNOWN_MODELS: readonly (readonly [RegExp, string])[] = [
  [/\bH200\b/i, "H200"],
  [/\bH100\b/i, "H100"],
  [/\bA100\b/i, "A100"],
  [/\bV100\b/i, "V100"],
  [/\bP100\b/i, "P100"],
  [/\bK80\b/i, "K80"],
  [/\bL4\b/i, "L4"],
  [/\bT4\b/i, "T4"],
  [/\bA10G?\b/i, "A10"],
  [/\bMI300X\b/i, "MI300X"],
  [/\bMI250X?\b/i, "MI250X"],
  [/\bMI210\b/i, "MI210"],
  [/\bMI100\b/i, "MI100"],
];

/** The accelerator type of a model name, or undefined for a model we do not know. */
export function canonicalType(model: string): string | undefined {
  return KNOWN_MODELS.find(([pattern]) => pattern.test(model))?.[1];
}

export const knownTypes = (): string => [...new Set(KNOWN_MODELS.map(([, type]) => type))].join(", ");

export function adapterInputError(where: string, why: string): Error {
  return catoptError("ADAPTER_INPUT", `${where}: ${why}`);
}

/**
 * One node from its devices: every device must be of one known type (a node agent owns one
 * pool of identical accelerators; `type` overrides the model lookup for models we do not know).
 */
export function inventoryOf(node: string, devices: readonly (AcceleratorDevice & { readonly where: string })[], source: string, type?: string): NodeInventory {
  if (devices.length === 0) throw adapterInputError(source, "no accelerators listed");
  let nodeType: string | undefined = type;
  for (const device of devices) {
    const deviceType = type ?? canonicalType(device.model);
    if (deviceType === undefined)
      throw adapterInputError(device.where, `unknown accelerator model "${device.model}" (known: ${knownTypes()}; or name the type with --type)`);
    nodeType ??= deviceType;
    if (deviceType !== nodeType)
      throw adapterInputError(device.where, `a ${deviceType} on a node of ${nodeType}: a node agent owns one type of accelerator (run one agent per type)`);
  }
  return { name: node, type: nodeType as string, count: devices.length, devices: devices.map(({ where: _where, ...d }) => d) };
}
