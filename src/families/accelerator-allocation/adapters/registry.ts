import type { AcceleratorAdapter } from "./accelerator-node.ts";
import { nvidiaSmi } from "./nvidia-smi.ts";
import { rocmSmi } from "./rocm-smi.ts";
import { tpuNode } from "./tpu-node.ts";

/** Every accelerator adapter `catopt agent --adapter` may name. Add new ones here (see AGENTS.md). */
export const ACCELERATOR_ADAPTERS: ReadonlyMap<string, AcceleratorAdapter> = new Map([nvidiaSmi, rocmSmi, tpuNode].map((a) => [a.name, a]));
