/**
 * What refusing a hostile message costs, beside accepting a valid one (the baseline), in the
 * same run: each kind is judged by the ledger's judge (signature first, then decoding and
 * every bound), as the governance consumer, the coordinator's fold and replay do. A ratio
 * near 1 or below means an attacker cannot make a refusal dearer than honest work.
 *
 *   npm run bench:refusal -- [--messages 2000]
 */
import { parseArgs } from "node:util";
import { envelopeBytes } from "../src/governance/signed-publish.ts";
import { encode } from "../src/core/codec.ts";
import { encodeEnvelope } from "../src/core/envelope.ts";
import { encodeEvent, type CatoptEvent } from "../src/core/event.ts";
import { deltaSubject, governanceSubject } from "../src/core/subjects.ts";
import { admitEvent } from "../src/governance/governance-events.ts";
import { generateIdentity, signBytes } from "../src/governance/identity.ts";
import { ledgerJudge } from "../src/governance/ledger.ts";

const { values } = parseArgs({ options: { messages: { type: "string" } } });
const count = Number(values.messages ?? 2000);
const governance = generateIdentity("governance");
const agent = generateIdentity("a");
const subject = deltaSubject("bench", "p", "a");
const entries = Object.fromEntries(["t08", "t10", "t12", "t14", "t16", "t18"].map((r, j) => [r, 100 + j]));
const delta = (i: number, body: Record<string, unknown> = { entries, objective: 1 }): CatoptEvent<"delta/1"> =>
  ({ schema: "delta/1", id: `bench/p/delta/${i}/a`, tenant: "bench", problem: "p", round: i, base: i - 1, body }) as unknown as CatoptEvent<"delta/1">;
const signed = (bytes: Uint8Array, author = agent.did) => encodeEnvelope({ event: bytes, author, sig: signBytes(agent, bytes) });
const nested = (depth: number): Uint8Array => Uint8Array.from([...new Array(depth).fill(0x91), 0xc0]);

const kinds: [string, (i: number) => Uint8Array][] = [
  ["valid delta (baseline)", (i) => envelopeBytes(delta(i), agent)],
  ["author of 1 MB", (i) => encodeEnvelope({ event: encodeEvent(delta(i)), author: `did:key:z${"6Mk".repeat(330_000)}`, sig: new Uint8Array(64) })],
  ["bad signature", (i) => encodeEnvelope({ event: encodeEvent(delta(i)), author: agent.did, sig: new Uint8Array(64) })],
  ["value 1e300", (i) => envelopeBytes(delta(i, { entries: { ...entries, t08: 1e300 }, objective: 1 }), agent)],
  [
    "body of 100k keys",
    (i) =>
      signed(
        encode({
          schema: "delta/1",
          id: `bench/p/delta/${i}/a`,
          tenant: "bench",
          problem: "p",
          round: i,
          base: i - 1,
          body: { entries: Object.fromEntries(Array.from({ length: 100_000 }, (_, k) => [`r${k}`, k])), objective: 1 },
        }),
      ),
  ],
  ["nesting 500k deep", () => signed(nested(500_000))],
];

const admit = envelopeBytes(admitEvent("bench", agent.did, "agent", "a"), governance);
const results: [string, number][] = [];
for (const [name, make] of kinds) {
  const messages = Array.from(
    { length: Math.min(count, name.startsWith("valid") || name === "bad signature" || name === "value 1e300" ? count : 50) },
    (_, i) => make(i + 1),
  );
  const judge = ledgerJudge(governance.did);
  judge.judge(1, governanceSubject("bench", "admit"), admit);
  const start = performance.now();
  let refused = 0;
  for (const [i, data] of messages.entries()) if (judge.judge(i + 2, subject, data) !== undefined) refused++;
  const perMessage = (performance.now() - start) / messages.length;
  results.push([name, perMessage]);
  console.log(
    `${name.padEnd(24)} ${(perMessage * 1000).toFixed(1).padStart(9)} us/message  (${messages.length} judged, ${refused} refused, ${(messages[0].length / 1024).toFixed(1)} KiB each)`,
  );
}
const baseline = results[0][1];
console.log("\nrefusal cost / accepting a valid delta:");
for (const [name, perMessage] of results.slice(1)) console.log(`  ${name.padEnd(24)} ${(perMessage / baseline).toFixed(2)}x`);
