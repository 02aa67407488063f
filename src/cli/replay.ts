import { KEYS_OPTION } from "./identity-options.ts";
import { AS_OPTION, partySession, readerParties, TLS_OPTIONS } from "./connect-options.ts";
import { chosenNatsUrl } from "../bus/connection.ts";
import { EVENTS_STREAM } from "../bus/streams.ts";
import { catoptError } from "../core/errors.ts";
import { parseSubject } from "../core/subjects.ts";
import { decodeEnvelope } from "../core/envelope.ts";
import { didKeyProblem } from "../governance/did-key.ts";
import { readRecording, type Recording } from "../replay/recording.ts";
import { verifyLedger } from "../governance/ledger.ts";
import { ledgerFromRecording, pinnedVkey } from "../governance/ledger-source.ts";
import { familyOf } from "../families/registry.ts";
import { problemKey, type AnyProblemState } from "../replay/reducer.ts";
import type { StreamMessage } from "../core/stream-message.ts";
import { readToEnd, replayMessages, type ProblemFilter } from "../replay/replay.ts";
import { summarize } from "../replay/summary.ts";
import { JSON_OPTION, NATS_OPTION, stringOption, type Command } from "../core/command.ts";
import { convergenceChart } from "../core/text-charts.ts";
import { outcomeLines } from "./render.ts";

export const replayCommand: Command = {
  name: "replay",
  synopsis: "[<recording>] [options]",
  summary: "rebuild a run's state from a recording or a stream and print its state hash",
  description:
    "Rebuild a run's state offline through the same pure reducers and print its state hash: from a recorded scenario stream file (no server needed), or from a live stream.",
  options: {
    nats: NATS_OPTION,
    stream: { type: "string", value: "<name>", description: `the stream to replay with --nats (default ${EVENTS_STREAM})` },
    problem: { type: "string", value: "<tenant/problem>", description: "which problem to rebuild when the stream holds several" },
    governance: {
      type: "string",
      value: "<did>",
      description: "the trust root (default $CATOPT_GOVERNANCE, else the recording's, said aloud; for a stream, the signer of its first governance event)",
    },
    keys: KEYS_OPTION,
    ...TLS_OPTIONS,
    as: AS_OPTION,
    json: JSON_OPTION,
  },
  details: ["Examples:", "  catopt replay run.catrec", "  catopt replay --nats nats://127.0.0.1:4222 --stream CATOPT_EVENTS --problem cosmos/sol-energy"],
  run: async (args, io) => {
    const file = args.positionals[0];
    const json = args.values.json === true;
    const say = (line: string): void => (json ? io.err : io.out)(`${line}\n`);
    let messages: readonly StreamMessage[];
    let header: { scenario: string | null; referenceObjective: number | null; governance: string | null; filter?: ProblemFilter } = {
      scenario: null,
      referenceObjective: null,
      governance: null,
    };
    let recording: Recording | undefined;
    if (file !== undefined) {
      recording = await readRecording(file);
      messages = recording.messages;
      header = { ...recording.header, filter: { tenant: recording.header.tenant, problem: recording.header.problem } };
      say(`recording ${file}: ${messages.length} messages of ${recording.header.tenant}/${recording.header.problem}`);
    } else {
      const url = chosenNatsUrl(stringOption(args, "nats"));
      if (url === undefined) throw catoptError("USAGE", "replay needs a recording file, or --nats <url> (or CATOPT_NATS_URL) and --stream <name>");
      const stream = stringOption(args, "stream") ?? EVENTS_STREAM;
      const { bus } = await partySession(
        args,
        io,
        url,
        "catopt-replay",
        await readerParties(args),
        stringOption(args, "governance") ?? (process.env.CATOPT_GOVERNANCE || undefined),
      );
      try {
        messages = await readToEnd(bus.js, stream, { onProgress: (n) => say(`read ${n} messages...`) }).catch((err: unknown) => {
          throw catoptError("INPUT_INVALID", `cannot read stream ${stream} at ${url}: ${(err as Error).message}`, err);
        });
      } finally {
        await bus.close();
      }
      say(`stream ${stream} at ${url}: ${messages.length} messages`);
    }
    const filter = chooseProblem(messages, stringOption(args, "problem"), header.filter);
    const trustRoot = chooseTrustRoot(
      stringOption(args, "governance") ?? (process.env.CATOPT_GOVERNANCE || undefined),
      header.governance,
      messages,
      filter.tenant,
      say,
    );
    const replay = replayMessages(messages, trustRoot, filter);
    const problem = replay.problems[problemKey(filter.tenant, filter.problem)];
    const summary = summarize(replay, problem, { scenario: header.scenario, ...filter, referenceObjective: header.referenceObjective });
    const tenantPlans = problem === undefined ? undefined : checkTenantPlans(messages, trustRoot, filter, problem);
    if (json) io.out(`${JSON.stringify({ ...summary, ...(tenantPlans === undefined ? {} : { tenant_plans: tenantPlans }) })}\n`);
    else {
      const tenantLine =
        tenantPlans === undefined
          ? []
          : [
              `  tenant plans         ${tenantPlans.tenants} tenants, final plan of ${tenantPlans.final} accepted, ${tenantPlans.refused} refused${tenantPlans.first_refusal === null ? "" : ` (first: ${tenantPlans.first_refusal})`}`,
            ];
      io.out(`${[...convergenceChart(problem?.history ?? []), "", ...outcomeLines(summary), ...tenantLine].join("\n")}\n`);
    }
    for (const r of replay.rejected.slice(0, 10)) io.err(`rejected seq ${r.seq} (${r.subject}): ${r.reason}\n`);
    if (replay.rejected.length > 10) io.err(`... and ${replay.rejected.length - 10} more rejected\n`);
    const ledgerProblem = recording === undefined || trustRoot === null ? undefined : checkRecordedLedger(recording, trustRoot, say);
    if (ledgerProblem !== undefined) {
      io.err(`catopt replay: ${file}: the messages do not reproduce the ledger checkpoint the recording carries: ${ledgerProblem}\n`);
      return 1;
    }
    return problem === undefined ? 1 : 0;
  },
};

