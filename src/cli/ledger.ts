import { readFile } from "node:fs/promises";
import { chosenNatsUrl } from "../bus/connection.ts";
import { AS_OPTION, partySession, readerParties, TLS_OPTIONS } from "./connect-options.ts";
import { decodeEnvelope } from "../core/envelope.ts";
import { catoptError } from "../core/errors.ts";
import { decodeEvent } from "../families/registry.ts";
import * as v from "../core/validate.ts";
import { openNote, parseCheckpointText, verifierKey, verifyCheckpoint, type Checkpoint } from "../governance/checkpoint.ts";
import { publicKeyFromDid } from "../governance/did-key.ts";
import { decodeEntry, isAccepted, verifyLedger, type LedgerReport } from "../governance/ledger.ts";
import {
  ledgerFromFile,
  ledgerFromStream,
  pinnedVkey,
  streamOrigin,
  verifyLedgerStream,
  writeLedgerFile,
  type LedgerSource,
} from "../governance/ledger-source.ts";
import { fromHex, leafHash, MerkleLog, toHex, verifyConsistency, verifyInclusion } from "../governance/merkle.ts";
import { NATS_OPTION, stringOption, type Command, type Io, type ParsedArgs } from "../core/command.ts";
import { GOVERNANCE_OPTION, KEYS_OPTION, pinnedTrustRoot } from "./identity-options.ts";

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
    ...TLS_OPTIONS,
    as: AS_OPTION,
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
        return check(args, io, argument);
      case "checkpoint":
        return showCheckpoint(args, io);
      case "export":
        return exportLedger(args, io, argument);
      default:
        throw catoptError("USAGE", `ledger expects verify, prove, check, checkpoint or export${action ? `, not "${action}"` : ""}`);
    }
  },
};

type Loaded = LedgerSource & { readonly trustRoot: string; readonly trustedFrom: string; readonly vkey: string };

/**
 * A ledger and the trust root to check it against: always the one the user pinned (flag,
 * environment or key directory), never a key the ledger names for itself.
 */
async function load(args: ParsedArgs, io: Io, file = stringOption(args, "file")): Promise<Loaded> {
  const pinned = await pinnedTrustRoot(args);
  let source: LedgerSource;
  if (file !== undefined) {
    source = await ledgerFromFile(file, pinned.did);
  } else {
    const url = chosenNatsUrl(stringOption(args, "nats"));
    if (url === undefined) throw catoptError("USAGE", "ledger needs --file <file>, or --nats <url> (or CATOPT_NATS_URL)");
    const { bus } = await partySession(args, io, url, "catopt-ledger", await readerParties(args), (await pinnedTrustRoot(args)).did);
    try {
      source = await ledgerFromStream(bus.js, pinned.did);
    } finally {
      await bus.close();
    }
  }
  const vkey = pinnedVkey(source, pinned.did);
  if (source.claimedGovernance !== null && source.claimedGovernance !== pinned.did)
    io.err(`catopt ledger: the file names governance ${source.claimedGovernance}; checking against the pinned ${pinned.did}\n`);
  else if (source.claimedVkey !== null && source.claimedVkey !== vkey)
    io.err(`catopt ledger: the file names verifier key ${source.claimedVkey}; checking against the pinned one, ${vkey}\n`);
  for (const r of source.refused) io.err(`catopt ledger: refused ${r.what}: ${r.reason}\n`);
  return { ...source, trustRoot: pinned.did, trustedFrom: pinned.from, vkey };
}

