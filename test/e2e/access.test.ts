import net from "node:net";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connectTo, jetstreamOf } from "../../src/bus/connection.ts";
import { lastSeqOf, readStream } from "../../src/bus/read.ts";
import { EVENTS_STREAM } from "../../src/bus/streams.ts";
import { eventId, type CatoptEvent } from "../../src/core/event.ts";
import { deltaSubject, governanceSubject, planSubject } from "../../src/core/subjects.ts";
import { admitEvent, revokeEvent } from "../../src/governance/governance-events.ts";
import { answerRenewal, renewalRequest, renewedByService, requestRenewal, serveCredentials } from "../../src/governance/credential-service.ts";
import { startGovernance } from "../../src/governance/governance-consumer.ts";
import { credentialsOf, issueUserJwt, serverAuthConfig } from "../../src/governance/nats-accounts.ts";
import { nkeyPublic } from "../../src/governance/nkey.ts";
import { generateIdentity, type Identity } from "../../src/governance/identity.ts";
import { LEDGER_STREAM } from "../../src/governance/ledger.ts";
import type { Grant } from "../../src/governance/nats-permissions.ts";
import { envelopeBytes, publishEvent } from "../../src/governance/signed-publish.ts";
import { startSecureServer, type SecureServer } from "../helpers/secure-server.ts";
import path from "node:path";
import { PROJECT_ROOT, startEmbeddedServer } from "../../src/bus/embedded-server.ts";
import { makeClientTls } from "../../src/bus/tls-files.ts";
import { localSecurity, tlsConfig } from "../../src/governance/local-security.ts";
import { runScenario } from "../../src/run/run-scenario.ts";
import { loadScenario } from "../../src/run/scenario-files.ts";

// The NATS server's own wall (issue 15): a real nats-server in operator mode whose trust root is
// the governance identity, with TLS. Each refusal is asserted as the server's answer, not as the
// absence of data.
const access = suite("who may connect, publish and read on a secured nats-server");
let secure: SecureServer;
const party: Record<string, { id: Identity; grants: Grant[]; nc?: NatsConnection }> = {};

const plan = (tenant: string, round: number): CatoptEvent<"plan/1"> => ({
  schema: "plan/1",
  id: eventId(tenant, "p", "plan", round),
  tenant,
  problem: "p",
  round,
  base: round - 1,
  body: { status: "running", rho: 1, signal: { t: round }, allocations: { a1: { t: round } }, objective: 0, primal: 0, dual: 0, epsPrimal: 1, epsDual: 1 },
});

access.before(async () => {
  secure = await startSecureServer();
  const grants: Record<string, Grant[]> = {
    coordinatorA: [{ role: "coordinator", tenant: "A", name: "coordinator" }],
    coordinatorB: [{ role: "coordinator", tenant: "B", name: "coordinator" }],
    a1: [{ role: "agent", tenant: "A", name: "a1" }],
    viewerA: [{ role: "viewer", tenant: "A", name: "viewerA" }],
    auditor: [{ role: "auditor", tenant: "A", name: "auditor" }],
  };
  for (const [name, g] of Object.entries(grants)) {
    const id = generateIdentity(name);
    party[name] = { id, grants: g };
    for (const grant of g) {
      const admit = admitEvent(grant.tenant, id.did, grant.role as "agent", grant.name);
      await publishEvent(secure.bus.js, governanceSubject(grant.tenant, "admit"), admit, secure.governance);
    }
    party[name].nc = await secure.connectAs(id, g);
  }
  for (const [tenant, coordinator] of [
    ["A", "coordinatorA"],
    ["B", "coordinatorB"],
  ]) {
    for (const round of [1, 2]) await publishEvent(jetstreamOf(ncOf(coordinator)), planSubject(tenant, "p"), plan(tenant, round), party[coordinator].id);
  }
});
access.after(async () => {
  await secure?.stop();
});

const ncOf = (name: string): NatsConnection => party[name].nc as NatsConnection;

/** The server's answer to a request: its error's message when refused. */
async function answer(nc: NatsConnection, subject: string, body: unknown = {}): Promise<string> {
  try {
    return (await nc.request(subject, JSON.stringify(body), { timeout: 3000 })).string();
  } catch (err) {
    return `refused: ${(err as Error).message}`;
  }
}

