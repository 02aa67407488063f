/**
 * What differential privacy costs a plan: cosmos-3asset over NATS with noise sized so that its
 * rounds spend exactly a budget epsilon (delta 1e-6, values clipped to 1,000 Wh), for several
 * epsilons, beside the same secure run without noise, in one run on one embedded server. Prints,
 * per epsilon, the noise's standard deviation in each round's sum, the plan's relative gap to HiGHS
 * and its worst constraint violation (the median of the repeats, and their range), the gap as a
 * ratio to the run without noise, and writes the picture (docs/privacy-gap.svg).
 *
 * `--fleet k` runs cosmos-3asset's fleet k times over instead (each asset k times, its wants
 * scaled by a fixed factor between 0.8 and 1.2, the constraints' limits k times): what the same
 * budget costs a larger fleet, whose sums grow with it while each round's noise grows as its root.
 *
 *   npm run bench:privacy -- [--rounds 40] [--repeat 3] [--fleet 1] [--honest 2] [--epsilons 0.5,1,2,8,64,512] [--svg docs/privacy-gap.svg]
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { PROJECT_ROOT, startEmbeddedServer } from "../src/bus/embedded-server.ts";
import { energyQpScenarios } from "../src/families/energy-qp/scenario-format.ts";
import { runScenario } from "../src/run/run-scenario.ts";
import { withFamily } from "../src/run/scenario-files.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string" },
    repeat: { type: "string" },
    svg: { type: "string" },
    fleet: { type: "string" },
    epsilons: { type: "string" },
    honest: { type: "string" },
  },
});
const rounds = Number(values.rounds ?? 40);
const repeats = Number(values.repeat ?? 3);
const fleet = Number(values.fleet ?? 1);
/** The honest agents the noise is shared by (scenario privacy.honest; default the threshold, 2). */
const honest = values.honest === undefined ? {} : { honest: Number(values.honest) };
const svgFile = values.svg ?? path.join(PROJECT_ROOT, "docs", fleet === 1 ? "privacy-gap.svg" : `privacy-gap-fleet-${fleet}.svg`);
const EPSILONS = (values.epsilons ?? "0.5,1,2,8,64,512").split(",").map(Number);
const CLIP = 1000;
const json = fleetOf(JSON.parse(await readFile(path.join(PROJECT_ROOT, "scenarios", "cosmos-3asset", "scenario.json"), "utf8")), fleet);

type Asset = { agent: string; node: string; adapter: string; input: { slots: Record<string, { want: number }> } };
/** cosmos-3asset's fleet `k` times over: each asset k times (wants scaled by a fixed factor in [0.8, 1.2]), the limits k times. */
function fleetOf(scenario: { assets: Asset[]; constraints: { limit: number }[] }, k: number): typeof scenario {
  if (k === 1) return scenario;
  const assets = Array.from({ length: k }, (_, copy) =>
    scenario.assets.map((a, i) => {
      const factor = 0.8 + (0.4 * ((copy * 7 + i * 3) % 11)) / 10;
      const slots = Object.fromEntries(Object.entries(a.input.slots).map(([slot, s]) => [slot, { ...s, want: s.want * factor }]));
      return { ...a, agent: `${a.agent}-${copy}`, node: `${a.node}-${copy}`, input: { slots } };
    }),
  ).flat();
  return { ...scenario, assets, constraints: scenario.constraints.map((c) => ({ ...c, limit: c.limit * k })) };
}

type Row = { epsilon: number | null; sigma: number; gaps: number[]; violations: number[]; statuses: string[] };
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(
  `differential privacy: cosmos-3asset${fleet === 1 ? "" : ` ${fleet} times over (${json.assets.length} agents)`}, ${rounds} rounds a run, values clipped to ${CLIP} Wh, delta 1e-6, ${repeats} run(s) each, one embedded server`,
);
const rows: Row[] = [];
const server = await startEmbeddedServer();
try {
  for (const [index, epsilon] of [null, ...EPSILONS].entries()) {
    const scenario = energyQpScenarios.parse(
      epsilon === null ? json : { ...json, privacy: { epsilon, delta: 1e-6, clip: CLIP, rounds, ...honest } },
      epsilon === null ? "cosmos-3asset" : `cosmos-3asset, epsilon ${epsilon}`,
    );
    const noise = scenario.spec.secure?.noise;
    // Each agent adds the threshold's share (secure-layout.ts roundPrivacyCost): a round of all the agents carries that much more.
    const agents = scenario.spec.agents.length;
    const threshold = scenario.spec.secure?.threshold ?? agents;
    const row: Row = { epsilon, sigma: noise === undefined ? 0 : Math.sqrt((noise.sigma2 * agents) / threshold), gaps: [], violations: [], statuses: [] };
    for (let r = 0; r < (epsilon === null ? 1 : repeats); r++) {
      const report = await runScenario(withFamily(energyQpScenarios, scenario), { url: server.url, problemId: `dp-${index}-${r}` });
      if (report.replay_state_hash !== report.state_hash) throw new Error(`epsilon ${epsilon}: the replay's hash differs from the live run's`);
      if (epsilon !== null && !((report.privacy?.epsilon ?? Infinity) <= epsilon * (1 + 1e-9)))
        throw new Error(`epsilon ${epsilon}: the run spent ${report.privacy?.epsilon}`);
      row.gaps.push(report.gap ?? Number.NaN);
      row.violations.push(report.max_violation ?? Number.NaN);
      row.statuses.push(report.status);
    }
    rows.push(row);
    const label = epsilon === null ? "no noise" : `epsilon ${epsilon}`;
    console.log(
      `  ${label.padEnd(12)} noise sd ${row.sigma.toFixed(0).padStart(6)} Wh  gap ${median(row.gaps).toExponential(2)} [${Math.min(...row.gaps).toExponential(1)}, ${Math.max(...row.gaps).toExponential(1)}]  violation ${median(row.violations).toFixed(1)} Wh  ${row.statuses.join(",")}`,
    );
  }
} finally {
  await server.stop();
}

