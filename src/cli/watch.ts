import { openBus } from "../bus/session.ts";
import { readStream } from "../bus/read.ts";
import { EVENTS_STREAM } from "../bus/streams.ts";
import { decodeEnvelope } from "../core/envelope.ts";
import { catoptError } from "../core/errors.ts";
import { decodeEvent, type AnyEvent } from "../core/event.ts";
import { NATS_OPTION, type Command, type Io } from "./command.ts";
import { requireNatsUrl } from "./require-nats.ts";
import { sci } from "./render.ts";

export const watchCommand: Command = {
  name: "watch",
  synopsis: "<subject> [options]",
  summary: "subscribe to plan topics and print each plan as it arrives",
  options: {
    nats: NATS_OPTION,
    all: { type: "boolean", description: "start from the first stored message instead of new ones" },
    "until-final": { type: "boolean", description: "exit after the first plan whose status is not running" },
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
    const bus = await openBus({ url, name: "catopt-watch" });
    try {
      const reader = await readStream(bus.js, EVENTS_STREAM, { filter: subject, onlyNew: args.values.all !== true }).catch((err: unknown) => {
        throw catoptError("USAGE", `cannot watch ${subject}: ${(err as Error).message} (subjects live under catopt.<tenant>.<kind>.>)`, err);
      });
      const stop = (): void => reader.stop();
      process.once("SIGINT", stop);
      try {
        for await (const message of reader) {
          let event: AnyEvent;
          try {
            event = decodeEvent(decodeEnvelope(message.data).event);
          } catch (err) {
            io.err(`seq ${message.seq} on ${message.subject}: unreadable (${(err as Error).message})\n`);
            continue;
          }
          printEvent(io, message.seq, event, args.values.json === true);
          if (args.values["until-final"] === true && isFinalPlan(event)) break;
        }
      } finally {
        process.off("SIGINT", stop);
        reader.stop();
      }
      return 0;
    } finally {
      await bus.close();
    }
  },
};

const isFinalPlan = (event: AnyEvent): boolean =>
  (event.schema === "plan/1" || event.schema === "cluster-plan/1" || event.schema === "tenant-plan/1") && event.body.status !== "running";

function printEvent(io: Io, seq: number, event: AnyEvent, json: boolean): void {
  if (json) {
    io.out(`${JSON.stringify({ seq, ...event })}\n`);
    return;
  }
  const head = `[${seq}] ${event.tenant}/${event.problem} ${event.schema} round ${event.round}`;
  switch (event.schema) {
    case "plan/1": {
      const plan = event.body;
      io.out(`${head} ${plan.status}  objective ${plan.objective.toFixed(4)}  primal ${sci(plan.primal)}  dual ${sci(plan.dual)}  rho ${plan.rho}\n`);
      for (const [agent, x] of Object.entries(plan.allocations)) {
        io.out(`  ${agent.padEnd(12)} ${Object.entries(x).map(([r, value]) => `${r}=${value.toFixed(2)}`).join("  ")}\n`);
      }
      return;
    }
    case "cluster-plan/1": {
      const plan = event.body;
      io.out(`${head} ${plan.status}  primal ${sci(plan.primal)}  dual ${sci(plan.dual)}  rho ${plan.rho}  (${plan.signal.index.length} signal entries changed)\n`);
      return;
    }
    case "tenant-plan/1": {
      // One tenant's jobs: the share of time on each type, and the throughput that gives.
      const plan = event.body;
      io.out(`${head} ${plan.status}  (cluster ${plan.platform}/${event.problem})\n`);
      const width = Math.max(4, ...Object.keys(plan.allocations).map((j) => j.length));
      for (const [job, x] of Object.entries(plan.allocations)) {
        const shares = Object.entries(x).filter(([, share]) => share > 5e-4).map(([type, share]) => `${type} ${(100 * share).toFixed(1)}%`);
        io.out(`  ${job.padEnd(width)}  ${(plan.throughput[job] ?? 0).toFixed(3).padStart(10)} steps/s  ${shares.join("  ") || "(no time)"}\n`);
      }
      return;
    }
    default:
      io.out(`${head}\n`);
  }
}
