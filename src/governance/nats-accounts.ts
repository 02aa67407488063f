import { hkdfSync } from "node:crypto";
import { catoptError } from "../core/errors.ts";
import { identityFromSeed, seedOf, type Identity } from "./identity.ts";
import { decodeJwt, encodeJwt, type JwtClaims } from "./nats-jwt.ts";
import { inboxPrefixOf, permissionsOf, type Grant } from "./nats-permissions.ts";
import { nkeyPublic, nkeySeed } from "./nkey.ts";

/**
 * The NATS side of the trust root (operator mode, which nats-server 2.9 has; the auth callout
 * needs 2.10). The governance identity's key is the operator, which signs the accounts, and the
 * account "catopt", which signs every user's JWT: whoever the governance events admit gets a
 * JWT for its own public key, and private keys never leave their owners. Two keys are derived
 * from the governance seed (HKDF): the system account, which nats-server needs for JetStream,
 * and the governance service's own NATS user. The governance key itself never connects: a
 * client signs the nonce its server sends, and a hostile server could send the text of a JWT.
 */
export type NatsTrust = {
  readonly operator: string;
  readonly account: string;
  readonly systemAccount: string;
  /** The governance service's own NATS identity (its user key), with every permission. */
  readonly serviceUser: Identity;
  /** The system account's key (it signs its users), and the one user the service has there: it pushes account updates. */
  readonly systemSigner: Identity;
  readonly systemUser: Identity;
};

export function natsTrustOf(governance: Identity): NatsTrust {
  return {
    operator: nkeyPublic("operator", governance.publicKey),
    account: nkeyPublic("account", governance.publicKey),
    systemAccount: nkeyPublic("account", derived(governance, "system account").publicKey),
    serviceUser: derived(governance, "governance service user"),
    systemSigner: derived(governance, "system account"),
    systemUser: derived(governance, "system account user"),
  };
}

function derived(governance: Identity, purpose: string): Identity {
  const seed = new Uint8Array(hkdfSync("sha256", seedOf(governance), "catopt-flow nats", purpose, 32));
  return identityFromSeed(`governance (${purpose})`, seed);
}

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

/**
 * The server configuration that trusts the governance identity: operator, system account and
 * both account JWTs, preloaded (resolver MEMORY: nothing to fetch, nothing to write). Users
 * whose JWT was issued before the time `revocations` gives their key are refused.
 */
export function serverAuthConfig(governance: Identity, revocations: Readonly<Record<string, number>> = {}, now = Date.now()): string {
  const trust = natsTrustOf(governance);
  const iat = Math.floor(now / 1000);
  const operator = encodeJwt(
    { iss: trust.operator, sub: trust.operator, name: "catopt", iat, nats: { type: "operator", system_account: trust.systemAccount } },
    governance,
  );
  const system = encodeJwt({ iss: trust.operator, sub: trust.systemAccount, name: "SYS", iat, nats: { type: "account", limits: UNLIMITED } }, governance);
  return [
    `operator: ${operator}`,
    `system_account: ${trust.systemAccount}`,
    "resolver: MEMORY",
    `resolver_preload: {\n  ${trust.account}: ${accountJwt(governance, revocations, now)}\n  ${trust.systemAccount}: ${system}\n}`,
    "",
  ].join("\n");
}

/** The account every party is a user of, with JetStream and the revocations (user nkey -> seconds). */
export function accountJwt(governance: Identity, revocations: Readonly<Record<string, number>>, now = Date.now()): string {
  const trust = natsTrustOf(governance);
  return encodeJwt(
    {
      iss: trust.operator,
      sub: trust.account,
      name: "catopt",
      iat: Math.floor(now / 1000),
      nats: {
        type: "account",
        limits: { ...UNLIMITED, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 },
        ...(Object.keys(revocations).length === 0 ? {} : { revocations }),
      },
    },
    governance,
  );
}

export const MAX_TTL_SECONDS = 7 * 86400;

/** Default lifetimes: a party that works renews within these; one that only looks, sooner. */
export const DEFAULT_TTL_SECONDS = { work: 3600, view: 900 } as const;

export const defaultTtlOf = (grants: readonly Grant[]): number =>
  grants.every((g) => g.role === "viewer") ? DEFAULT_TTL_SECONDS.view : DEFAULT_TTL_SECONDS.work;