const createFor = (name: string, filter: string, bodyFilter = filter, extra: Record<string, unknown> = {}) => ({
  subject: `$JS.API.CONSUMER.CREATE.${EVENTS_STREAM}.${name}.${filter}`,
  body: { stream_name: EVENTS_STREAM, config: { name, filter_subject: bodyFilter, ack_policy: "none", ...extra } },
});

access("a client without credentials is refused; so is one that does not speak TLS", async () => {
  try {
    await connectTo(secure.server.url, "nobody", { tls: secure.security.clientTls });
    assert.unreachable("connected without credentials");
  } catch (err) {
    assert.match(String(err), "Authorization Violation");
  }
  // A plain client: the server's INFO says TLS is required, and a plain CONNECT gets no PONG.
  const { port } = new URL(secure.server.url);
  const said = await new Promise<string>((resolve) => {
    let text = "";
    const socket = net.connect(Number(port), "127.0.0.1");
    socket.on("data", (chunk) => {
      text += chunk.toString("latin1");
      if (text.includes("INFO") && !text.includes("sent")) {
        text += "sent";
        socket.write('CONNECT {"verbose":false,"pedantic":false,"tls_required":false}\r\nPING\r\n');
      }
    });
    socket.on("close", () => resolve(text));
    socket.on("error", () => undefined);
    setTimeout(() => socket.destroy(), 3000);
  });
  assert.match(said, '"tls_required":true');
  assert.not.match(said, "PONG", "a plain client never gets through");
});

access("a viewer of tenant A reads A's plans, and cannot read B's by any path", async () => {
  const viewer = ncOf("viewerA");
  const js = jetstreamOf(viewer);
  const seen: string[] = [];
  for await (const m of await readStream(js, EVENTS_STREAM, { filter: "catopt.A.plan.p", untilEnd: true })) seen.push(m.subject);
  assert.equal(seen, ["catopt.A.plan.p", "catopt.A.plan.p"]);

  // A core subscription to B's plans.
  const sub = viewer.subscribe("catopt.B.plan.p");
  const refusedSub = await Promise.race([
    (async () => {
      try {
        for await (const _ of sub) return "a message";
        return "closed";
      } catch (err) {
        return `refused: ${(err as Error).message}`;
      }
    })(),
    new Promise<string>((resolve) => setTimeout(() => resolve("no answer"), 3000)),
  ]);
  assert.match(refusedSub, /refused: Permissions Violation for Subscription to "catopt\.B\.plan\.p"/);

  // A consumer with B's filter; one whose subject names A's plans and whose body names B's; a
  // consumer of every plan (a published wildcard is a literal, never matching A's allow).
  for (const [filter, body] of [
    ["catopt.B.plan.p", "catopt.B.plan.p"],
    ["catopt.A.plan.p", "catopt.B.plan.p"],
    ["catopt.*.plan.p", "catopt.*.plan.p"],
  ]) {
    const request = createFor("c", filter, body);
    const said = await answer(viewer, request.subject, request.body);
    if (filter === body) assert.match(said, "refused: Permissions Violation for Publish", `${filter}: ${said}`);
    else assert.match(said, '"err_code":10131', said);
  }

  // A pull through someone else's durable consumer of B's plans.
  const jsm = await secure.bus.js.jetstreamManager(false);
  await jsm.consumers.add(EVENTS_STREAM, { durable_name: "b-plans", filter_subject: "catopt.B.plan.p", ack_policy: "explicit" as never });
  assert.match(await answer(viewer, `$JS.API.CONSUMER.MSG.NEXT.${EVENTS_STREAM}.b-plans`, { batch: 1 }), "refused: Permissions Violation for Publish");
  // A direct get, a get by sequence or subject, the stream's info (it lists subjects with counts), stream and consumer lists, advisories.
  for (const subject of [
    `$JS.API.DIRECT.GET.${EVENTS_STREAM}`,
    `$JS.API.STREAM.MSG.GET.${EVENTS_STREAM}`,
    `$JS.API.STREAM.INFO.${EVENTS_STREAM}`,
    "$JS.API.STREAM.LIST",
    "$JS.API.STREAM.NAMES",
    `$JS.API.CONSUMER.LIST.${EVENTS_STREAM}`,
    `$JS.API.CONSUMER.INFO.${EVENTS_STREAM}.b-plans`,
    "$JS.API.INFO",
  ]) {
    assert.match(
      await answer(viewer, subject, { seq: 1, last_by_subj: "catopt.B.plan.p", subjects_filter: ">" }),
      "refused: Permissions Violation for Publish",
      subject,
    );
  }
  const advisories = viewer.subscribe("$JS.EVENT.>");
  try {
    for await (const _ of advisories) break;
    assert.unreachable("read an advisory");
  } catch (err) {
    assert.match(String(err), "Permissions Violation for Subscription");
  }
});