/**
 * Whether a recording's messages rebuild the ledger whose signed checkpoint it carries: the
 * first message whose leaf differs from the recorded leaf hashes, or whatever else fails to
 * verify; undefined when it holds (or there is no checkpoint to hold it to).
 */
function checkRecordedLedger(recording: Recording, trustRoot: string, say: (line: string) => void): string | undefined {
  if (recording.header.checkpoint === null) return undefined;
  const ledger = ledgerFromRecording(recording, trustRoot);
  if (ledger.firstDifference !== undefined) return ledger.firstDifference.reason;
  if (recording.header.leafHashes === null) {
    say("ledger: the recording carries no leaf hashes, so its checkpoint is not checked");
    return undefined;
  }
  const size = recording.header.leafHashes.length / 32;
  let vkey: string;
  try {
    vkey = pinnedVkey(ledger, trustRoot);
  } catch (err) {
    return (err as Error).message;
  }
  const report = verifyLedger(ledger.entries.slice(0, size), ledger.checkpoints, trustRoot, vkey);
  if (report.problem !== null) return `${report.problem.seq === undefined ? "" : `message seq ${report.problem.seq}: `}${report.problem.reason}`;
  if (report.lastCheckpoint?.size !== size) return `the checkpoint covers ${report.lastCheckpoint?.size ?? 0} entries, the recorded leaf hashes ${size}`;
  say(`ledger: the messages reproduce the signed checkpoint of ${size} entries (root ${report.root.slice(0, 16)}...)`);
  return undefined;
}

/** The plans a problem published in other tenants (a cluster's tenant plans), folded with it: each must say what the replayed state implies. Undefined when it publishes none. */
function checkTenantPlans(messages: readonly StreamMessage[], trustRoot: string | null, filter: ProblemFilter, problem: AnyProblemState) {
  const family = familyOf(problem);
  const tenants = family.tenantPlans?.(problem).tenants ?? [];
  if (tenants.length === 0) return undefined;
  const replay = replayMessages(messages, trustRoot, { ...filter, planTenants: tenants });
  const checked = replay.problems[problemKey(filter.tenant, filter.problem)];
  const seen = checked === undefined ? {} : (family.tenantPlans?.(checked).lastAccepted ?? {});
  const refused = replay.rejected.filter((r) => parseSubject(r.subject)?.kind === "plan" && parseSubject(r.subject)?.tenant !== filter.tenant);
  return {
    tenants: tenants.length,
    final: tenants.filter((t) => seen[t] === problem.round).length,
    refused: refused.length,
    first_refusal: refused[0]?.reason ?? null,
  };
}

/**
 * The trust root: the one asked for, else the recording's, else the signer of the tenant's
 * first governance event (said aloud, since that trusts the stream itself).
 */
function chooseTrustRoot(
  asked: string | undefined,
  recorded: string | null,
  messages: readonly StreamMessage[],
  tenant: string,
  say: (line: string) => void,
): string | null {
  if (asked !== undefined) {
    const problem = didKeyProblem(asked);
    if (problem !== undefined) throw catoptError("DID_INVALID", `--governance: ${problem}`);
    return asked;
  }
  if (recorded !== null) {
    say(`trusting governance ${recorded}, as the recording names it (pin it with --governance)`);
    return recorded;
  }
  const first = messages.find((m) => parseSubject(m.subject)?.kind === "gov" && parseSubject(m.subject)?.tenant === tenant);
  if (first === undefined) return null;
  const author = decodeEnvelope(first.data).author;
  say(`trusting governance ${author}, the signer of the stream's first governance event (pin it with --governance)`);
  return author;
}

/** The problem to rebuild: the one asked for, the recording's, or the only one in the stream. */
function chooseProblem(messages: readonly StreamMessage[], asked: string | undefined, recorded: ProblemFilter | undefined): ProblemFilter {
  if (asked !== undefined) {
    const [tenant, problem, ...rest] = asked.split("/");
    if (!tenant || !problem || rest.length > 0) throw catoptError("USAGE", `--problem expects <tenant>/<problem>, got "${asked}"`);
    return { tenant, problem };
  }
  if (recorded !== undefined) return recorded;
  // Every problem opens on its round subject (a cluster's tenant plans live elsewhere, under the job tenants).
  const found = new Set<string>();
  for (const m of messages) {
    const s = parseSubject(m.subject);
    if (s?.kind === "round") found.add(`${s.tenant}/${s.problem}`);
  }
  if (found.size !== 1) {
    throw catoptError(
      "USAGE",
      found.size === 0 ? "the stream holds no problem's events" : `the stream holds ${found.size} problems (${[...found].join(", ")}): pick one with --problem`,
    );
  }
  const [tenant, problem] = [...found][0].split("/");
  return { tenant, problem };
}
