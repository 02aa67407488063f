import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { writePrivateFile } from "../bus/private-file.ts";
import path from "node:path";
import type { JetStreamClient } from "@nats-io/jetstream";
import { NATS_OPTION, stringOption, type Command, type Io, type ParsedArgs } from "../core/command.ts";
import { catoptError } from "../core/errors.ts";
import { ROLES, type Role } from "../core/schemas.ts";
import { governanceSubject, isToken } from "../core/subjects.ts";
import { admissionFromStream } from "../governance/credential-service.ts";
import { didKeyProblem, publicKeyFromDid } from "../governance/did-key.ts";
import { admitEvent, revokeEvent } from "../governance/governance-events.ts";
import type { Identity } from "../governance/identity.ts";
import { loadIdentity } from "../governance/keystore.ts";
import { defaultTtlOf, issueUserJwt, parseCredsFile, readUserJwt } from "../governance/nats-accounts.ts";
import { grantsOf } from "../governance/nats-permissions.ts";
import { nkeyPublic } from "../governance/nkey.ts";
import { publishEvent } from "../governance/signed-publish.ts";
import { governanceSession, TLS_OPTIONS } from "./connect-options.ts";
import { KEYS_OPTION, keyDirOf, pinnedTrustRoot } from "./identity-options.ts";
import { requireNatsUrl } from "./require-nats.ts";

export const credsCommand: Command = {
  name: "creds",
  synopsis: "issue|show|revoke [options]",
  summary: "issue a party's NATS credentials (a user JWT for its own key), show what one allows, revoke one",
  description:
    "issue: as the governance identity, admit a DID to a role (--role, --tenant, --name) and write its user JWT: permissions for every role it holds, expiring after --ttl. Only the public key is needed: private keys never leave their owners. show: what a JWT allows, checked against the pinned governance identity. revoke: withdraw a DID's roles in a tenant; the governance service cuts it off at once and renews it no more.",
  options: {
    nats: NATS_OPTION,
    did: { type: "string", value: "<did>", description: "the party's did:key (default: the key --name in the key directory)" },
    role: { type: "string", value: ROLES.join("|"), description: "with issue: admit it to this role first" },
    tenant: { type: "string", value: "<tenant>", description: "the tenant of the role" },
    name: { type: "string", value: "<name>", description: "the party's name (an agent's name; the JWT file is <key directory>/<name>.jwt)" },
    ttl: { type: "string", value: "<seconds>", description: "with issue: lifetime (default 3600; 900 for a viewer); parties renew before it ends" },
    out: { type: "string", value: "<file>", description: "with issue: write the JWT here instead" },
    reason: { type: "string", value: "<text>", description: "with revoke: why" },
    keys: KEYS_OPTION,
    ...TLS_OPTIONS,
  },
  details: [
    "Examples:",
    "  catopt creds issue --role viewer --tenant cosmos --name ops          writes ~/.catopt/keys/ops.jwt",
    "  catopt creds issue --role agent --tenant cosmos --name rover --did did:key:z6Mk... --out rover.jwt",
    "  catopt creds show ~/.catopt/keys/ops.jwt",
    "  catopt creds revoke --tenant cosmos --did did:key:z6Mk... --reason 'key lost'",
  ],
  run: async (args, io) => {
    const action = args.positionals[0];
    if (action === "show") return show(args, io);
    if (action !== "issue" && action !== "revoke") throw catoptError("USAGE", `creds expects issue, show or revoke${action ? `, not "${action}"` : ""}`);
    const url = requireNatsUrl(args, `creds ${action}`);
    const governance = await loadIdentity(keyDirOf(args), "governance");
    const tenant = stringOption(args, "tenant");
    if (tenant !== undefined && !isToken(tenant)) throw catoptError("USAGE", `--tenant "${tenant}" must be 1-64 letters, digits, '-' or '_'`);
    const party = await partyOf(args);
    const bus = await governanceSession(args, url, "catopt-creds", governance, undefined, io);
    try {
      if (action === "revoke") {
        if (tenant === undefined) throw catoptError("USAGE", "creds revoke needs --tenant");
        const event = revokeEvent(tenant, party.did, stringOption(args, "reason") ?? "revoked");
        await publishEvent(bus.js, governanceSubject(tenant, "revoke"), event, governance);
        io.out(`revoked ${party.did} in ${tenant}: the governance service cuts it off and renews it no more\n`);
        return 0;
      }
      const role = stringOption(args, "role");
      if (role !== undefined) {
        if (!(ROLES as readonly string[]).includes(role)) throw catoptError("USAGE", `--role must be one of ${ROLES.join(", ")}, not "${role}"`);
        if (tenant === undefined) throw catoptError("USAGE", "creds issue --role needs --tenant");
        await publishEvent(bus.js, governanceSubject(tenant, "admit"), admitEvent(tenant, party.did, role as Role, party.name), governance);
      }
      const file = await issueTo(bus.js, governance, party, stringOption(args, "out") ?? path.join(keyDirOf(args), `${party.name}.jwt`), args);
      io.out(`wrote ${file}: ${party.name}'s credentials (${nkeyPublic("user", publicKeyFromDid(party.did))})\n`);
      return 0;
    } finally {
      await bus.close();
    }
  },
};

