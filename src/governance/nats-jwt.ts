import { createHash } from "node:crypto";
import { catoptError } from "../core/errors.ts";
import { signBytes, verifyBytes, type Identity } from "./identity.ts";
import { didFromPublicKey } from "./did-key.ts";
import { base32, publicKeyOfNkey, type NkeyRole } from "./nkey.ts";

/**
 * NATS JWTs (version 2, as nats-server 2.9 reads them in operator mode), written by our own code
 * rather than @nats-io/jwt, whose README calls it no supported API: a JWT here is a JSON header,
 * JSON claims and an Ed25519 signature over both, in base64url, and the tests hand every kind
 * we write to a real nats-server. The issuer signs with its identity's key, so the governance
 * identity (the trust root) is the account that issues every user's JWT.
 */
export type JwtKind = "operator" | "account" | "user";

export type JwtClaims = {
  /** The issuer's nkey: the operator signs operators and accounts, the account its users. */
  readonly iss: string;
  /** The subject's nkey. */
  readonly sub: string;
  readonly name: string;
  /** Seconds since 1970. */
  readonly iat: number;
  /** Seconds since 1970; absent: never expires. */
  readonly exp?: number;
  /** What nats-server reads: the claim's type, its permissions or limits. */
  readonly nats: Readonly<Record<string, unknown>> & { readonly type: JwtKind };
};

const base64url = (bytes: Buffer): string => bytes.toString("base64url");
const HEADER = base64url(Buffer.from(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" })));

export function encodeJwt(
  claims: Omit<JwtClaims, "nats"> & { readonly nats: Readonly<Record<string, unknown>> & { readonly type: JwtKind } },
  issuer: Identity,
): string {
  const body = { ...claims, nats: { ...claims.nats, version: 2 } };
  // jti: the SHA-256 of the claims without it, as the Go library names a JWT.
  const jti = createHash("sha256").update(JSON.stringify(body)).digest();
  const payload = base64url(Buffer.from(JSON.stringify({ jti: base32(jti), ...body })));
  const signature = signBytes(issuer, Buffer.from(`${HEADER}.${payload}`));
  return `${HEADER}.${payload}.${base64url(Buffer.from(signature))}`;
}

/** A JWT longer than this is not one of ours; nothing longer is decoded. */
export const MAX_JWT_LENGTH = 16_384;

/**
 * Reads a JWT and checks its signature by the issuer it names, which must be `issuer` (pinned by
 * the caller, never taken from the token) and of the role `issuerRole`. Throws one line naming
 * what is wrong.
 */
export function decodeJwt(token: string, issuerRole: NkeyRole, issuer: string): JwtClaims {
  const fail = (why: string): never => {
    throw catoptError("JWT_INVALID", `not a valid NATS JWT: ${why}`);
  };
  if (token.length > MAX_JWT_LENGTH) fail(`${token.length} characters (at most ${MAX_JWT_LENGTH})`);
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== HEADER) fail("expected an ed25519-nkey header and three dot-separated parts");
  let claims: JwtClaims;
  try {
    claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8")) as JwtClaims;
  } catch {
    return fail("its claims are not JSON");
  }
  if (typeof claims !== "object" || claims === null || typeof claims.iss !== "string" || typeof claims.sub !== "string") fail("no issuer or subject");
  if (claims.iss !== issuer) fail(`issued by ${claims.iss}, not by ${issuer}`);
  const key = publicKeyOfNkey(issuerRole, claims.iss);
  if (typeof key === "string") return fail(key);
  if (!verifyBytes(didFromPublicKey(key), Buffer.from(`${parts[0]}.${parts[1]}`), Buffer.from(parts[2], "base64url"))) fail("bad signature");
  if (typeof claims.nats !== "object" || claims.nats === null || !["operator", "account", "user"].includes(claims.nats.type)) fail("no NATS claim type");
  return claims;
}
