/**
 * What access control costs a round: the same scenario over NATS on a plain nats-server and on
 * one secured as every deployment is (operator mode, each party with credentials for its role,
 * TLS), in one run, as milliseconds per round and their ratio. Both runs join the server by URL,
 * so neither writes a ledger: the difference is the server's checks and TLS.
 *
 *   npm run bench:secured -- [--scenario gavel-small] [--repeat 2]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { PROJECT_ROOT, startEmbeddedServer } from "../src/bus/embedded-server.ts";
import { generateIdentity } from "../src/governance/identity.ts";
import { saveIdentity } from "../src/governance/keystore.ts";
import { localSecurity } from "../src/governance/local-security.ts";
import { runScenario } from "../src/run/run-scenario.ts";
import { loadScenario } from "../src/run/scenario-files.ts";

const { values } = parseArgs({ options: { scenario: { type: "string" }, repeat: { type: "string" } } });
const name = values.scenario ?? "gavel-small";
const repeats = Number(values.repeat ?? 2);
const loaded = await loadScenario(name, PROJECT_ROOT);
const keys = path.join(await mkdtemp(path.join(tmpdir(), "catopt-bench-keys-")), "keys");
const governance = generateIdentity("governance");
await saveIdentity(keys, governance);
await saveIdentity(keys, generateIdentity("coordinator"));
for (const agent of loaded.family.scenarios.agents(loaded.scenario)) await saveIdentity(keys, generateIdentity(agent));

console.log(`secured round: scenario ${name}, ${repeats} run(s) each, plain and secured alternating`);
const best = { plain: Number.POSITIVE_INFINITY, secured: Number.POSITIVE_INFINITY };
let rounds = 0;
try {
  for (let r = 0; r < repeats; r++) {
    for (const variant of r % 2 === 0 ? (["plain", "secured"] as const) : (["secured", "plain"] as const)) {
      const security = variant === "secured" ? await localSecurity(governance) : undefined;
      const server = await startEmbeddedServer(security === undefined ? {} : { extraConfig: security.serverConfig });
      try {
        const report = await runScenario(loaded, { url: server.url, keys, ...(security === undefined ? {} : { security }) });
        if (!report.converged) throw new Error(`${variant} run ended ${report.status}`);
        rounds = report.rounds;
        const perRound = report.wall_ms / report.rounds;
        best[variant] = Math.min(best[variant], perRound);
        console.log(`  ${variant.padEnd(8)} ${report.rounds} rounds in ${(report.wall_ms / 1000).toFixed(2)} s: ${perRound.toFixed(2)} ms/round`);
      } finally {
        await server.stop();
        await security?.close();
      }
    }
  }
} finally {
  await rm(path.dirname(keys), { recursive: true, force: true });
}
const ratio = best.secured / best.plain;
console.log(`  best: plain ${best.plain.toFixed(2)} ms/round, secured ${best.secured.toFixed(2)} ms/round = ${ratio.toFixed(2)}x`);
console.log(
  JSON.stringify({
    bench: "secured-round",
    scenario: name,
    rounds,
    plain_ms_per_round: Number(best.plain.toFixed(3)),
    secured_ms_per_round: Number(best.secured.toFixed(3)),
    ratio: Number(ratio.toFixed(3)),
  }),
);