access("a viewer's consumer that pushes into the ledger stream leaves the ledger as it was", async () => {
  const jsm = await secure.bus.js.jetstreamManager(false);
  const before = (await jsm.streams.info(LEDGER_STREAM)).state.messages;
  // nats-server 2.9 does not check a consumer's push subject: the copy goes out only where a core subscriber listens, and none listens there.
  const request = createFor("into-ledger", "catopt.A.plan.p", "catopt.A.plan.p", { deliver_subject: "catopt.ledger.entry" });
  assert.match(await answer(ncOf("viewerA"), request.subject, request.body), '"name":"into-ledger"');
  await new Promise((r) => setTimeout(r, 1500));
  assert.is((await jsm.streams.info(LEDGER_STREAM)).state.messages, before);
});

access("an agent reads its tenant's plans and rounds and its own deltas, never a peer's delta or a quarantine notice, whatever wildcard it names", async () => {
  const agent = ncOf("a1");
  await publishEvent(jetstreamOf(ncOf("coordinatorA")), "catopt.A.round.p", { ...plan("A", 7), id: eventId("A", "p", "round", 7) }, party.coordinatorA.id);
  for (const filter of ["catopt.A.plan.p", "catopt.A.round.>", "catopt.A.gov.>", "catopt.A.delta.p.a1", "catopt.A.delta.*.a1"]) {
    const request = createFor(`ok${filter.length}`, filter);
    assert.match(await answer(agent, request.subject, request.body), '"type":"io.nats.jetstream.api.v1.consumer_create_response","stream_name"', filter);
  }
  for (const filter of [
    "catopt.A.delta.>",
    "catopt.A.delta.p.a2",
    "catopt.A.delta.*.*",
    "catopt.A.*.>",
    "catopt.A.*.*",
    "catopt.A.>",
    "catopt.A.quarantine.>",
    "catopt.A.quarantine.malformed",
    "catopt.B.plan.p",
  ]) {
    const request = createFor("peek", filter);
    assert.match(await answer(agent, request.subject, request.body), "refused: Permissions Violation for Publish", filter);
  }
});

access("an agent publishes only as itself in its tenant; only governance may purge or delete a stream", async () => {
  const agent = ncOf("a1");
  const js = jetstream(agent);
  const delta = (tenant: string, name: string) => deltaSubject(tenant, "p", name);
  const bytes = envelopeBytes(plan("A", 9), party.a1.id);
  assert.is((await js.publish(delta("A", "a1"), bytes)).stream, EVENTS_STREAM);
  for (const subject of [delta("A", "a2"), delta("B", "a1"), planSubject("A", "p"), governanceSubject("A", "admit"), "catopt.ledger.entry"]) {
    try {
      await js.publish(subject, bytes, { timeout: 3000 });
      assert.unreachable(`published on ${subject}`);
    } catch (err) {
      assert.match(String(err), /Permissions Violation for Publish|no responders|timeout/i, subject);
    }
    assert.match(await answer(agent, subject), "refused: Permissions Violation for Publish", subject);
  }
  for (const who of ["a1", "coordinatorA", "viewerA", "auditor"]) {
    for (const op of ["PURGE", "DELETE"]) {
      assert.match(await answer(ncOf(who), `$JS.API.STREAM.${op}.${EVENTS_STREAM}`), "refused: Permissions Violation for Publish", `${who} ${op}`);
    }
  }
  // Governance may ask; the stream's own definition (deny_purge) then refuses a purge.
  assert.match(await answer(secure.bus.nc, `$JS.API.STREAM.PURGE.${EVENTS_STREAM}`), '"err_code"');
});

access("an auditor reads every tenant's events and the ledger, and publishes nothing", async () => {
  const auditor = ncOf("auditor");
  const subjects: string[] = [];
  for await (const m of await readStream(jetstreamOf(auditor), EVENTS_STREAM, { untilEnd: true })) subjects.push(m.subject);
  assert.ok(subjects.includes("catopt.B.plan.p") && subjects.includes("catopt.A.plan.p"), subjects.join(", "));
  assert.match(await answer(auditor, planSubject("A", "p")), "refused: Permissions Violation for Publish");
});