async function verify(args: ParsedArgs, io: Io, file?: string): Promise<number> {
  const path = file ?? stringOption(args, "file");
  const pinned = await pinnedTrustRoot(args);
  let report: LedgerReport & { pending?: number };
  let difference: LedgerSource["firstDifference"];
  if (path === undefined) {
    // The live ledger is checked against the event stream it covers, message by message.
    const url = chosenNatsUrl(stringOption(args, "nats"));
    if (url === undefined) throw catoptError("USAGE", "ledger needs --file <file>, or --nats <url> (or CATOPT_NATS_URL)");
    const { bus } = await partySession(args, io, url, "catopt-ledger", await readerParties(args), (await pinnedTrustRoot(args)).did);
    try {
      const origin = await streamOrigin(bus.js, pinned.did);
      report = await verifyLedgerStream(bus.js, pinned.did, pinnedVkey({ origin }, pinned.did));
    } finally {
      await bus.close();
    }
  } else {
    const ledger = await load(args, io, path);
    report = verifyLedger(ledger.entries, ledger.checkpoints, ledger.trustRoot, ledger.vkey);
    difference = ledger.firstDifference;
  }
  const problem = difference !== undefined ? { index: difference.seq - 1, seq: difference.seq, reason: difference.reason } : report.problem;
  const result = {
    verified: problem === null,
    tree_size: report.size,
    root: report.root,
    checkpoints: report.checkpoints,
    checkpoint_size: report.lastCheckpoint?.size ?? null,
    first_bad_index: problem?.index ?? null,
    first_bad_seq: problem?.seq ?? null,
    problem: problem?.reason ?? null,
    pending: report.pending ?? null,
    refused: report.refused.map((r) => `${r.what}: ${r.reason}`),
    governance: pinned.did,
    governance_from: pinned.from,
  };
  for (const r of report.refused) io.err(`catopt ledger: refused ${r.what}: ${r.reason}\n`);
  if (args.values.json === true) io.out(`${JSON.stringify(result)}\n`);
  else if (problem === null) {
    const pending = report.pending ? `; ${report.pending} newer stream messages not judged yet` : "";
    io.out(
      `ledger verified against governance ${pinned.did} (from ${pinned.from}): ${report.size} entries, root ${report.root}, ${report.checkpoints} signed checkpoint(s)${pending}\n`,
    );
  }
  if (problem !== null) {
    io.err(
      `catopt ledger: does not verify at ${problem.seq === undefined ? "" : `stream message ${problem.seq}, `}entry ${problem.index}: ${problem.reason}\n`,
    );
    return 1;
  }
  return 0;
}

function latestCheckpoint(ledger: Loaded): { note: string; checkpoint: Checkpoint } {
  const note = ledger.checkpoints.findLast(({ note }) => opens(note, ledger.vkey));
  if (note === undefined) throw catoptError("LEDGER_INVALID", "the ledger has no checkpoint signed by the pinned governance key");
  return { note: note.note, checkpoint: verifyCheckpoint(note.note, ledger.vkey) };
}

const opens = (note: string, vkey: string): boolean => {
  try {
    verifyCheckpoint(note, vkey);
    return true;
  } catch {
    return false;
  }
};

/** The event id of an accepted leaf, or undefined for a refusal. */
function eventIdOf(entry: Uint8Array): string | undefined {
  const leaf = decodeEntry(entry);
  return isAccepted(leaf) ? decodeEvent(decodeEnvelope(leaf.data).event).id : undefined;
}

