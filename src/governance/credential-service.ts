import type { NatsConnection } from "@nats-io/transport-node";
import { catoptError } from "../core/errors.ts";
import { jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { readStream } from "../bus/read.ts";
import { EVENTS_STREAM } from "../bus/streams.ts";
import { applyGovernance, emptyAdmission, isGovernanceEvent, verifyMessage, type AdmissionState } from "./admission.ts";
import { signBytes, verifyBytes, type Identity } from "./identity.ts";
import { didKeyProblem, publicKeyFromDid } from "./did-key.ts";
import type { BusAccess } from "../bus/connection.ts";
import { accountJwt, credentialsOf, defaultTtlOf, issueUserJwt, natsTrustOf, readUserJwt } from "./nats-accounts.ts";
import { grantsOf, inboxPrefixOf, LEDGER_STREAM_NAME, RENEW_SUBJECT } from "./nats-permissions.ts";
import { nkeyPublic } from "./nkey.ts";

/**
 * Short-lived credentials, renewed over the bus. A party asks on catopt.creds.renew with its
 * DID and the time, signed by its key; the governance service answers with a fresh JWT for the
 * roles the DID holds now, or says why not (revoked, never admitted). A JWT is useless without
 * its key, yet the request is signed so that nobody learns another party's roles by asking.
 * A revocation also reaches the server at once: the service pushes the account's JWT with the
 * revoked keys, and nats-server closes their connections and refuses them from then on.
 */
const REQUEST_PREFIX = "catopt-flow creds renew\n";
const MAX_REQUEST_BYTES = 1024;
/** How far a request's time may be from the service's clock. */
const FRESH_MS = 5 * 60_000;

export function renewalRequest(identity: Identity, now = Date.now()): string {
  const sig = signBytes(identity, Buffer.from(`${REQUEST_PREFIX}${identity.did}\n${now}`));
  return JSON.stringify({ did: identity.did, at: now, sig: Buffer.from(sig).toString("base64") });
}

/** Asks the governance service for a fresh JWT, and checks it: signed by the pinned account, for this key. */
export async function requestRenewal(nc: NatsConnection, identity: Identity, governanceDid: string, timeoutMs = 5000): Promise<string> {
  const reply = await nc.request(RENEW_SUBJECT, renewalRequest(identity), { timeout: timeoutMs });
  let answer: { jwt?: unknown; error?: unknown };
  try {
    answer = JSON.parse(reply.string()) as typeof answer;
  } catch {
    throw catoptError("CREDS_REFUSED", "the credential service's answer is not JSON");
  }
  if (typeof answer.error === "string") throw catoptError("CREDS_REFUSED", `the governance service refused to renew: ${answer.error.slice(0, 300)}`);
  if (typeof answer.jwt !== "string") throw catoptError("CREDS_REFUSED", "the credential service sent no JWT");
  const claims = readUserJwt(answer.jwt, accountOf(governanceDid));
  if (claims.sub !== nkeyPublic("user", identity.publicKey)) throw catoptError("CREDS_REFUSED", "the renewed JWT is for another key");
  return answer.jwt;
}

const accountOf = (governanceDid: string): string => {
  const problem = didKeyProblem(governanceDid);
  if (problem !== undefined) throw catoptError("DID_INVALID", problem);
  return nkeyPublic("account", publicKeyFromDid(governanceDid));
};

export type CredentialService = { stop(): void };

/** A party renews at most this often; more requests in between are not answered. */
const MIN_RENEWAL_GAP_MS = 5000;
/** Revocations are pushed again this often: a restarted server forgets them (its resolver keeps accounts in memory). */
const REPUSH_MS = 30_000;
const RETRY_MS = 2000;

/**
 * Answers renewals from the admissions the governance consumer has folded, and pushes the
 * revocations to the server (the account JWT's revocations: connections of a revoked key close).
 * An answer goes only into the inbox of the key that signed the request: the service may publish
 * anywhere, and a request names its own reply subject.
 */
export function serveCredentials(
  nc: NatsConnection,
  governance: Identity,
  admission: () => AdmissionState,
  options: {
    readonly ttlSeconds?: number;
    /** A connection as the system account's user (systemAccess), to push revocations; without one they take effect at expiry. */
    readonly system?: NatsConnection;
    readonly onError?: (err: Error) => void;
    /** A request not answered, and why. */
    readonly onRefused?: (why: string) => void;
  } = {},
): CredentialService {
  // When each revoked key was first seen revoked (seconds): stable, so a JWT issued after it stays good.
  const stamps = new Map<string, number>();
  const sub = nc.subscribe(RENEW_SUBJECT, { queue: "catopt-creds" });
  const lastAnswered = new Map<string, number>();
  void (async () => {
    for await (const msg of sub) {
      const now = Date.now();
      // Cheap checks first: the reply must be the claimed key's own inbox, and that key may ask once in a while.
      const claimed = claimedUser(msg.data);
      if (claimed === undefined || !(msg.reply ?? "").startsWith(`${inboxPrefixOf(claimed)}.`)) {
        options.onRefused?.(claimed === undefined ? "no did:key to answer" : `a reply subject outside ${claimed}'s inbox`);
        continue;
      }
      if (now - (lastAnswered.get(claimed) ?? 0) < MIN_RENEWAL_GAP_MS) {
        options.onRefused?.(`${claimed} asked again within ${MIN_RENEWAL_GAP_MS} ms`);
        continue;
      }
      if (lastAnswered.size > 100_000) lastAnswered.clear();
      lastAnswered.set(claimed, now);
      const answer = answerRenewal(msg.data, governance, admission(), options.ttlSeconds, now, stamps);
      if (answer.to !== claimed) {
        options.onRefused?.(answer.to === undefined ? answer.why : `signed by another key than ${claimed}`);
        continue;
      }
      msg.respond(JSON.stringify("jwt" in answer ? { jwt: answer.jwt } : { error: answer.error }));
    }
  })().catch((err: unknown) => options.onError?.(err as Error));

  let pushed = "";
  let attempted = "";
  let lastSweep = 0;
  let busy = false;
  const { system } = options;
  // Every half second: a new revocation is pushed and its consumers swept at once; every 30 s
  // anyway (a restarted server forgets pushed revocations; a consumer may push where it should not).
  const timer = setInterval(() => {
    if (busy) return;
    const seconds = Math.floor(Date.now() / 1000);
    for (const key of revokedKeys(admission())) if (!stamps.has(key)) stamps.set(key, seconds);
    const revocations = JSON.stringify([...stamps].sort());
    // A new revocation at once; a failed push again in 2 s; the rest every 30 s.
    if (revocations === attempted && Date.now() - lastSweep < (revocations === pushed ? REPUSH_MS : RETRY_MS)) return;
    attempted = revocations;
    busy = true;
    void (async () => {
      lastSweep = Date.now(); // a failure is tried again at the next sweep, not every half second
      try {
        if (system !== undefined && stamps.size > 0) await pushAccount(system, governance, Object.fromEntries(stamps));
        pushed = revocations;
      } finally {
        // Consumers go whether or not the server took the revocations.
        for (const what of await sweepConsumers(nc, new Set(stamps.keys()))) options.onRefused?.(`removed consumer ${what}`);
      }
    })()
      .catch((err: unknown) => options.onError?.(err as Error))
      .finally(() => {
        busy = false;
      });
  }, 500);
  return {
    stop: () => {
      clearInterval(timer);
      sub.unsubscribe();
    },
  };
}

/** The user key of the DID a request claims, before any signature is checked (undefined: none). */
function claimedUser(data: Uint8Array): string | undefined {
  if (data.length > MAX_REQUEST_BYTES) return undefined;
  try {
    const { did } = JSON.parse(Buffer.from(data).toString("utf8")) as { did?: unknown };
    return typeof did === "string" && didKeyProblem(did) === undefined ? nkeyPublic("user", publicKeyFromDid(did)) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The answer to one renewal request: a JWT, or the reason there is none, for the key that signed
 * it (`to`: its user nkey); `to` is absent when no key is proven. Bounded before any work.
 */
export function answerRenewal(
  data: Uint8Array,
  governance: Identity,
  admission: AdmissionState,
  ttlSeconds?: number,
  now = Date.now(),
  revokedAt: ReadonlyMap<string, number> = new Map(),
): ({ to: string } & ({ jwt: string } | { error: string })) | { to?: undefined; why: string } {
  if (data.length > MAX_REQUEST_BYTES) return { why: `a request of ${data.length} bytes (at most ${MAX_REQUEST_BYTES})` };
  let request: { did?: unknown; at?: unknown; sig?: unknown };
  try {
    request = JSON.parse(Buffer.from(data).toString("utf8")) as typeof request;
  } catch {
    return { why: "the request is not JSON" };
  }
  const { did, at, sig } = request ?? {};
  if (typeof did !== "string" || typeof at !== "number" || typeof sig !== "string") return { why: "expected {did, at, sig}" };
  if (!verifyBytes(did, Buffer.from(`${REQUEST_PREFIX}${did}\n${at}`), Buffer.from(sig, "base64"))) return { why: "bad signature" };
  const publicKey = publicKeyFromDid(did);
  const to = nkeyPublic("user", publicKey);
  if (!Number.isSafeInteger(at) || Math.abs(now - at) > FRESH_MS) return { to, error: "the request's time is more than 5 minutes from the service's" };
  const grants = grantsOf(admission, did);
  if (grants.length === 0) return { to, error: `${did} holds no role (never admitted, or revoked)` };
  // nats-server counts a JWT as revoked when issued at or before its key's revocation time.
  const issuedAt = Math.max(now, ((revokedAt.get(to) ?? -1) + 1) * 1000);
  return { to, jwt: issueUserJwt(governance, { publicKey, name: grants[0].name }, grants, ttlSeconds ?? defaultTtlOf(grants), issuedAt) };
}

/**
 * Removes the consumers that would go on delivering where they should not: into a revoked key's
 * inbox (a read made before the revocation), or to any subject that is not an inbox at all
 * (nats-server 2.9 does not check where a consumer pushes; ours push only into inboxes).
 */
export async function sweepConsumers(nc: NatsConnection, revokedUsers: ReadonlySet<string>): Promise<string[]> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const removed: string[] = [];
  for (const stream of [EVENTS_STREAM, LEDGER_STREAM_NAME]) {
    for await (const consumer of jsm.consumers.list(stream)) {
      const deliver = consumer.config.deliver_subject;
      if (deliver === undefined || deliver === "") continue;
      const owner = /^_INBOX_([A-Z0-9]{56})\./.exec(deliver)?.[1];
      if (owner !== undefined && !revokedUsers.has(owner)) continue;
      await jsm.consumers.delete(stream, consumer.name).catch(() => undefined);
      removed.push(`${stream}/${consumer.name} (it pushed to ${deliver.slice(0, 80)})`);
    }
  }
  return removed;
}

/** The user key of each DID revoked in some tenant (nats-server revokes a key in the whole account: a role elsewhere needs a JWT issued after). */
function revokedKeys(admission: AdmissionState): Set<string> {
  const keys = new Set<string>();
  for (const byDid of Object.values(admission.revoked)) {
    for (const did of Object.keys(byDid)) if (didKeyProblem(did) === undefined) keys.add(nkeyPublic("user", publicKeyFromDid(did)));
  }
  return keys;
}

/**
 * Sends the account's JWT with these revocations to the server, over a connection as a user of
 * the system account: nats-server 2.9 takes an update signed by the operator on
 * $SYS.REQ.ACCOUNT.<account>.CLAIMS.UPDATE and closes the revoked users' connections.
 */
async function pushAccount(system: NatsConnection, governance: Identity, revocations: Record<string, number>): Promise<void> {
  await system.request(`$SYS.REQ.ACCOUNT.${natsTrustOf(governance).account}.CLAIMS.UPDATE`, accountJwt(governance, revocations), { timeout: 5000 });
}

/**
 * A party's access with the JWT it was given, renewed over the bus by the governance service
 * before it expires (`onRenewed` may keep the new one, e.g. in the party's key directory).
 */
export function renewedByService(
  identity: Identity,
  jwt: string,
  governanceDid: string,
  hooks: { readonly onRenewed?: (jwt: string) => void; readonly onFailure?: (err: Error) => void } = {},
): BusAccess {
  const account = accountOf(governanceDid);
  const credentials = credentialsOf(identity, jwt);
  let current = jwt;
  let expiresAt = expiryOf(readUserJwt(jwt, account));
  return {
    jwt: () => current,
    seed: new TextEncoder().encode(credentials.seed),
    inboxPrefix: credentials.inboxPrefix,
    renewal: {
      expiresAt: () => expiresAt,
      renew: async (nc) => {
        current = await requestRenewal(nc, identity, governanceDid);
        expiresAt = expiryOf(readUserJwt(current, account));
        hooks.onRenewed?.(current);
      },
      ...(hooks.onFailure === undefined ? {} : { onFailure: hooks.onFailure }),
    },
  };
}

const expiryOf = (claims: { readonly exp?: number }): number | undefined => (claims.exp === undefined ? undefined : claims.exp * 1000);

/** Every tenant's admissions as the stream holds them now, folded as the ledger folds them. */
export async function admissionFromStream(js: JetStreamClient, trustRoot: string): Promise<AdmissionState> {
  let admission = emptyAdmission(trustRoot);
  for await (const m of await readStream(js, EVENTS_STREAM, { filter: "catopt.*.gov.>", untilEnd: true })) {
    try {
      const { event, author } = verifyMessage(m.data);
      if (isGovernanceEvent(event)) admission = applyGovernance(admission, event, author, m.seq);
    } catch {
      // a refused governance event changes nothing (the ledger quarantines it)
    }
  }
  return admission;
}