access("an expired JWT disconnects; a client that renews keeps reading across its renewals", async () => {
  const tls = secure.security.clientTls;
  const grants: Grant[] = [{ role: "viewer", tenant: "A", name: "short" }];
  const short = generateIdentity("short");
  const credentials = credentialsOf(short, issueUserJwt(secure.governance, short, grants, 2));
  const once = await connectTo(secure.server.url, "expires", {
    tls,
    access: { jwt: () => credentials.jwt, seed: new TextEncoder().encode(credentials.seed), inboxPrefix: credentials.inboxPrefix },
  });
  const started = Date.now();
  const said: string[] = [];
  void (async () => {
    for await (const status of once.status()) said.push(JSON.stringify(status, (_k, v: unknown) => (v instanceof Error ? v.message : v)));
  })();
  const closed = await Promise.race([once.closed(), new Promise<string>((resolve) => setTimeout(() => resolve("still open"), 10_000))]);
  assert.is.not(closed, "still open", "an expired JWT ends the connection");
  assert.match(`${said.join("\n")}\n${String(closed)}`, /expired/i);
  assert.ok(Date.now() - started >= 1000, "not before its expiry");

  // Renewed every ~1.3 s (2 s JWTs): every plan published over 5 s is read, and the connection stays.
  const renewing = await connectTo(secure.server.url, "renews", { tls, access: secure.security.accessFor(generateIdentity("renews"), grants) });
  const reader = await readStream(jetstreamOf(renewing), EVENTS_STREAM, { filter: "catopt.A.plan.later" });
  const rounds: number[] = [];
  const reading = (async () => {
    for await (const m of reader) {
      rounds.push(m.seq);
      if (rounds.length === 20) break;
    }
  })();
  const coordinator = jetstreamOf(ncOf("coordinatorA"));
  for (let round = 1; round <= 20; round++) {
    await publishEvent(
      coordinator,
      planSubject("A", "later"),
      { ...plan("A", round), id: eventId("A", "later", "plan", round), problem: "later" },
      party.coordinatorA.id,
    );
    await new Promise((r) => setTimeout(r, 250));
  }
  await Promise.race([reading, new Promise((r) => setTimeout(r, 10_000))]);
  reader.stop();
  assert.is(rounds.length, 20, `read ${rounds.length} of 20 plans across renewals`);
  assert.not.ok(renewing.isClosed());
});

