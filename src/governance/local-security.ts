import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { BusAccess, BusTls } from "../bus/connection.ts";
import { makeLocalTls, type TlsFiles } from "../bus/tls-files.ts";
import type { Identity } from "./identity.ts";
import { credentialsOf, defaultTtlOf, issueUserJwt, natsTrustOf, serverAuthConfig } from "./nats-accounts.ts";
import type { Grant } from "./nats-permissions.ts";

/**
 * The security of a deployment whose governance identity is at hand (the embedded default of
 * demo, run and the tests; `catopt server`): the server's operator and accounts, its TLS, and
 * each party's credentials, renewed by signing a fresh JWT locally before the old one expires.
 */
export type LocalSecurity = {
  /** The server configuration to add: operator, accounts, TLS. */
  readonly serverConfig: string;
  /** The TLS files, the CA among them, that clients pin. */
  readonly tls: TlsFiles;
  /** The governance service's own access: every permission. */
  readonly service: BusAccess;
  /** Credentials for `identity` with the permissions of `grants`, renewed before they expire. */
  accessFor(identity: Identity, grants: readonly Grant[]): BusAccess;
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
  const accessFor = (identity: Identity, grants: readonly Grant[]): BusAccess => {
    const ttl = options.ttlSeconds ?? defaultTtlOf(grants);
    let jwt = issueUserJwt(governance, identity, grants, ttl);
    let expiresAt = Date.now() + ttl * 1000;
    const credentials = credentialsOf(identity, jwt);
    return {
      jwt: () => jwt,
      seed: new TextEncoder().encode(credentials.seed),
      inboxPrefix: credentials.inboxPrefix,
      renewal: {
        expiresAt: () => expiresAt,
        renew: async () => {
          jwt = issueUserJwt(governance, identity, grants, ttl);
          expiresAt = Date.now() + ttl * 1000;
        },
      },
    };
  };
  return {
    serverConfig: serverAuthConfig(governance) + tlsConfig(tls),
    tls,
    service: accessFor(natsTrustOf(governance).serviceUser, [{ role: "governance", tenant: "*", name: "governance" }]),
    accessFor,
    close: async () => {
      if (options.dir === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The client TLS block: clients must speak TLS (a cluster's routes get theirs from local-cluster.ts). */
export const tlsConfig = (tls: TlsFiles): string =>
  `tls { cert_file: ${JSON.stringify(tls.certFile)}, key_file: ${JSON.stringify(tls.keyFile)}, ca_file: ${JSON.stringify(tls.caFile)}, timeout: 5 }\n`;

export const clientTlsOf = (tls: TlsFiles): BusTls => ({ caFile: tls.caFile });