const baseline = median(rows[0].gaps);
console.log("\n| epsilon | noise sd in a round's sum (Wh) | relative gap to HiGHS (median) | worst violation (Wh) | gap / no-noise gap |");
console.log("| --- | --- | --- | --- | --- |");
for (const row of rows)
  console.log(
    `| ${row.epsilon ?? "none"} | ${row.sigma.toFixed(0)} | ${median(row.gaps).toExponential(2)} | ${median(row.violations).toFixed(1)} | ${(median(row.gaps) / baseline).toExponential(1)}x |`,
  );
await writeFile(svgFile, picture(rows.slice(1), baseline));
console.log(`\npicture: ${path.relative(process.cwd(), svgFile)}`);
console.log(
  JSON.stringify({
    bench: "privacy-gap",
    rounds,
    clip: CLIP,
    no_noise_gap: baseline,
    rows: rows.slice(1).map((r) => ({
      epsilon: r.epsilon,
      sigma: Number(r.sigma.toFixed(1)),
      gap: median(r.gaps),
      violation: median(r.violations),
      gap_ratio: median(r.gaps) / baseline,
    })),
  }),
);

/** The gap against epsilon, both on log scales, each point the median with the range of its runs; the run without noise as a line. */
function picture(points: readonly Row[], noNoise: number): string {
  const [width, height, left, bottom, top, right] = [640, 400, 70, 50, 30, 20];
  const logX = (e: number) => left + ((Math.log10(e) - Math.log10(0.25)) / (Math.log10(1024) - Math.log10(0.25))) * (width - left - right);
  const yMin = Math.floor(Math.log10(Math.max(1e-12, noNoise))) - 1;
  const yMax = Math.ceil(Math.log10(Math.max(...points.flatMap((p) => p.gaps)))) + 1;
  const logY = (g: number) => top + ((yMax - Math.log10(Math.max(g, 10 ** yMin))) / (yMax - yMin)) * (height - top - bottom);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14">cosmos-3asset: relative gap to HiGHS against the privacy budget (${rounds} rounds, delta 1e-6)</text>`,
    `<line x1="${left}" y1="${height - bottom}" x2="${width - right}" y2="${height - bottom}" stroke="black"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${height - bottom}" stroke="black"/>`,
    ...[0.5, 1, 2, 8, 64, 512].map(
      (e) =>
        `<text x="${logX(e)}" y="${height - bottom + 16}" text-anchor="middle">${e}</text><line x1="${logX(e)}" y1="${height - bottom}" x2="${logX(e)}" y2="${height - bottom + 4}" stroke="black"/>`,
    ),
    `<text x="${width / 2}" y="${height - 12}" text-anchor="middle">epsilon (log scale)</text>`,
    ...Array.from({ length: yMax - yMin + 1 }, (_, i) => yMin + i).map(
      (k) =>
        `<text x="${left - 6}" y="${logY(10 ** k) + 4}" text-anchor="end">1e${k}</text><line x1="${left}" y1="${logY(10 ** k)}" x2="${width - right}" y2="${logY(10 ** k)}" stroke="#eee"/>`,
    ),
    `<text x="16" y="${height / 2}" transform="rotate(-90 16 ${height / 2})" text-anchor="middle">relative gap (log scale)</text>`,
    `<line x1="${left}" y1="${logY(noNoise)}" x2="${width - right}" y2="${logY(noNoise)}" stroke="#2a7" stroke-dasharray="6 4"/>`,
    `<text x="${width - right - 4}" y="${logY(noNoise) - 6}" text-anchor="end" fill="#2a7">secure, no noise (converged)</text>`,
    `<polyline fill="none" stroke="#c33" stroke-width="2" points="${points.map((p) => `${logX(p.epsilon ?? 1)},${logY(median(p.gaps))}`).join(" ")}"/>`,
    ...points.map((p) => {
      const x = logX(p.epsilon ?? 1);
      return `<line x1="${x}" y1="${logY(Math.min(...p.gaps))}" x2="${x}" y2="${logY(Math.max(...p.gaps))}" stroke="#c33"/><circle cx="${x}" cy="${logY(median(p.gaps))}" r="4" fill="#c33"/>`;
    }),
    "</svg>",
  ];
  return `${parts.join("\n")}\n`;
}
