import { isConnectionLoss } from "../bus/connection.ts";
import { isRefusedByPermissions } from "../bus/retry.ts";
import { isCatoptError } from "../core/errors.ts";
import { agentCommand } from "./agent.ts";
import { PROJECT_ROOT } from "../bus/embedded-server.ts";
import type { Command, CommandContext, Io } from "../core/command.ts";
import { FAMILIES } from "../families/registry.ts";
import { readScenarioJson } from "../run/scenario-files.ts";
import { parseCommandArgs, usage } from "./command.ts";
import { didYouMean } from "../core/suggest.ts";
import { contractsCommand } from "./contracts.ts";
import { credsCommand } from "./creds.ts";
import { serverCommand } from "./server.ts";
import { coordinatorCommand } from "./coordinator.ts";
import { changeCommand } from "./change.ts";
import { governanceCommand } from "./governance.ts";
import { idCommand } from "./id.ts";
import { privacyCommand } from "./privacy.ts";
import { ledgerCommand } from "./ledger.ts";
import { replayCommand } from "./replay.ts";
import { demoCommand, runCommand } from "./run.ts";
import { streamsCommand } from "./streams.ts";
import { watchCommand } from "./watch.ts";

/** The `catopt` command: usage first, one line per user error, a stack trace only for bugs. */
/** The engine's commands, then each family's own (ProblemFamily.commands). */
export const COMMANDS: readonly Command[] = [
  ...[demoCommand, runCommand],
  ...FAMILIES.flatMap((f) => f.commands ?? []),
  ...[
    serverCommand,
    agentCommand,
    coordinatorCommand,
    changeCommand,
    watchCommand,
    replayCommand,
    streamsCommand,
    idCommand,
    credsCommand,
    governanceCommand,
    ledgerCommand,
    privacyCommand,
  ],
  contractsCommand,
];

// A family's command may not take an engine command's name (or another family's: the registry refuses that).
const twice = COMMANDS.find((c, i) => COMMANDS.findIndex((d) => d.name === c.name) !== i);
if (twice !== undefined) throw new Error(`two commands are named ${twice.name}: a family's command may not take an engine command's name`);

/** What a command may read besides its arguments: scenario files, by path or by name under the project's scenarios/. */
const CONTEXT: CommandContext = { readScenario: (reference) => readScenarioJson(reference, PROJECT_ROOT) };

export function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "Usage: catopt <command> [options]",
    "",
    "catopt-flow: many owners' optimization problems solved as one plan over NATS JetStream.",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run `catopt <command> --help` for a command's options.",
    "",
  ].join("\n");
}

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out(overview());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    io.err(
      `catopt: unknown command "${name}"${didYouMean(
        name,
        COMMANDS.map((c) => c.name),
      )}: run catopt --help for the commands\n`,
    );
    return 2;
  }
  try {
    const args = parseCommandArgs(command, rest);
    if (args.help) {
      io.out(usage(command));
      return 0;
    }
    return await command.run(args, io, CONTEXT);
  } catch (err) {
    if (err instanceof Error && isRefusedByPermissions(err)) {
      io.err(`catopt ${command.name}: the NATS server refused it: ${err.message} (what the credentials allow: catopt creds show <key directory>/<name>.jwt)\n`);
      return 1;
    }
    if (isConnectionLoss(err)) {
      io.err(`catopt ${command.name}: lost the connection to NATS (${err.message})\n`);
      return 1;
    }
    if (!isCatoptError(err)) throw err;
    // A usage error shows the command's synopsis; a runtime error is one line, never the help.
    if (err.code === "USAGE") io.err(`Usage: catopt ${command.name} ${command.synopsis}   (catopt ${command.name} --help for its options)\n`);
    io.err(`catopt ${command.name}: ${err.message}\n`);
    return err.code === "USAGE" ? 2 : 1;
  }
}
