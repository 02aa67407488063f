import { adapterInputError, inventoryOf, type AcceleratorAdapter } from "./accelerator-node.ts";

/**
 * AMD: the JSON of `rocm-smi --showproductname --showmeminfo vram --json`: one object per
 * card ("card0", "card1", ...), keyed by rocm-smi's labels, which changed case between ROCm
 * releases ("Card series" in 5.x, "Card Series" in 6.x), so labels are matched without case.
 * Other top-level keys ("system") are not cards.
 */
export const rocmSmi: AcceleratorAdapter = {
  name: "rocm-smi",
  describe: "AMD Instinct GPUs: the JSON of rocm-smi --showproductname --showmeminfo vram --json",
  command: ["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json"],
  toNode(node, text, source) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw adapterInputError(source, `not JSON (${(err as Error).message}); was rocm-smi run with --json?`);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json))
      throw adapterInputError(source, 'expected rocm-smi\'s JSON object of cards ("card0": {...})');
    const cards = Object.entries(json).filter(([key]) => /^card\d+$/.test(key));
    if (cards.length === 0) throw adapterInputError(source, `no "card<N>" entries (keys: ${Object.keys(json).join(", ") || "none"})`);
    const devices = cards.map(([card, fields]) => {
      const where = `${source}, field ${card}`;
      if (typeof fields !== "object" || fields === null) throw adapterInputError(where, "expected an object of rocm-smi labels");
      const label = (name: string): unknown => Object.entries(fields).find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];
      const series = label("Card Series") ?? label("Device Name");
      if (typeof series !== "string" || series.trim() === "") throw adapterInputError(`${where}."Card Series"`, "missing: run rocm-smi with --showproductname");
      const vram = label("VRAM Total Memory (B)");
      let memoryMiB: number | null = null;
      if (vram !== undefined) {
        const bytes = Number(vram);
        if (!Number.isFinite(bytes) || bytes <= 0)
          throw adapterInputError(`${where}."VRAM Total Memory (B)"`, `expected a byte count, got ${JSON.stringify(vram)}`);
        memoryMiB = bytes / 2 ** 20;
      }
      const guid = label("GUID") ?? label("Unique ID");
      return { id: typeof guid === "string" ? guid : card, model: series.trim(), memoryMiB, where };
    });
    return inventoryOf(node, devices, source);
  },
};
