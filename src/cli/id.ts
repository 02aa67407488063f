import { catoptError } from "../core/errors.ts";
import { publicKeyFromDid } from "../governance/did-key.ts";
import { generateIdentity, identityFromSeed, type Identity } from "../governance/identity.ts";
import { defaultKeyDir, keyFile, loadIdentity, saveIdentity } from "../governance/keystore.ts";
import { stringOption, type Command, type Io, type ParsedArgs } from "../core/command.ts";
import { KEYS_OPTION } from "./identity-options.ts";

export const idCommand: Command = {
  name: "id",
  synopsis: "new|show|import [options]",
  summary: "create, show or import an Ed25519 identity (a did:key)",
  description:
    "Manage identities: every agent, coordinator and the governance service signs its events with one. Keys live in a key directory, one file per name, readable by you only.",
  options: {
    name: { type: "string", value: "<name>", description: 'the identity\'s name in the key directory (default "default")' },
    keys: KEYS_OPTION,
    "seed-hex": { type: "string", value: "<hex>", description: "with import: an RFC 8032 Ed25519 private key seed, 64 hex digits" },
    did: { type: "string", value: "<did>", description: "with show: check and decode this did:key instead of a stored key" },
    json: { type: "boolean", description: 'print {"did": ..., "public_key_hex": ...}' },
  },
  details: [
    "Examples:",
    "  catopt id new --name rover",
    "  catopt id show --name rover --json",
    "  catopt id import --name ops --seed-hex 9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "  catopt id show --did did:key:z6MkmjY8GnV5i9YTDtPETC2uUAW6ejw3nk5mXF5yci5ab7th",
  ],
  run: async (args, io) => {
    const action = args.positionals[0];
    const dir = stringOption(args, "keys") ?? defaultKeyDir();
    const name = stringOption(args, "name") ?? "default";
    switch (action) {
      case "new": {
        const identity = generateIdentity(name);
        print(io, args, identity, await saveIdentity(dir, identity));
        return 0;
      }
      case "import": {
        const seedHex = stringOption(args, "seed-hex");
        if (seedHex === undefined || !/^[0-9a-fA-F]{64}$/.test(seedHex))
          throw catoptError("USAGE", "import needs --seed-hex with exactly 64 hex digits (a 32-byte Ed25519 seed)");
        const identity = identityFromSeed(name, Buffer.from(seedHex, "hex"));
        print(io, args, identity, await saveIdentity(dir, identity));
        return 0;
      }
      case "show": {
        const did = stringOption(args, "did");
        if (did !== undefined) {
          let publicKey: Uint8Array;
          try {
            publicKey = publicKeyFromDid(did);
          } catch (err) {
            throw catoptError("DID_INVALID", (err as Error).message, err);
          }
          if (args.values.json === true) io.out(`${JSON.stringify({ did, public_key_hex: hex(publicKey) })}\n`);
          else io.out(`did:         ${did}\npublic key:  ${hex(publicKey)} (Ed25519)\n`);
          return 0;
        }
        print(io, args, await loadIdentity(dir, name), keyFile(dir, name));
        return 0;
      }
      default:
        throw catoptError("USAGE", `id expects new, show or import${action ? `, not "${action}"` : ""}`);
    }
  },
};

function print(io: Io, args: ParsedArgs, identity: Identity, file: string): void {
  if (args.values.json === true) {
    io.out(`${JSON.stringify({ did: identity.did, public_key_hex: hex(identity.publicKey), name: identity.name, file })}\n`);
  } else {
    io.out(`name:        ${identity.name}\ndid:         ${identity.did}\npublic key:  ${hex(identity.publicKey)}\nkey file:    ${file}\n`);
  }
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
