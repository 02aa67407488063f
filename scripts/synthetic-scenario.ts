// Writes a cluster scenario built by src/families/accelerator-allocation/synthetic.ts (Gavel's measured throughputs,
// the job mix of its Philly trace), deterministic for a seed. scenarios/gavel-2000 came from:
//   node --import tsx scripts/synthetic-scenario.ts gavel-2000 2020 2000 8 max-min-fairness 50 5e-7
// (epsAbs 5e-7: with the default 1e-6 the max-min plan of 2,000 jobs stops 1.04e-3 short of HiGHS.)
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { POLICIES, type PolicyName } from "../src/families/accelerator-allocation/cluster.ts";
import { syntheticCluster } from "../src/families/accelerator-allocation/synthetic.ts";
import { PROJECT_ROOT } from "../src/bus/embedded-server.ts";

const [name, seed, jobs, tenants, policy, tenantPlanEvery, epsAbs] = process.argv.slice(2);
if (tenantPlanEvery === undefined || !(POLICIES as readonly string[]).includes(policy)) {
  console.error(`usage: synthetic-scenario <name> <seed> <jobs> <tenants> <${POLICIES.join("|")}> <tenantPlanEvery> [epsAbs]`);
  process.exit(2);
}
const nodes = { V100: 16, P100: 16, K80: 16, A100: 16 };
const cluster = syntheticCluster({ seed: Number(seed), jobs: Number(jobs), tenants: Number(tenants), nodes, perNode: 8, policy: policy as PolicyName });
const scenario = {
  format: "catopt-cluster/1",
  name,
  description:
    `${jobs} training jobs of ${tenants} tenants on 64 nodes of 8 accelerators (16 nodes each of V100, P100, K80, A100). ` +
    "Per-type single-accelerator throughputs are Gavel's measured steps/s (Narayanan et al., OSDI 2020, stanford-futuredata/gavel " +
    "scheduler/simulation_throughputs.json) for ResNet-18/50, Transformer, LM (LSTM), Recommendation, A3C and CycleGAN, each job " +
    "varied by +-10%; prices are Gavel's per-hour list prices (utils.py). Synthetic: the A100 column (V100 times the A100/V100 " +
    "ratio of the closest model in Sia's artifacts, SOSP 2023) and its price, gang scaling (0.85 per doubling), steps left and SLO floors. " +
    `Job mix as Gavel's Philly trace: 70% on 1 accelerator, 10% on 2, 15% on 4, 5% on 8. Made by scripts/synthetic-scenario.ts ${process.argv.slice(2).join(" ")}.`,
  tenant: "platform",
  problem: name,
  policy: cluster.policy,
  prices: cluster.prices,
  tenantPlanEvery: Number(tenantPlanEvery),
  ...(epsAbs === undefined ? {} : { admm: { epsAbs: Number(epsAbs) } }),
  nodes: cluster.nodes,
  jobs: cluster.jobs,
};
const dir = path.join(PROJECT_ROOT, "scenarios", name);
await mkdir(dir, { recursive: true });
// One job per line: the file stays readable and diffs stay small.
const { jobs: jobList, ...head } = scenario;
const text = `${JSON.stringify(head, null, 2).slice(0, -2)},\n  "jobs": [\n${jobList.map((j) => `    ${JSON.stringify(j)}`).join(",\n")}\n  ]\n}\n`;
await writeFile(path.join(dir, "scenario.json"), text);
console.log(`wrote ${path.join(dir, "scenario.json")}: ${cluster.nodes.length} nodes, ${cluster.jobs.length} jobs`);
