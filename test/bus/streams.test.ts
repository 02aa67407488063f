import { jetstreamManager } from "@nats-io/jetstream";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connectTo } from "../../src/bus/connection.ts";
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

streams.run();
