import { existsSync } from "node:fs";
import path from "node:path";
import { openBus } from "../bus/session.ts";
import { loadIdentity } from "../governance/keystore.ts";
import { governanceSession, TLS_OPTIONS } from "./connect-options.ts";
import { KEYS_OPTION, keyDirOf } from "./identity-options.ts";
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
    keys: KEYS_OPTION,
    ...TLS_OPTIONS,
  },
  details: ["On a secured deployment only the governance identity may make streams: its key is read from the key directory."],
  run: async (args, io) => {
    if (args.positionals[0] !== "apply")
      throw catoptError("USAGE", `streams expects the action "apply"${args.positionals[0] ? `, got "${args.positionals[0]}"` : ""}`);
    const url = requireNatsUrl(args, "streams apply");
    const replicas = positiveIntegerOption(args, "replicas");
    const governanceKey = path.join(keyDirOf(args), "governance.key");
    const bus = existsSync(governanceKey)
      ? await governanceSession(args, url, "catopt-streams", await loadIdentity(keyDirOf(args), "governance"), replicas, io)
      : await openBus({ url, replicas, name: "catopt-streams" });
    try {
      for (const s of bus.streams) io.out(`${s.name}: ${s.action}\n`);
      return 0;
    } finally {
      await bus.close();
    }
  },
};