access("a revoked party is cut off at once and cannot renew; the governance service renews the others", async () => {
  const consumer = await startGovernance({ nc: secure.bus.nc, signer: secure.governance, origin: "test" });
  const system = await connectTo(secure.server.url, "system", { tls: secure.security.clientTls, access: secure.security.system });
  const service = serveCredentials(secure.bus.nc, secure.governance, () => consumer.admission(), { system });
  try {
    const agent = generateIdentity("a3");
    const admit = admitEvent("A", agent.did, "agent", "a3");
    const ack = await publishEvent(secure.bus.js, governanceSubject("A", "admit"), admit, secure.governance);
    await consumer.caughtUp(ack.seq);
    const first = issueUserJwt(secure.governance, agent, [{ role: "agent", tenant: "A", name: "a3" }], 600);
    const access = renewedByService(agent, first, secure.governance.did);
    const nc = await connectTo(secure.server.url, "a3", { tls: secure.security.clientTls, access });
    await access.renewal?.renew(nc);
    assert.is.not(access.jwt(), first, "renewed by the service");

    // Reads made before the revocation: one into its own inbox, and a viewer's durable that pushes where no read of ours does.
    const before = await readStream(jetstreamOf(nc), EVENTS_STREAM, { filter: "catopt.A.plan.p", onlyNew: true });
    void (async () => {
      for await (const _ of before);
    })().catch(() => undefined);
    const stay = createFor("stay", "catopt.A.plan.p", "catopt.A.plan.p", { durable_name: "stay", deliver_subject: "catopt.elsewhere" });
    assert.match(await answer(ncOf("viewerA"), stay.subject, stay.body), '"name":"stay"');
    const jsm = await secure.bus.js.jetstreamManager(false);
    const pushingTo = async () => {
      const subjects: string[] = [];
      for await (const c of jsm.consumers.list(EVENTS_STREAM)) subjects.push(c.config.deliver_subject ?? "");
      return subjects;
    };
    const inbox = `_INBOX_${nkeyPublic("user", agent.publicKey)}.`;
    for (let i = 0; i < 50 && !(await pushingTo()).some((d) => d.startsWith(inbox)); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(
      (await pushingTo()).some((d) => d.startsWith(inbox)),
      "the agent's read is a consumer pushing into its inbox",
    );
    const revoked = await publishEvent(secure.bus.js, governanceSubject("A", "revoke"), revokeEvent("A", agent.did, "key lost"), secure.governance);
    await consumer.caughtUp(revoked.seq);
    const closed = await Promise.race([nc.closed(), new Promise<string>((resolve) => setTimeout(() => resolve("still open"), 8000))]);
    assert.is.not(closed, "still open", "the revocation reached the server");
    assert.match(String(closed), /revoked|authorization/i);
    const again = await connectTo(secure.server.url, "a3 again", { tls: secure.security.clientTls, access }).then(
      () => "connected",
      (err: unknown) => String(err),
    );
    assert.match(again, /revoked|Authorization Violation/i);
    for (let i = 0; i < 50 && (await pushingTo()).some((d) => d.startsWith(inbox) || d === "catopt.elsewhere"); i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.not.ok(
      (await pushingTo()).some((d) => d.startsWith(inbox)),
      "the revoked key's consumers are gone",
    );
    assert.not.ok((await pushingTo()).includes("catopt.elsewhere"), "a consumer pushing outside any inbox is gone");
    before.stop();
    // Its renewal is refused by the service, which says why.
    const refused = answerRenewal(new TextEncoder().encode(renewalRequest(agent)), secure.governance, consumer.admission());
    assert.match("error" in refused ? refused.error : JSON.stringify(refused), "holds no role");
    // A request whose reply subject is not the signer's own inbox gets no answer: the service, which may publish anywhere, never writes where a requester points it.
    try {
      await requestRenewal(ncOf("a1"), agent, secure.governance.did, 1500);
      assert.unreachable("answered a3's request into a1's inbox");
    } catch (err) {
      assert.match(String(err), /timeout|no responders/i);
    }
    ncOf("a1").publish("catopt.creds.renew", renewalRequest(party.a1.id), { reply: "catopt.A.plan.loot" });
    await new Promise((r) => setTimeout(r, 500));
    assert.is(await lastSeqOf(secure.bus.js, EVENTS_STREAM, "catopt.A.plan.loot"), 0, "no answer published where the requester pointed");
  } finally {
    service.stop();
    await system.close();
    await consumer.stop();
  }
});

access("with mutual TLS, a client with credentials but no certificate of the CA is refused; one with it gets in", async () => {
  const governance = generateIdentity("governance");
  const security = await localSecurity(governance);
  const client = await makeClientTls(security.tls, path.dirname(security.tls.caFile), "client");
  const server = await startEmbeddedServer({ extraConfig: serverAuthConfig(governance) + tlsConfig(security.tls, true) });
  try {
    const access = () => security.accessFor(generateIdentity("v"), [{ role: "viewer", tenant: "A", name: "v" }]);
    const refused = await connectTo(server.url, "no cert", { tls: security.clientTls, access: access() }).then(
      async (nc) => {
        await nc.close();
        return "connected";
      },
      (err: unknown) => String(err),
    );
    assert.is.not(refused, "connected", "no client certificate, no connection");
    const nc = await connectTo(server.url, "with cert", { tls: { ...security.clientTls, ...client }, access: access() });
    assert.not.ok(nc.isClosed());
    await nc.close();
  } finally {
    await server.stop();
    await security.close();
  }
});

access("a run whose every credential lasts 5 s converges: each party renews and reconnects on its way, no round lost", async () => {
  const loaded = await loadScenario("gavel-small-leave", PROJECT_ROOT);
  const report = await runScenario(loaded, { credentialTtlSeconds: 5 });
  assert.ok(report.converged, report.status);
  assert.is(report.replay_state_hash, report.state_hash);
  // Each party renews at two thirds of 4 to 5 s: past 3.5 s, the three node agents and the coordinator have renewed.
  if (report.wall_ms > 3500) assert.ok((report.credential_renewals ?? 0) >= 4, `${report.credential_renewals} renewals in ${report.wall_ms} ms`);
  assert.ok(report.ledger?.verified, "the ledger verified");
});

access.run();
