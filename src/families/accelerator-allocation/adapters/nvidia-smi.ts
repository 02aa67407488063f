import { adapterInputError, inventoryOf, type AcceleratorAdapter } from "./accelerator-node.ts";

/**
 * NVIDIA: the CSV of `nvidia-smi --query-gpu=index,name,memory.total,uuid --format=csv`, header
 * included (it names the columns, so any order and extra columns are fine; `name` is required):
 *
 *   index, name, memory.total [MiB], uuid
 *   0, NVIDIA A100-SXM4-40GB, 40960 MiB, GPU-6f1d...
 */
export const nvidiaSmi: AcceleratorAdapter = {
  name: "nvidia-smi",
  describe: "NVIDIA GPUs: the CSV of nvidia-smi --query-gpu=index,name,memory.total,uuid --format=csv",
  command: ["nvidia-smi", "--query-gpu=index,name,memory.total,uuid", "--format=csv"],
  toNode(node, text, source) {
    const lines = text
      .split(/\r?\n/)
      .map((line, i) => ({ line, number: i + 1 }))
      .filter(({ line }) => line.trim() !== "");
    const header = lines[0];
    if (header === undefined) throw adapterInputError(source, "empty: expected the CSV of nvidia-smi --query-gpu=...,name,... --format=csv");
    const columns = header.line.split(",").map((c) => c.trim().replace(/\s*\[.*\]$/, ""));
    const at = (name: string) => columns.indexOf(name);
    if (at("name") < 0)
      throw adapterInputError(
        `${source} line ${header.number}`,
        `expected nvidia-smi's CSV header naming a "name" column (got "${header.line.trim()}"; was it run with --format=csv,noheader?)`,
      );
    const devices = lines.slice(1).map(({ line, number }) => {
      const where = `${source} line ${number}`;
      const cells = line.split(",").map((c) => c.trim());
      if (cells.length !== columns.length) throw adapterInputError(where, `${cells.length} fields where the header has ${columns.length}`);
      const cell = (name: string) => (at(name) < 0 ? undefined : cells[at(name)]);
      const model = cell("name") as string;
      if (model === "" || model === "[N/A]") throw adapterInputError(`${where}, field "name"`, "no model name");
      return {
        id: cell("uuid") ?? cell("index") ?? String(number - header.number - 1),
        model,
        memoryMiB: memoryOf(cell("memory.total"), `${where}, field "memory.total"`),
        where,
      };
    });
    return inventoryOf(node, devices, source);
  },
};

/** "40960 MiB", or "40960" with nounits; "[N/A]" where the driver cannot tell. */
function memoryOf(value: string | undefined, where: string): number | null {
  if (value === undefined || value === "[N/A]") return null;
  const match = /^(\d+(?:\.\d+)?)(?:\s*MiB)?$/.exec(value);
  if (match === null) throw adapterInputError(where, `expected a size in MiB such as "40960 MiB", got "${value}"`);
  return Number(match[1]);
}
