import { readFile, writeFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { envelopeBytes } from "../../src/governance/signed-publish.ts";
import { decodeEnvelope, encodeEnvelope } from "../../src/core/envelope.ts";
import { isCatoptError } from "../../src/core/errors.ts";
import type { CatoptEvent } from "../../src/core/event.ts";
import { decodeEvent } from "../../src/families/registry.ts";
import { problemKey } from "../../src/replay/reducer.ts";
import type { ProblemState } from "../../src/families/energy-qp/fold.ts";
import type { StreamMessage } from "../../src/core/stream-message.ts";
import { decodeRecording, encodeRecording, readRecording, type Recording } from "../../src/replay/recording.ts";
import { replayMessages } from "../../src/replay/replay.ts";
import { stateHash } from "../../src/replay/state-hash.ts";
import { revokeEvent } from "../../src/governance/governance-events.ts";
import { fixtureIdentities, messageOf, wireSchemaOf } from "../helpers/messages.ts";

// A recorded live run of scenarios/cosmos-3asset, fed through today's reducers (the way
// Temporal replays workflow histories): the state hash must stay what the live run printed.
const fixture = path.join(import.meta.dirname, "..", "fixtures", "cosmos-3asset.catrec");
const expected = JSON.parse(await readFile(path.join(import.meta.dirname, "..", "fixtures", "cosmos-3asset.expected.json"), "utf8")) as {
  state_hash: string;
  rounds: number;
  objective: number;
  events: number;
  governance: string;
};
const recording = await readRecording(fixture);
const messages = recording.messages;
const keys = await fixtureIdentities();
const trustRoot = expected.governance;

const replay = (list: readonly StreamMessage[]) => replayMessages(list, trustRoot);
const hashOf = (list: readonly StreamMessage[]): string => stateHash(replay(list));
const eventOf = (m: StreamMessage) => decodeEvent(decodeEnvelope(m.data).event);
const envelopeBytesOf = (event: CatoptEvent): Uint8Array => decodeEnvelope(envelopeBytes(event, keys.intruder)).event;

test("replaying the recorded run gives the live run's state hash, rounds and objective", () => {
  assert.is(recording.header.governance, trustRoot);
  assert.is(keys.governance.did, trustRoot, "the fixture was signed with the fixture keys");
  const state = replay(messages);
  const problem = state.problems[problemKey("cosmos", "sol-energy")] as ProblemState;
  assert.is(stateHash(state), expected.state_hash);
  assert.is(state.events, expected.events);
  assert.equal(state.rejected, []);
  assert.is(problem.phase, "converged");
  assert.is(problem.round, expected.rounds);
  assert.is(problem.plan?.objective, expected.objective);
});

test("a changed delta, validly signed by its agent, changes the hash, and the recorded plan no longer matches it", () => {
  const index = messages.findIndex((m) => eventOf(m).schema === "delta/1" && eventOf(m).round === 20);
  const original = eventOf(messages[index]) as CatoptEvent<"delta/1">;
  const [resource, value] = Object.entries(original.body.entries)[0];
  const changed: CatoptEvent<"delta/1"> = { ...original, body: { ...original.body, entries: { ...original.body.entries, [resource]: value + 1e-9 } } };
  const signer = keys[messages[index].subject.split(".")[4]];
  const tampered = messages.map((m, i) => (i === index ? { ...m, data: envelopeBytes(changed, signer) } : m));
  const state = replay(tampered);
  assert.is.not(stateHash(state), expected.state_hash);
  assert.ok(
    state.rejected.some((r) => r.reason.includes("does not match the replayed state")),
    JSON.stringify(state.rejected[0]),
  );
});

test("a dropped, a reordered or a duplicated message changes the hash", () => {
  const dropped = messages.filter((_, i) => i !== 100);
  const swapped = messages.slice();
  const i = messages.findIndex((m, k) => eventOf(m).schema === "delta/1" && eventOf(messages[k + 1]).schema === "delta/1");
  [swapped[i], swapped[i + 1]] = [swapped[i + 1], swapped[i]];
  const duplicated = [...messages.slice(0, 50), messages[49], ...messages.slice(50)];
  const hashes = [hashOf(dropped), hashOf(swapped), hashOf(duplicated)];
  for (const h of hashes) assert.is.not(h, expected.state_hash);
  assert.is(new Set(hashes).size, 3);
  assert.ok(replay(duplicated).rejected.length > 0, "a duplicate is recorded as rejected");
});

test("forged events are refused and counted, never applied: each with its reason", () => {
  const planIndex = messages.findIndex((m) => eventOf(m).schema === "plan/1" && eventOf(m).round === 10);
  const plan = eventOf(messages[planIndex]) as CatoptEvent<"plan/1">;
  const forged: CatoptEvent<"plan/1"> = { ...plan, body: { ...plan.body, allocations: { ...plan.body.allocations, rover: { t08: 400 } } } };
  const original = decodeEnvelope(messages[planIndex].data);
  const cases: [string, Uint8Array][] = [
    ["plan for round 10 does not match the replayed state", envelopeBytes(forged, keys.coordinator)],
    ["bad signature by", encodeEnvelope({ event: envelopeBytesOf(forged), author: original.author, sig: original.sig })],
    ["unsigned event", encodeEnvelope({ event: original.event, author: original.author, sig: new Uint8Array(0) })],
    ["unknown signer", envelopeBytes(plan, keys.intruder)],
    ["author is not an Ed25519 did:key", encodeEnvelope({ event: original.event, author: "local:coordinator", sig: original.sig })],
  ];
  for (const [reason, data] of cases) {
    const state = replay(messages.map((m, i) => (i === planIndex ? { ...m, data } : m)));
    assert.equal(
      state.rejected.map((r) => r.seq),
      [messages[planIndex].seq],
      reason,
    );
    assert.match(state.rejected[0].reason, reason);
    assert.is.not(stateHash(state), expected.state_hash);
  }
});

test("after the governance identity revokes an agent, its later events are refused; a stranger cannot revoke", () => {
  const at = messages.findIndex((m) => eventOf(m).schema.startsWith("round/") && eventOf(m).round === 30);
  const revokeDrone = messageOf(messages[at].seq, revokeEvent("cosmos", keys.drone.did, "key lost"), keys.governance);
  const byStranger = messageOf(messages[at].seq, revokeEvent("cosmos", keys.drone.did, "hostile"), keys.intruder);
  const revoked = replay([...messages.slice(0, at), revokeDrone, ...messages.slice(at)]);
  assert.ok(revoked.rejected.some((r) => r.reason.includes("was revoked in cosmos (key lost)")));
  assert.is.not(revoked.problems[problemKey("cosmos", "sol-energy")].phase, "converged", "the run cannot finish without the drone");
  const refused = replay([...messages.slice(0, at), byStranger, ...messages.slice(at)]);
  assert.match(refused.rejected[0].reason, "not by the governance identity");
  assert.is(refused.problems[problemKey("cosmos", "sol-energy")].phase, "converged");
});

test("a stream recorded before round/2 and before ledger leaf hashes (round/1 events) still replays to its own hash", async () => {
  const old = await readRecording(path.join(import.meta.dirname, "..", "fixtures", "cosmos-3asset-round1.catrec"));
  assert.ok(old.messages.some((m) => wireSchemaOf(m.data) === "round/1") && old.header.leafHashes === null);
  assert.ok(!old.messages.some((m) => eventOf(m).schema === "round/1"), "a round/1 reads as a round/2");
  const state = replayMessages(old.messages, trustRoot);
  const problem = state.problems[problemKey("cosmos", "sol-energy")] as ProblemState;
  assert.equal([problem.phase, problem.round, state.rejected.length], ["converged", 58, 0]);
  assert.is(stateHash(state), "565831372f9c01d02dcee09a5fb20c077cfad6841810b9c560213839b3da605f", "the hash that recording's live run printed");
});

test("without the right trust root nothing is admitted", () => {
  const state = replayMessages(messages, keys.intruder.did);
  assert.is(state.rejected.length, state.events);
});

test("a recording survives encode/decode unchanged", () => {
  const again = decodeRecording(encodeRecording(recording), "memory");
  assert.equal(again.header, recording.header);
  assert.is(hashOf(again.messages), expected.state_hash);
});

test("a corrupt, truncated, empty or foreign recording is refused with what and where", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "catopt-rec-"));
  const bytes = encodeRecording(recording);
  const cases: [string, Uint8Array | undefined, string][] = [
    ["truncated.catrec", bytes.subarray(0, bytes.length - 10), "corrupt or truncated msgpack at byte"],
    ["empty.catrec", new Uint8Array(0), "empty file"],
    [
      "foreign.catrec",
      encodeRecording({ ...recording, header: { ...recording.header, format: "x" as Recording["header"]["format"] } }),
      'header.format: expected "catopt-recording/1"',
    ],
    ["short.catrec", encodeRecording({ ...recording, messages: messages.slice(1) }), `says ${messages.length} messages, the file holds ${messages.length - 1}`],
    ["missing.catrec", undefined, "cannot read (ENOENT)"],
  ];
  for (const [name, content, reason] of cases) {
    const file = path.join(dir, name);
    if (content !== undefined) await writeFile(file, content);
    try {
      await readRecording(file);
      assert.unreachable(`${name} was accepted`);
    } catch (err) {
      assert.ok(isCatoptError(err, "RECORDING_INVALID"), String(err));
      assert.match((err as Error).message, file);
      assert.match((err as Error).message, reason);
    }
  }
});

test.run();
