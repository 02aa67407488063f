import { jetstreamManager } from "@nats-io/jetstream";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { setTimeout as sleep } from "node:timers/promises";
import { connectTo, jetstreamOf } from "../../src/bus/connection.ts";
import { readStream } from "../../src/bus/read.ts";
import { startEmbeddedServer, type EmbeddedServer } from "../../src/bus/embedded-server.ts";
import { applyStreams, EVENTS_STREAM, loadStreamConfigs } from "../../src/bus/streams.ts";
import { LEDGER_STREAM } from "../../src/governance/ledger.ts";
import type { NatsConnection } from "@nats-io/transport-node";

const streams = suite("stream definitions applied to a real server");
let server: EmbeddedServer;
let nc: NatsConnection;
streams.before(async () => {
  server = await startEmbeddedServer();
  nc = await connectTo(server.url);
});
streams.after(async () => {
  await nc?.drain();
  await server?.stop();
});

streams("apply creates, then leaves alone, then updates what differs, keeping a stream's replicas unless asked", async () => {
  const jsm = await jetstreamManager(nc);
  const configs = await loadStreamConfigs();
  const all = (action: string) => [EVENTS_STREAM, LEDGER_STREAM].map((name) => ({ name, action }));
  assert.equal(await applyStreams(jsm, configs), all("created"));
  assert.equal(await applyStreams(jsm, configs), all("unchanged"));
  const changed = configs.map((c) => (c.name === EVENTS_STREAM ? { ...c, description: "changed" } : c));
  assert.equal(await applyStreams(jsm, changed), [
    { name: EVENTS_STREAM, action: "updated" },
    { name: LEDGER_STREAM, action: "unchanged" },
  ]);
  assert.is((await jsm.streams.info(EVENTS_STREAM)).config.description, "changed");
  // A lone server has one replica to give: asking for 1 explicitly is "unchanged", not an error.
  assert.equal(await applyStreams(jsm, changed, 1), all("unchanged"));
  assert.equal((await jsm.streams.info(LEDGER_STREAM)).config.subjects, ["catopt.ledger.*"]);
  const config = (await jsm.streams.info(EVENTS_STREAM)).config;
  assert.equal([config.subjects, config.deny_delete, config.deny_purge], [["catopt.*.*.>"], true, true]);
});

streams("the embedded server runs on its own free port with its own temporary store", async () => {
  const other = await startEmbeddedServer();
  try {
    assert.is.not(other.url, server.url);
    assert.is.not(other.storeDir, server.storeDir);
  } finally {
    await other.stop();
  }
});

streams("a live read stopped while nobody iterates it leaves no timer behind to keep the process", async () => {
  const jsm = await jetstreamManager(nc);
  await applyStreams(jsm, await loadStreamConfigs());
  const js = jetstreamOf(nc);
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
  const before = timers();
  const reader = await readStream(js, EVENTS_STREAM, { filter: "catopt.t.delta.p.*", fromSeq: 1 });
  await js.publish("catopt.t.delta.p.a", new Uint8Array([1]));
  // One message taken by hand, as a caller that waits for a given count does; the read is never iterated again.
  assert.is((await reader[Symbol.asyncIterator]().next()).value?.subject, "catopt.t.delta.p.a");
  reader.stop();
  await sleep(1500); // the server watch's interval looks once a second
  assert.ok(timers() <= before, `${timers() - before} timer(s) left`);
});

streams.run();
