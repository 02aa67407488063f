import { openBus } from "../bus/session.ts";
import { catoptError } from "../core/errors.ts";
import { NATS_OPTION, positiveIntegerOption, type Command } from "../core/command.ts";
import { requireNatsUrl } from "./require-nats.ts";

export const streamsCommand: Command = {
  name: "streams",
  synopsis: "apply [options]",
  summary: "apply the stream definitions in streams/ to a NATS deployment",
  description: "Apply the stream definitions in streams/ to a NATS deployment: create what is missing, update what differs, leave the rest (idempotent).",
  options: {
    nats: NATS_OPTION,
    replicas: { type: "string", value: "<n>", description: "replicas per stream, e.g. 3 on a three-server cluster" },
  },
  run: async (args, io) => {
    if (args.positionals[0] !== "apply")
      throw catoptError("USAGE", `streams expects the action "apply"${args.positionals[0] ? `, got "${args.positionals[0]}"` : ""}`);
    const url = requireNatsUrl(args, "streams apply");
    const bus = await openBus({ url, replicas: positiveIntegerOption(args, "replicas"), name: "catopt-streams" });
    try {
      for (const s of bus.streams) io.out(`${s.name}: ${s.action}\n`);
      return 0;
    } finally {
      await bus.close();
    }
  },
};
