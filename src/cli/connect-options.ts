import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { writePrivateFile } from "../bus/private-file.ts";
import path from "node:path";
import type { BusAccess, BusTls, ConnectSecurity } from "../bus/connection.ts";
import { openBus, type BusSession } from "../bus/session.ts";
import { stringOption, type Io, type OptionSpec, type ParsedArgs } from "../core/command.ts";
import { catoptError } from "../core/errors.ts";
import { renewedByService } from "../governance/credential-service.ts";
import { publicKeyFromDid } from "../governance/did-key.ts";
import type { Identity } from "../governance/identity.ts";
import { renewedLocally } from "../governance/local-security.ts";
import { credentialsOf, issueUserJwt, natsTrustOf, parseCredsFile, readUserJwt } from "../governance/nats-accounts.ts";
import { nkeyPublic } from "../governance/nkey.ts";
import { loadIdentity } from "../governance/keystore.ts";
import { keyDirOf } from "./identity-options.ts";

/**
 * How a command connects to a deployment: over TLS when a CA is pinned (--tls-ca or
 * $CATOPT_TLS_CA), and as its party, with the user JWT the governance identity issued for its
 * key: <key directory>/<name>.jwt (catopt server and catopt creds issue write it there), renewed
 * by the governance service before it expires. A command that signs as the governance identity
 * makes its own. Without either, it says in one line that it connects as nobody in particular.
 */
export const TLS_CA_OPTION: OptionSpec = {
  type: "string",
  value: "<file>",
  description: "the CA that signed the NATS servers' certificates: connect over TLS, trusting it alone (default $CATOPT_TLS_CA)",
};

export const AS_OPTION: OptionSpec = {
  type: "string",
  value: "<name>",
  description: "connect as the party of this key: its credentials are <key directory>/<name>.jwt (a viewer, an auditor)",
};

/** The TLS options every command that joins a deployment takes. */
export const TLS_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  "tls-ca": TLS_CA_OPTION,
  "tls-cert": { type: "string", value: "<file>", description: "with mutual TLS: this client's certificate (default $CATOPT_TLS_CERT)" },
  "tls-key": { type: "string", value: "<file>", description: "with mutual TLS: its key (default $CATOPT_TLS_KEY)" },
};

export function tlsOf(args: ParsedArgs): BusTls | undefined {
  const given = (name: string, env: string): string | undefined => {
    const file = stringOption(args, name) ?? (process.env[env] || undefined);
    if (file !== undefined && !existsSync(file)) throw catoptError("USAGE", `--${name}: no file ${file}`);
    return file;
  };
  const caFile = given("tls-ca", "CATOPT_TLS_CA");
  const certFile = given("tls-cert", "CATOPT_TLS_CERT");
  const keyFile = given("tls-key", "CATOPT_TLS_KEY");
  if ((certFile === undefined) !== (keyFile === undefined)) throw catoptError("USAGE", "--tls-cert and --tls-key go together");
  if (caFile === undefined) {
    if (certFile !== undefined) throw catoptError("USAGE", "--tls-cert needs --tls-ca (the CA to pin)");
    return undefined;
  }
  return { caFile, ...(certFile === undefined || keyFile === undefined ? {} : { certFile, keyFile }) };
}

/** The JWT file of the party named `name` in the key directory. */
export const jwtFileOf = (args: ParsedArgs, name: string): string => path.join(keyDirOf(args), `${name}.jwt`);

