import { randomBytes } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { readStream } from "../bus/read.ts";
import { EVENTS_STREAM } from "../bus/streams.ts";
import { NATS_OPTION, stringOption, type Command } from "../core/command.ts";
import { catoptError } from "../core/errors.ts";
import { eventId, type AnyEvent } from "../core/event.ts";
import { isToken, roundSubject } from "../core/subjects.ts";
import { ValidationError } from "../core/validate.ts";
import { decodeEnvelope } from "../core/envelope.ts";
import { decodeEvent, eventKindOf, familyOfSchema, isSchemaId, parseBody, SCHEMAS } from "../families/registry.ts";
import { loadIdentity } from "../governance/keystore.ts";
import { envelopeBytes, publishEvent } from "../governance/signed-publish.ts";
import { partySession, TLS_OPTIONS } from "./connect-options.ts";
import { GOVERNANCE_OPTION, KEYS_OPTION, keyDirOf, trustRootOf } from "./identity-options.ts";
import { requireNatsUrl } from "./require-nats.ts";

/**
 * `catopt change`: a change of a running problem, as its platform's operator sends it live (a
 * cluster's jobs that arrive, depart or are re-measured: cluster-change/1). The problem's open
 * event says its family, whose change schema reads the file; the event is signed with a key the
 * governance identity admitted as a coordinator of the tenant (only a coordinator writes round
 * subjects). The fold applies it when the next round closes, or refuses it with the reason.
 */
export const changeCommand: Command = {
  name: "change",
  synopsis: "--tenant <tenant> --problem-id <id> --file <change.json> [options]",
  summary: "change a running problem (a cluster's jobs that arrive, depart or are re-measured), signed as its coordinator",
  description:
    "Publish a change of a running problem on its round subject, signed with a key admitted as a coordinator of the tenant: for a cluster problem, jobs that arrive, jobs that depart and new measured throughputs. The problem applies it when its next round closes: each node keeps its time on the jobs that stay, the coordinator its prices, and that round's plan carries the change to every node.",
  options: {
    tenant: { type: "string", value: "<tenant>", description: "the tenant whose problem it is (a cluster's platform)" },
    "problem-id": { type: "string", value: "<id>", description: "the running problem" },
    file: {
      type: "string",
      value: "<change.json>",
      description: 'the change, e.g. {"arrive": [{"name": "j9", "tenant": "vision", "throughput": {"V100": 4.4}}], "depart": ["j2"]}',
    },
    nats: NATS_OPTION,
    keys: KEYS_OPTION,
    key: {
      type: "string",
      value: "<name>",
      description: 'the signing key in the key directory, admitted as a coordinator of the tenant (default "coordinator")',
    },
    governance: GOVERNANCE_OPTION,
    ...TLS_OPTIONS,
  },
  details: [
    'A cluster change: "arrive" (jobs as a scenario lists them), "depart" (job names), "throughput" (job name to steps/s by type); at least one.',
    "The problem must be running with synchronous rounds; a change that names a job the cluster lacks (or adds one it has) is refused by every replay, with the job's name.",
    "Example:",
    "  catopt change --tenant platform --problem-id gavel-small --file arrivals.json --nats tls://nats.example:4222",
  ],
  run: async (args, io) => {
    const url = requireNatsUrl(args, "change");
    const tenant = tokenArg(args, "tenant");
    const problem = tokenArg(args, "problem-id");
    const file = stringOption(args, "file") ?? missing("--file <change.json>");
    // A regular file of bounded size, checked before it is read: not a device, a pipe or a gigabyte.
    const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
      throw catoptError("INPUT_INVALID", `${file}: cannot read it (${err.code ?? err.message})`);
    });
    if (!info.isFile()) throw catoptError("INPUT_INVALID", `${file}: not a regular file`);
    if (info.size > MAX_CHANGE_FILE) throw catoptError("INPUT_INVALID", `${file}: ${info.size} bytes, more than a change may hold (${MAX_CHANGE_FILE})`);
    const text = await readFile(file, "utf8");
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw catoptError("INPUT_INVALID", `${file}: not JSON (${(err as Error).message})`);
    }
    const signer = await loadIdentity(keyDirOf(args), stringOption(args, "key") ?? "coordinator");
    const { bus } = await partySession(args, io, url, "catopt-change", [signer], await trustRootOf(args));
    try {
      const open = await openOf(bus.js, tenant, problem);
      const family = familyOfSchema(open.schema);
      const schema = Object.keys(SCHEMAS).find((id) => isSchemaId(id) && familyOfSchema(id) === family && eventKindOf(id) === "change");
      if (family === undefined || schema === undefined || !isSchemaId(schema))
        throw catoptError("INPUT_INVALID", `${tenant}/${problem} is a ${family?.name ?? "problem"} problem, which takes no changes`);
      let body: unknown;
      try {
        body = parseBody(schema, json, file);
      } catch (err) {
        if (err instanceof ValidationError) throw catoptError("INPUT_INVALID", err.message, err);
        throw err;
      }
      // A new id each time (randomness enters here, at the boundary): a change sent again on purpose is another change,
      // while the same signed event read twice is refused by the fold.
      const event = { schema, id: eventId(tenant, problem, "change", 0, randomBytes(8).toString("hex")), tenant, problem, round: 0, base: 0, body } as AnyEvent;
      // The server takes messages up to its max_payload: a change larger than that is one line, not the client's stack trace.
      const size = envelopeBytes(event, signer).length;
      const limit = bus.nc.info?.max_payload;
      if (limit !== undefined && size > limit)
        throw catoptError("INPUT_INVALID", `${file}: the signed change is ${size} bytes, more than the server takes in a message (${limit}): split it`);
      const ack = await publishEvent(bus.js, roundSubject(tenant, problem), event, signer);
      io.out(
        `published ${schema} to ${tenant}/${problem} (stream seq ${ack.seq}${ack.duplicate ? ", already there" : ""}): if the problem still runs with synchronous rounds and your key is its tenant's coordinator, it applies when the next round closes and that round's plan carries it; otherwise every replay refuses it, with why (catopt replay)\n`,
      );
      return 0;
    } finally {
      await bus.close();
    }
  },
};

/** A change file holds at most this many bytes (a change of 10,000 jobs fits in far less). */
const MAX_CHANGE_FILE = 4 * 1024 * 1024;

/** The problem's open event: the first on its round subject (the fold is what judges its signer; here it only names the family). */
async function openOf(js: Parameters<typeof readStream>[0], tenant: string, problem: string): Promise<AnyEvent> {
  const reader = await readStream(js, EVENTS_STREAM, { filter: roundSubject(tenant, problem), untilEnd: true });
  try {
    for await (const message of reader) {
      const event = decodeEvent(decodeEnvelope(message.data).event);
      if (eventKindOf(event.schema) === "open") return event;
      break;
    }
  } finally {
    reader.stop();
  }
  throw catoptError("INPUT_INVALID", `the stream holds no problem ${tenant}/${problem}: start its coordinator first`);
}

function tokenArg(args: Parameters<Command["run"]>[0], name: string): string {
  const value = stringOption(args, name) ?? missing(`--${name}`);
  if (!isToken(value)) throw catoptError("USAGE", `--${name} "${value}" must be 1-64 letters, digits, '-' or '_'`);
  return value;
}

function missing(what: string): never {
  throw catoptError("USAGE", `change needs ${what}`);
}
