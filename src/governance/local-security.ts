import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { BusAccess, BusTls } from "../bus/connection.ts";
import { makeLocalTls, type TlsFiles } from "../bus/tls-files.ts";
import type { Identity } from "./identity.ts";
import {
  credentialsOf,
  DEFAULT_TTL_SECONDS,
  defaultTtlOf,
  expiryOfOwnJwt,
  issueUserJwt,
  natsTrustOf,
  serverAuthConfig,
  systemUserCredentials,
  type UserCredentials,
} from "./nats-accounts.ts";
import type { Grant } from "./nats-permissions.ts";

/**
 * The security of a deployment whose governance identity is at hand (the embedded default of
 * demo, run and the tests; `catopt server`): the server's operator and accounts, its TLS, and
 * each party's credentials, renewed by signing a fresh JWT locally before the old one expires.
 */
/**
 * How the parties of a run on a secured deployment connect, when the run holds the governance
 * key: the service's access, each party's credentials for its roles, and the CA to pin.
 */
export type RunSecurity = {
  /** The trust root's DID: the governance identity whose key signs every credential. */
  readonly governance: string;
  readonly service: BusAccess;
  accessFor(identity: Identity, grants: readonly Grant[]): BusAccess;
  readonly clientTls: BusTls;
  /** How many times the parties' credentials were renewed so far. */
  renewals(): number;
};

export type LocalSecurity = RunSecurity & {
  /** The server configuration to add: operator, accounts, TLS. */
  readonly serverConfig: string;
  /** The TLS files, the CA among them, that clients pin. */
  readonly tls: TlsFiles & { readonly caKeyFile: string };
  /** The service's user in the system account, which pushes revocations to the server. */
  readonly system: BusAccess;
  /** Removes the temporary TLS files (when it made them). */
  close(): Promise<void>;
};

export type LocalSecurityOptions = {
  /** Lifetime of every credential issued; by default an hour for parties that work, 15 minutes for viewers. */
  readonly ttlSeconds?: number;
  /** Where the TLS files go; a temporary directory, removed by close(), when absent. */
  readonly dir?: string;
};

export async function localSecurity(governance: Identity, options: LocalSecurityOptions = {}): Promise<LocalSecurity> {
  const dir = options.dir ?? (await mkdtemp(path.join(tmpdir(), "catopt-tls-")));
  const tls = await makeLocalTls(dir);
  return {
    ...deploymentSecurity(governance, { caFile: tls.caFile }, options.ttlSeconds),
    serverConfig: serverAuthConfig(governance) + tlsConfig(tls),
    tls,
    system: systemAccess(governance, options.ttlSeconds ?? DEFAULT_TTL_SECONDS.work),
    close: async () => {
      if (options.dir === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The run's side of a deployment secured by `governance` whose CA is `clientTls`: credentials made and renewed locally. */
export function deploymentSecurity(governance: Identity, clientTls: BusTls, ttlSeconds?: number): RunSecurity {
  let renewals = 0;
  const accessFor = (identity: Identity, grants: readonly Grant[]): BusAccess => {
    const ttl = ttlSeconds ?? defaultTtlOf(grants);
    const issue = () => issueUserJwt(governance, identity, grants, ttl);
    return renewedLocally(credentialsOf(identity, issue()), () => {
      renewals++;
      return issue();
    });
  };
  return {
    governance: governance.did,
    service: accessFor(natsTrustOf(governance).serviceUser, [{ role: "governance", tenant: "*", name: "governance" }]),
    accessFor,
    clientTls,
    renewals: () => renewals,
  };
}

/** Access as the system account's user, renewed locally. */
export function systemAccess(governance: Identity, ttlSeconds: number): BusAccess {
  let credentials = systemUserCredentials(governance, ttlSeconds);
  return renewedLocally(credentials, () => {
    credentials = systemUserCredentials(governance, ttlSeconds);
    return credentials.jwt;
  });
}

/** Access with these credentials, renewed by `issue` (the governance key is at hand) before they expire. */
export function renewedLocally(credentials: UserCredentials, issue: () => string): BusAccess {
  let jwt = credentials.jwt;
  return {
    jwt: () => jwt,
    seed: new TextEncoder().encode(credentials.seed),
    inboxPrefix: credentials.inboxPrefix,
    renewal: {
      // The JWT's own expiry: whole seconds from a whole-second issue time, up to a second sooner than now + ttl.
      expiresAt: () => expiryOfOwnJwt(jwt),
      renew: async () => {
        jwt = issue();
      },
    },
  };
}

/** The client TLS block: clients must speak TLS, and with `verify` show a certificate of the CA (mutual TLS; a cluster's routes get theirs from local-cluster.ts). */
export const tlsConfig = (tls: TlsFiles, verify = false): string =>
  `tls { cert_file: ${JSON.stringify(tls.certFile)}, key_file: ${JSON.stringify(tls.keyFile)}, ca_file: ${JSON.stringify(tls.caFile)}, timeout: 5${verify ? ", verify: true" : ""} }\n`;