async function prove(args: ParsedArgs, io: Io, eventId?: string): Promise<number> {
  const ledger = await load(args, io);
  // A proof from a ledger that does not verify would prove nothing (and its entries may be anything).
  const report = verifyLedger(ledger.entries, ledger.checkpoints, ledger.trustRoot, ledger.vkey);
  if (report.problem !== null)
    throw catoptError("LEDGER_INVALID", `the ledger does not verify at entry ${report.problem.index}: ${report.problem.reason}; nothing to prove from it`);
  const { note, checkpoint } = latestCheckpoint(ledger);
  const log = new MerkleLog();
  for (const e of ledger.entries) log.append(e);
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
    const index = ledger.entries.findIndex((e, i) => i < checkpoint.size && eventIdOf(e) === eventId);
    if (index < 0) throw catoptError("LEDGER_INVALID", `no event ${eventId} among the ${checkpoint.size} entries the latest checkpoint covers`);
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

/**
 * Checks a proof file on its own: the proof against its root, the root against the checkpoint,
 * and the checkpoint against the pinned governance key (never the key the file names).
 */
async function check(args: ParsedArgs, io: Io, file?: string): Promise<number> {
  if (file === undefined) throw catoptError("USAGE", "check needs a proof file (from catopt ledger prove)");
  const pinned = await pinnedTrustRoot(args);
  let p: Record<string, unknown>;
  try {
    p = v.record(JSON.parse(await readFile(file, "utf8")), "proof");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message;
    throw catoptError("INPUT_INVALID", `${file}: not a proof (${reason})`, err);
  }
  const fail = (reason: string): number => {
    io.err(`catopt ledger: ${file}: ${reason}\n`);
    return 1;
  };
  let checkpoint: Checkpoint;
  try {
    const text = String(p.checkpoint);
    const origin = parseCheckpointText(text.slice(0, text.lastIndexOf("\n\n") + 1)).origin;
    checkpoint = parseCheckpointText(openNote(text, verifierKey(origin, publicKeyFromDid(pinned.did))));
  } catch (err) {
    return fail(`its checkpoint is not signed by the pinned governance ${pinned.did} (from ${pinned.from}): ${(err as Error).message}`);
  }
  const path = Array.isArray(p.proof) ? p.proof.map((h) => fromHex(String(h))) : [];
  if (p.type === "inclusion") {
    const entry = Uint8Array.from(Buffer.from(String(p.entry), "base64"));
    let id: string | undefined;
    try {
      id = eventIdOf(entry);
    } catch (err) {
      return fail(`its entry is not a ledger entry: ${(err as Error).message}`);
    }
    if (id !== p.event_id) return fail(`the entry is event ${id ?? "(a refusal)"}, not ${String(p.event_id)}`);
    if (decodeEntry(entry).index !== p.index) return fail(`the entry is at index ${decodeEntry(entry).index}, not ${String(p.index)}`);
    if (checkpoint.size !== p.tree_size || toHex(checkpoint.root) !== p.root) return fail("the proof is not against the checkpoint's tree");
    if (!verifyInclusion(leafHash(entry), Number(p.index), Number(p.tree_size), path, checkpoint.root)) return fail("the inclusion proof does not verify");
    io.out(`inclusion of entry ${p.index} (${id}) in the tree of ${p.tree_size} entries signed by ${pinned.did}: verified\n`);
    return 0;
  }
  if (p.type === "consistency") {
    if (checkpoint.size !== p.second_size || toHex(checkpoint.root) !== p.second_root) return fail("the proof is not against the checkpoint's tree");
    if (!verifyConsistency(Number(p.first_size), Number(p.second_size), path, fromHex(String(p.first_root)), checkpoint.root))
      return fail("the consistency proof does not verify");
    io.out(`the tree of ${p.first_size} entries (root ${p.first_root}) is a prefix of the tree of ${p.second_size} signed by ${pinned.did}: verified\n`);
    return 0;
  }
  return fail(`unknown proof type ${String(p.type)}`);
}

async function showCheckpoint(args: ParsedArgs, io: Io): Promise<number> {
  const ledger = await load(args, io);
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
  const ledger = await load(args, io, stringOption(args, "file"));
  if (ledger.origin === null) throw catoptError("LEDGER_INVALID", "the ledger has no checkpoint yet: nothing signed to export");
  await writeLedgerFile(file, ledger, ledger.trustRoot, ledger.vkey, ledger.origin);
  if (args.values.json === true) io.out(`${JSON.stringify({ file, entries: ledger.entries.length, checkpoints: ledger.checkpoints.length })}\n`);
  else io.out(`wrote ${ledger.entries.length} entries and ${ledger.checkpoints.length} checkpoints to ${file}\n`);
  return 0;
}