/** A party's access from its JWT file, renewed through the governance service; undefined when it has none. */
export async function partyAccess(args: ParsedArgs, identity: Identity, governanceDid: string | undefined, io: Io): Promise<BusAccess | undefined> {
  const file = jwtFileOf(args, identity.name);
  if (!existsSync(file)) return undefined;
  if (governanceDid === undefined) throw catoptError("USAGE", `${file}: its issuer must be pinned: pass --governance <did> or set CATOPT_GOVERNANCE`);
  const text = await readFile(file, "utf8");
  const jwt = text.includes("BEGIN NATS USER JWT") ? parseCredsFile(text, file).jwt : text.trim();
  let claims: ReturnType<typeof readUserJwt>;
  try {
    claims = readUserJwt(jwt, nkeyPublic("account", publicKeyFromDid(governanceDid)));
  } catch (err) {
    throw catoptError("CREDS_INVALID", `${file}: ${(err as Error).message} (issued by another governance identity than the one pinned?)`, err);
  }
  if (claims.sub !== nkeyPublic("user", identity.publicKey)) throw catoptError("CREDS_INVALID", `${file} is for another key than ${identity.name}'s`);
  if (claims.exp !== undefined && claims.exp * 1000 < Date.now()) {
    throw catoptError("CREDS_INVALID", `${file} expired at ${new Date(claims.exp * 1000).toISOString()}: have governance issue another (catopt creds issue)`);
  }
  return renewedByService(identity, jwt, governanceDid, {
    onRenewed: (fresh) => void writePrivateFile(file, `${fresh}\n`).catch(() => undefined),
    onFailure: (err) => io.err(`catopt: could not renew ${identity.name}'s credentials (${err.message}); trying again while they last\n`),
  });
}

/** The governance service's own access, made with the governance key (renewed the same way). */
export function governanceAccess(governance: Identity, ttlSeconds = 3600): BusAccess {
  const service = natsTrustOf(governance).serviceUser;
  const issue = () => issueUserJwt(governance, service, [{ role: "governance", tenant: "*", name: "governance" }], ttlSeconds);
  return renewedLocally(credentialsOf(service, issue()), issue);
}

/** Says, once, that a connection goes without credentials or without TLS: fine on a plain server of one's own, nowhere else. */
export function warnIfPlain(io: Io, url: string, security: ConnectSecurity, who: string): void {
  const missing = [security.access === undefined ? `credentials (no ${who})` : "", security.tls === undefined ? "TLS (no --tls-ca)" : ""].filter(Boolean);
  if (missing.length > 0)
    io.err(`catopt: warning: connecting to ${url} without ${missing.join(" and ")}: a server that lets anyone in lets anyone read and publish everything\n`);
}

/**
 * A party's session on a deployment: connected as the first of `parties` (each further
 * connection as its own party through accessOf), streams left as they are unless it may make
 * them (a plain server).
 */
export async function partySession(
  args: ParsedArgs,
  io: Io,
  url: string,
  name: string,
  parties: readonly Identity[],
  governanceDid: string | undefined,
  replicas?: number,
): Promise<{ readonly bus: BusSession; accessOf(identity: Identity): BusAccess | undefined }> {
  const tls = tlsOf(args);
  const accesses = new Map<string, BusAccess | undefined>();
  for (const party of parties) accesses.set(party.did, await partyAccess(args, party, governanceDid, io));
  const own = parties.length === 0 ? undefined : accesses.get(parties[0].did);
  // A JWT and a nonce signature sent in the clear let whoever is on the path log in as the party.
  if (tls === undefined && [...accesses.values()].some((a) => a !== undefined)) {
    throw catoptError("USAGE", "credentials go only over TLS: pass --tls-ca <the deployment's CA> (or set CATOPT_TLS_CA)");
  }
  warnIfPlain(io, url, { access: own, tls }, parties.length === 0 ? "--as <name>" : jwtFileOf(args, parties[0].name));
  const bus = await openBus({
    url,
    name,
    replicas,
    security: { ...(own === undefined ? {} : { access: own }), ...(tls === undefined ? {} : { tls }) },
    applyStreams: own === undefined,
  });
  return { bus, accessOf: (identity) => accesses.get(identity.did) };
}

/** The governance identity's session: its own credentials, every right (it makes the streams). */
export async function governanceSession(args: ParsedArgs, url: string, name: string, governance: Identity, replicas?: number, io?: Io): Promise<BusSession> {
  const tls = tlsOf(args);
  // Without TLS no credentials go out (a plain server needs none, and on the path they would log anyone in as governance).
  if (tls === undefined)
    io?.err(
      `catopt: warning: connecting to ${url} without TLS, so without credentials: a server that lets anyone in lets anyone read and publish everything\n`,
    );
  return openBus({ url, name, replicas, security: tls === undefined ? {} : { access: governanceAccess(governance), tls } });
}

/** The party a reader connects as (--as <name>), if any. */
export async function readerParties(args: ParsedArgs): Promise<Identity[]> {
  const name = stringOption(args, "as");
  return name === undefined ? [] : [await loadIdentity(keyDirOf(args), name)];
}
