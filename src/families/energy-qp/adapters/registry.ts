import type { Adapter } from "./adapter.ts";
import { energyAsset } from "./energy-asset.ts";

/** Every adapter a scenario may name. Add new ones here (see AGENTS.md). */
export const ADAPTERS: ReadonlyMap<string, Adapter> = new Map([[energyAsset.name, energyAsset]]);
