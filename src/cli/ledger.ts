import { readFile } from "node:fs/promises";
import { chosenNatsUrl } from "../bus/connection.ts";
import { openBus } from "../bus/session.ts";
import { decodeEnvelope } from "../core/envelope.ts";
import { catoptError } from "../core/errors.ts";
import { decodeEvent } from "../core/event.ts";
import { openNote, parseCheckpointText, verifyCheckpoint, type Checkpoint } from "../governance/checkpoint.ts";
import { decodeEntry, verifyLedger } from "../governance/ledger.ts";
import { ledgerFromFile, ledgerFromStream, vkeyOf, writeLedgerFile, type LedgerSource } from "../governance/ledger-source.ts";
import { fromHex, leafHash, MerkleLog, toHex, verifyConsistency, verifyInclusion } from "../governance/merkle.ts";
import { NATS_OPTION, stringOption, type Command, type Io, type ParsedArgs } from "./command.ts";
import { GOVERNANCE_OPTION, KEYS_OPTION, trustRootOf } from "./identity-options.ts";

export const ledgerCommand: Command = {
  name: "ledger",
  synopsis: "verify|prove|check|checkpoint|export [options]",
  summary: "verify the governance ledger, prove an entry's inclusion, check a proof, show or export it",
  description:
    "The ledger is every accepted event in a Merkle tree (RFC 6962) with signed C2SP checkpoints. Read it from the live stream (--nats), a ledger export (--file), or a recorded scenario stream (--file), whose accepted events make the same ledger.",
  options: {
    nats: NATS_OPTION,
    file: { type: "string", value: "<file>", description: "a ledger export or a recorded scenario stream instead of the live stream" },
    governance: GOVERNANCE_OPTION,
    keys: KEYS_OPTION,
    from: { type: "string", value: "<size>", description: "with prove: a consistency proof from this tree size to the latest checkpoint" },
    json: { type: "boolean", description: "print one JSON object (hashes in hex)" },
  },
  details: [
    "  catopt ledger verify --nats nats://127.0.0.1:4222      whole ledger: tree size and root, or the first bad index",
    "  catopt ledger prove cosmos/sol-energy/plan/12 --json > proof.json",
    "  catopt ledger check proof.json                          an inclusion or consistency proof, on its own",
    "  catopt ledger checkpoint --json                         the latest signed checkpoint and its verifier key",
    "  catopt ledger export ledger.catledger                  the whole ledger, to verify offline",
  ],
  run: async (args, io) => {
    const [action, argument] = args.positionals;
    switch (action) {
      case "verify":
        return verify(args, io, argument);
      case "prove":
        return prove(args, io, argument);
      case "check":
        return check(io, argument);
      case "checkpoint":
        return showCheckpoint(args, io);
      case "export":
        return exportLedger(args, io, argument);
      default:
        throw catoptError("USAGE", `ledger expects verify, prove, check, checkpoint or export${action ? `, not "${action}"` : ""}`);
    }
  },
};

type Loaded = LedgerSource & { readonly trustRoot: string; readonly vkey: string };

async function load(args: ParsedArgs, file = stringOption(args, "file")): Promise<Loaded> {
  let source: LedgerSource;
  if (file !== undefined) {
    source = await ledgerFromFile(file);
  } else {
    const url = chosenNatsUrl(stringOption(args, "nats"));
    if (url === undefined) throw catoptError("USAGE", "ledger needs --file <file>, or --nats <url> (or CATOPT_NATS_URL)");
    const bus = await openBus({ url, name: "catopt-ledger" });
    try {
      source = await ledgerFromStream(bus.js);
    } finally {
      await bus.close();
    }
  }
  const trustRoot = stringOption(args, "governance") !== undefined || source.governance === null ? await trustRootOf(args) : source.governance;
  return { ...source, trustRoot, vkey: vkeyOf(source, trustRoot) };
}

async function verify(args: ParsedArgs, io: Io, file?: string): Promise<number> {
  const ledger = await load(args, file ?? stringOption(args, "file"));
  const report = verifyLedger(ledger.entries, ledger.checkpoints, ledger.trustRoot, ledger.vkey);
  const result = {
    verified: report.problem === null,
    tree_size: report.size,
    root: report.root,
    checkpoints: report.checkpoints,
    checkpoint_size: report.lastCheckpoint?.size ?? null,
    first_bad_index: report.problem?.index ?? null,
    problem: report.problem?.reason ?? null,
    governance: ledger.trustRoot,
  };
  if (args.values.json === true) io.out(`${JSON.stringify(result)}\n`);
  else if (report.problem === null) io.out(`ledger verified: ${report.size} entries, root ${report.root}, ${report.checkpoints} signed checkpoint(s)\n`);
  if (report.problem !== null) {
    io.err(`catopt ledger: does not verify at entry ${report.problem.index}: ${report.problem.reason}\n`);
    return 1;
  }
  return 0;
}

function latestCheckpoint(ledger: Loaded): { note: string; checkpoint: Checkpoint } {
  const note = ledger.checkpoints[ledger.checkpoints.length - 1];
  if (note === undefined) throw catoptError("USAGE", "the ledger has no signed checkpoint yet");
  return { note, checkpoint: verifyCheckpoint(note, ledger.vkey) };
}