/** Writes the JWT of `party` for the roles the stream says it holds. */
export async function issueTo(
  js: JetStreamClient,
  governance: Identity,
  party: { readonly did: string; readonly name: string },
  file: string,
  args: ParsedArgs,
): Promise<string> {
  const grants = grantsOf(await admissionFromStream(js, governance.did), party.did);
  if (grants.length === 0) throw catoptError("CREDS_REFUSED", `${party.did} holds no role: admit it first (--role, --tenant)`);
  const ttlText = stringOption(args, "ttl");
  const ttl = ttlText === undefined ? defaultTtlOf(grants) : Number(ttlText);
  const jwt = issueUserJwt(governance, { publicKey: publicKeyFromDid(party.did), name: party.name }, grants, ttl);
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writePrivateFile(file, `${jwt}\n`);
  return file;
}

async function partyOf(args: ParsedArgs): Promise<{ did: string; name: string }> {
  const did = stringOption(args, "did");
  const name = stringOption(args, "name");
  if (name !== undefined && !isToken(name)) throw catoptError("USAGE", `--name "${name}" must be 1-64 letters, digits, '-' or '_' (it names subjects)`);
  if (did !== undefined) {
    const problem = didKeyProblem(did);
    if (problem !== undefined) throw catoptError("DID_INVALID", `--did: ${problem}`);
    if (name === undefined) throw catoptError("USAGE", "--did needs --name too (the party's name)");
    return { did, name };
  }
  if (name === undefined) throw catoptError("USAGE", "needs --name <name> (its key in the key directory) or --did <did> --name <name>");
  return { did: (await loadIdentity(keyDirOf(args), name)).did, name };
}

async function show(args: ParsedArgs, io: Io): Promise<number> {
  const file = args.positionals[1];
  if (file === undefined) throw catoptError("USAGE", "creds show needs a file (a .jwt or a .creds file)");
  if (!existsSync(file)) throw catoptError("USAGE", `no file ${file}`);
  const text = await readFile(file, "utf8");
  const jwt = text.includes("BEGIN NATS USER JWT") ? parseCredsFile(text, file).jwt : text.trim();
  const trustRoot = (await pinnedTrustRoot(args)).did;
  const claims = readUserJwt(jwt, nkeyPublic("account", publicKeyFromDid(trustRoot)));
  const nats = claims.nats as { pub?: { allow?: string[] }; sub?: { allow?: string[] } };
  const expired = claims.exp !== undefined && claims.exp * 1000 < Date.now();
  io.out(
    [
      `${file}: ${claims.name}, user ${claims.sub}, issued by the governance identity ${trustRoot}`,
      `  issued    ${new Date(claims.iat * 1000).toISOString()}`,
      `  expires   ${claims.exp === undefined ? "never" : new Date(claims.exp * 1000).toISOString()}${expired ? " (expired)" : ""}`,
      `  publish   ${(nats.pub?.allow ?? []).join(" ")}`,
      `  subscribe ${(nats.sub?.allow ?? []).join(" ")}`,
      "",
    ].join("\n"),
  );
  return expired ? 1 : 0;
}
