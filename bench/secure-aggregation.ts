/**
 * What secure aggregation costs: the same scenario (of any family) over NATS with secure rounds
 * (masked contributions, a reveal each agent a round) and with plain rounds (deltas), in one run
 * on one embedded server, as rounds per second and bytes a round, and their ratios. The
 * difference is the masking (X25519, HKDF, ChaCha20, Shamir shares sealed for each peer) and the
 * reveal phase, a second exchange in every round.
 *
 *   npm run bench:secure -- [--scenario cosmos-3asset] [--repeat 3]
 *   npm run bench:secure -- --scenario gavel-small
 */
import { parseArgs } from "node:util";
import { PROJECT_ROOT, startEmbeddedServer } from "../src/bus/embedded-server.ts";
import { runScenario } from "../src/run/run-scenario.ts";
import { parseAnyScenario, readScenarioJson } from "../src/run/scenario-files.ts";

const { values } = parseArgs({ options: { scenario: { type: "string" }, repeat: { type: "string" } } });
const name = values.scenario ?? "cosmos-3asset";
const repeats = Number(values.repeat ?? 3);
const { file, json } = await readScenarioJson(name, PROJECT_ROOT);
// Each family reads "secure" the same way: true asks for secure rounds (refused, with why, where the rounds cannot take them).
const variants = {
  secure: parseAnyScenario({ ...(json as object), secure: true }, file),
  plain: parseAnyScenario({ ...(json as object), secure: false }, file),
};
const problem = variants.secure.scenario.problem;

console.log(`secure aggregation: scenario ${name}, ${repeats} run(s) each, secure and plain alternating, one embedded server`);
const best = { secure: { roundsPerSecond: 0, bytes: 0, rounds: 0 }, plain: { roundsPerSecond: 0, bytes: 0, rounds: 0 } };
const server = await startEmbeddedServer();
try {
  for (let r = 0; r < repeats; r++) {
    for (const variant of r % 2 === 0 ? (["plain", "secure"] as const) : (["secure", "plain"] as const)) {
      const report = await runScenario(variants[variant], { url: server.url, problemId: `${problem}-${variant}-${r}` });
      if (!report.converged) throw new Error(`${variant} run ended ${report.status}`);
      if (report.secure.on !== (variant === "secure")) throw new Error(`the ${variant} run's rounds were ${report.secure.on ? "secure" : "plain"}`);
      const roundsPerSecond = report.rounds / (report.wall_ms / 1000);
      if (roundsPerSecond > best[variant].roundsPerSecond) best[variant] = { roundsPerSecond, bytes: report.bytes_per_round, rounds: report.rounds };
      console.log(
        `  ${variant.padEnd(7)} ${report.rounds} rounds in ${(report.wall_ms / 1000).toFixed(2)} s: ${roundsPerSecond.toFixed(1)} rounds/s, ${report.bytes_per_round.toFixed(0)} bytes a round, objective ${report.objective}`,
      );
    }
  }
} finally {
  await server.stop();
}
const speed = best.secure.roundsPerSecond / best.plain.roundsPerSecond;
const size = best.secure.bytes / best.plain.bytes;
console.log(
  `  best: plain ${best.plain.roundsPerSecond.toFixed(1)} rounds/s, secure ${best.secure.roundsPerSecond.toFixed(1)} rounds/s = ${speed.toFixed(2)}x; ` +
    `bytes a round: plain ${best.plain.bytes.toFixed(0)}, secure ${best.secure.bytes.toFixed(0)} = ${size.toFixed(2)}x`,
);
console.log(
  JSON.stringify({
    bench: "secure-aggregation",
    scenario: name,
    rounds: { plain: best.plain.rounds, secure: best.secure.rounds },
    plain_rounds_per_second: Number(best.plain.roundsPerSecond.toFixed(2)),
    secure_rounds_per_second: Number(best.secure.roundsPerSecond.toFixed(2)),
    speed_ratio: Number(speed.toFixed(3)),
    plain_bytes_per_round: Math.round(best.plain.bytes),
    secure_bytes_per_round: Math.round(best.secure.bytes),
    bytes_ratio: Number(size.toFixed(3)),
  }),
);