async function prove(args: ParsedArgs, io: Io, eventId?: string): Promise<number> {
  const ledger = await load(args);
  const { note, checkpoint } = latestCheckpoint(ledger);
  const log = new MerkleLog();
  ledger.entries.forEach((e) => log.append(e));
  const from = stringOption(args, "from");
  let proof: object;
  if (from !== undefined) {
    const first = Number(from);
    if (!Number.isInteger(first) || first < 1 || first > checkpoint.size) throw catoptError("USAGE", `--from must be a tree size from 1 to ${checkpoint.size}`);
    proof = {
      type: "consistency",
      first_size: first,
      second_size: checkpoint.size,
      first_root: toHex(log.root(first)),
      second_root: toHex(checkpoint.root),
      proof: log.consistencyProof(first, checkpoint.size).map(toHex),
      checkpoint: note,
      vkey: ledger.vkey,
    };
  } else {
    if (eventId === undefined) throw catoptError("USAGE", "prove needs an event id (e.g. cosmos/sol-energy/plan/12), or --from <size>");
    const index = ledger.entries.findIndex((e, i) => i < checkpoint.size && decodeEvent(decodeEnvelope(decodeEntry(e).data).event).id === eventId);
    if (index < 0) throw catoptError("USAGE", `no event ${eventId} among the ${checkpoint.size} entries the latest checkpoint covers`);
    proof = {
      type: "inclusion",
      event_id: eventId,
      index,
      tree_size: checkpoint.size,
      entry: Buffer.from(ledger.entries[index]).toString("base64"),
      leaf_hash: toHex(log.leaf(index)),
      proof: log.inclusionProof(index, checkpoint.size).map(toHex),
      root: toHex(checkpoint.root),
      checkpoint: note,
      vkey: ledger.vkey,
    };
  }
  io.out(`${JSON.stringify(proof, null, args.values.json === true ? undefined : 2)}\n`);
  return 0;
}

/** Checks a proof file on its own: the proof against its root, and the root against the signed checkpoint. */
async function check(io: Io, file?: string): Promise<number> {
  if (file === undefined) throw catoptError("USAGE", "check needs a proof file (from catopt ledger prove)");
  let p: Record<string, unknown>;
  try {
    p = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw catoptError("USAGE", `${file}: not a proof (${(err as Error).message})`, err);
  }
  const fail = (reason: string): number => {
    io.err(`catopt ledger: ${file}: ${reason}\n`);
    return 1;
  };
  const path = (p.proof as string[] | undefined)?.map(fromHex) ?? [];
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpointText(openNote(String(p.checkpoint), String(p.vkey)));
  } catch (err) {
    return fail(`its checkpoint does not verify: ${(err as Error).message}`);
  }
  if (p.type === "inclusion") {
    const entry = Uint8Array.from(Buffer.from(String(p.entry), "base64"));
    if (toHex(leafHash(entry)) !== p.leaf_hash) return fail("the entry does not hash to its leaf hash");
    if (checkpoint.size !== p.tree_size || toHex(checkpoint.root) !== p.root) return fail("the proof is not against the checkpoint's tree");
    if (!verifyInclusion(leafHash(entry), Number(p.index), Number(p.tree_size), path, checkpoint.root)) return fail("the inclusion proof does not verify");
    io.out(`inclusion of entry ${p.index} (${p.event_id}) in the signed tree of ${p.tree_size} entries: verified\n`);
    return 0;
  }
  if (p.type === "consistency") {
    if (checkpoint.size !== p.second_size || toHex(checkpoint.root) !== p.second_root) return fail("the proof is not against the checkpoint's tree");
    if (!verifyConsistency(Number(p.first_size), Number(p.second_size), path, fromHex(String(p.first_root)), checkpoint.root)) return fail("the consistency proof does not verify");
    io.out(`the tree of ${p.first_size} entries (root ${p.first_root}) is a prefix of the signed tree of ${p.second_size}: verified\n`);
    return 0;
  }
  return fail(`unknown proof type ${String(p.type)}`);
}

async function showCheckpoint(args: ParsedArgs, io: Io): Promise<number> {
  const ledger = await load(args);
  const { note, checkpoint } = latestCheckpoint(ledger);
  if (args.values.json === true) {
    io.out(`${JSON.stringify({ origin: checkpoint.origin, tree_size: checkpoint.size, root: toHex(checkpoint.root), note, vkey: ledger.vkey })}\n`);
  } else {
    io.out(`${note}\nverifier key: ${ledger.vkey}\n`);
  }
  return 0;
}

async function exportLedger(args: ParsedArgs, io: Io, file?: string): Promise<number> {
  if (file === undefined) throw catoptError("USAGE", "export needs a file to write");
  const ledger = await load(args, stringOption(args, "file"));
  if (ledger.origin === null) throw catoptError("USAGE", "the ledger has no checkpoint yet: nothing signed to export");
  await writeLedgerFile(file, { ...ledger, governance: ledger.trustRoot, vkey: ledger.vkey, origin: ledger.origin });
  if (args.values.json === true) io.out(`${JSON.stringify({ file, entries: ledger.entries.length, checkpoints: ledger.checkpoints.length })}\n`);
  else io.out(`wrote ${ledger.entries.length} entries and ${ledger.checkpoints.length} checkpoints to ${file}\n`);
  return 0;
}