/** A user JWT for `userPublicKey`, with the permissions of `grants`, signed by the governance identity. */
export function issueUserJwt(
  governance: Identity,
  user: { readonly publicKey: Uint8Array; readonly name: string },
  grants: readonly Grant[],
  ttlSeconds: number,
  now = Date.now(),
): string {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 366 * 86400)
    throw catoptError("USAGE", `a credential's lifetime must be 1 s to 366 days, not ${ttlSeconds}`);
  const sub = nkeyPublic("user", user.publicKey);
  const iat = Math.floor(now / 1000);
  return encodeJwt(
    {
      iss: natsTrustOf(governance).account,
      sub,
      name: user.name,
      iat,
      exp: iat + ttlSeconds,
      nats: { type: "user", ...permissionsOf(grants, sub), subs: -1, data: -1, payload: -1 },
    },
    governance,
  );
}

/** The credentials of the service's user in the system account: it may only send account updates. */
export function systemUserCredentials(governance: Identity, ttlSeconds: number, now = Date.now()): UserCredentials {
  const trust = natsTrustOf(governance);
  const sub = nkeyPublic("user", trust.systemUser.publicKey);
  const iat = Math.floor(now / 1000);
  const permissions = { pub: { allow: [`$SYS.REQ.ACCOUNT.${trust.account}.CLAIMS.UPDATE`] }, sub: { allow: [`${inboxPrefixOf(sub)}.>`] } };
  const jwt = encodeJwt(
    {
      iss: trust.systemAccount,
      sub,
      name: "catopt-system",
      iat,
      exp: iat + ttlSeconds,
      nats: { type: "user", ...permissions, subs: -1, data: -1, payload: -1 },
    },
    trust.systemSigner,
  );
  return credentialsOf(trust.systemUser, jwt);
}

/** When a JWT this process issued expires (ms), read from its claims without a check: it signed them. */
export function expiryOfOwnJwt(jwt: string): number | undefined {
  const claims = JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8")) as { exp?: number };
  return claims.exp === undefined ? undefined : claims.exp * 1000;
}

/** A user JWT's claims, checked against the pinned account (the governance identity): what `catopt creds show` prints. */
export function readUserJwt(token: string, governanceAccount: string): JwtClaims {
  const claims = decodeJwt(token, "account", governanceAccount);
  if (claims.nats.type !== "user") throw catoptError("JWT_INVALID", `not a valid NATS JWT: a ${claims.nats.type} JWT, not a user's`);
  return claims;
}

/** What a client connects with: the user JWT and seed (a creds file's two parts), and its own inbox prefix. */
export type UserCredentials = { readonly jwt: string; readonly seed: string; readonly user: string; readonly inboxPrefix: string };

export function credentialsOf(identity: Identity, jwt: string): UserCredentials {
  const user = nkeyPublic("user", identity.publicKey);
  return { jwt, seed: nkeySeed("user", seedOf(identity)), user, inboxPrefix: inboxPrefixOf(user) };
}

/** The creds file format of the NATS tools (nsc, the nats CLI, every client library). */
export function credsFileText(credentials: UserCredentials): string {
  return [
    "-----BEGIN NATS USER JWT-----",
    credentials.jwt,
    "------END NATS USER JWT------",
    "",
    "************************* IMPORTANT *************************",
    "NKEY Seed printed below can be used to sign and prove identity.",
    "NKEYs are sensitive and should be treated as secrets.",
    "",
    "-----BEGIN USER NKEY SEED-----",
    credentials.seed,
    "------END USER NKEY SEED------",
    "",
    "*************************************************************",
    "",
  ].join("\n");
}

/** The JWT and seed of a creds file, or one line saying what is missing: read line by line (a file is input like any other). */
export function parseCredsFile(text: string, where: string): { readonly jwt: string; readonly seed: string } {
  if (text.length > 64 * 1024) throw catoptError("CREDS_INVALID", `${where}: ${text.length} characters is not a creds file`);
  const lines = text.split("\n").map((line) => line.trim());
  const block = (label: string): string => {
    const begin = lines.findIndex((line) => /^-+BEGIN /.test(line) && line.includes(`BEGIN ${label}`));
    const value = begin < 0 ? undefined : lines[begin + 1];
    if (value === undefined || value === "" || value.startsWith("-") || !/^-+END /.test(lines[begin + 2] ?? "")) {
      throw catoptError("CREDS_INVALID", `${where}: no "BEGIN ${label}" block: is it a NATS creds file?`);
    }
    return value;
  };
  return { jwt: block("NATS USER JWT"), seed: block("USER NKEY SEED") };
}
