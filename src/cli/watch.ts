import { AS_OPTION, partySession, readerParties, TLS_OPTIONS } from "./connect-options.ts";
import { readStream } from "../bus/read.ts";
import { EVENTS_STREAM } from "../bus/streams.ts";
import { decodeEnvelope } from "../core/envelope.ts";
import { catoptError } from "../core/errors.ts";
import type { AnyEvent } from "../core/event.ts";
import type { PlanView } from "../core/family.ts";
import { decodeEvent, familyOfSchema } from "../families/registry.ts";
import { parseSubject } from "../core/subjects.ts";
import { verifyMessage } from "../governance/admission.ts";
import { tenantTrust, type TenantTrust } from "../governance/tenant-trust.ts";
import type { StreamMessage } from "../core/stream-message.ts";
import { NATS_OPTION, type Command, type Io } from "../core/command.ts";
import { GOVERNANCE_OPTION, KEYS_OPTION, pinnedTrustRoot } from "./identity-options.ts";
import { requireNatsUrl } from "./require-nats.ts";

export const watchCommand: Command = {
  name: "watch",
  synopsis: "<subject> [options]",
  summary: "subscribe to plan topics and print each plan as it arrives",
  options: {
    nats: NATS_OPTION,
    all: { type: "boolean", description: "start from the first stored message instead of new ones" },
    "until-final": { type: "boolean", description: "exit after the first plan whose status is not running" },
    governance: GOVERNANCE_OPTION,
    keys: KEYS_OPTION,
    ...TLS_OPTIONS,
    as: AS_OPTION,
    json: { type: "boolean", description: "print one JSON object per event (NDJSON)" },
  },
  details: [
    "Examples:",
    "  catopt watch catopt.cosmos.plan.sol-energy --nats nats://127.0.0.1:4222",
    "  catopt watch 'catopt.*.plan.>' --all          every tenant's plans, from the start",
    "  catopt watch catopt.vision.plan.gavel-small --all --until-final   one tenant's jobs in a cluster plan",
  ],
  run: async (args, io) => {
    const url = requireNatsUrl(args, "watch");
    const subject = args.positionals[0];
    if (subject === undefined) throw catoptError("USAGE", "watch needs a subject, e.g. catopt.cosmos.plan.sol-energy");
    checkWatchSubject(subject);
    const trustRoot = (await pinnedTrustRoot(args)).did;
    const { bus } = await partySession(args, io, url, "catopt-watch", await readerParties(args), trustRoot);
    // Only what an admitted signer published is printed as theirs (per tenant, folded as the coordinator folds it).
    const trusts = new Map<string, Promise<TenantTrust>>();
    const refusal = async (message: StreamMessage): Promise<string | undefined> => {
      const parsed = parseSubject(message.subject);
      if (parsed === undefined) return "not a catopt event subject";
      const { author } = verifyMessage(message.data);
      let trust = trusts.get(parsed.tenant);
      if (trust === undefined) {
        trust = tenantTrust(bus.js, parsed.tenant, trustRoot, subject);
        trusts.set(parsed.tenant, trust);
      }
      if ((await trust).problem(parsed, author) !== undefined) await (await trust).catchUp(message);
      return (await trust).problem(parsed, author);
    };
    try {
      const reader = await readStream(bus.js, EVENTS_STREAM, { filter: subject, onlyNew: args.values.all !== true }).catch((err: unknown) => {
        throw catoptError("INPUT_INVALID", `cannot watch ${subject}: ${(err as Error).message} (subjects live under catopt.<tenant>.<kind>.>)`, err);
      });
      const stop = (): void => reader.stop();
      process.once("SIGINT", stop);
      try {
        for await (const message of reader) {
          let event: AnyEvent;
          try {
            const refused = await refusal(message);
            if (refused !== undefined) {
              io.err(`seq ${message.seq} on ${message.subject}: refused, ${refused}\n`);
              continue;
            }
            event = decodeEvent(decodeEnvelope(message.data).event);
          } catch (err) {
            io.err(`seq ${message.seq} on ${message.subject}: refused, ${(err as Error).message}\n`);
            continue;
          }
          const plan = printEvent(io, message.seq, event, args.values.json === true);
          if (args.values["until-final"] === true && plan?.final === true) break;
        }
      } finally {
        process.off("SIGINT", stop);
        reader.stop();
        for (const trust of trusts.values())
          void trust.then(
            (t) => t.close(),
            () => undefined,
          );
      }
      return 0;
    } finally {
      await bus.close();
    }
  },
};

/**
 * The event stream holds catopt.<tenant>.<kind>.<problem>[.<agent>]: a subject that cannot
 * match any of them (too few tokens, another root) is a typo, said before anything is read.
 */
function checkWatchSubject(subject: string): void {
  const tokens = subject.split(".");
  const fits =
    tokens[0] === "catopt" &&
    tokens.every((t, i) => t.length > 0 && (t !== ">" || i === tokens.length - 1)) &&
    (tokens.length >= 4 || tokens[tokens.length - 1] === ">") &&
    tokens.length <= 5;
  if (fits) return;
  const hint = tokens[0] === "catopt" && tokens.length === 3 ? ` (did you mean ${subject}.>?)` : "";
  throw catoptError("USAGE", `${subject} matches no event subject: they are catopt.<tenant>.<kind>.<problem>[.<agent>]${hint}`);
}

function printEvent(io: Io, seq: number, event: AnyEvent, json: boolean): PlanView | undefined {
  const plan = familyOfSchema(event.schema)?.describePlan?.(event);
  if (json) {
    io.out(`${JSON.stringify({ seq, ...event })}\n`);
    return plan;
  }
  const head = `[${seq}] ${event.tenant}/${event.problem} ${event.schema} round ${event.round}`;
  io.out(`${[plan === undefined ? head : `${head} ${plan.summary}`, ...(plan?.lines ?? [])].join("\n")}\n`);
  return plan;
}
