import { parseArgs } from "node:util";
import { didYouMean } from "../core/suggest.ts";
import { catoptError } from "../core/errors.ts";
import type { Command, ParsedArgs } from "../core/command.ts";

// Parsing a command's arguments and printing its usage; the Command contract is core/command.ts.

export function parseCommandArgs(command: Command, argv: readonly string[]): ParsedArgs & { help: boolean } {
  const options = Object.fromEntries(
    Object.entries(command.options).map(([name, o]) => [name, o.short === undefined ? { type: o.type } : { type: o.type, short: o.short }]),
  );
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    return { values, positionals, help: values.help === true };
  } catch (err) {
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/, "");
    const unknown = /^Unknown option '-{1,2}([^']+)'/.exec(message)?.[1];
    const hint = unknown === undefined ? "" : didYouMean(unknown, [...Object.keys(command.options), "help"], (s) => `--${s}`);
    throw catoptError("USAGE", `${message}${hint}`, err);
  }
}

export function usage(command: Command): string {
  const rows = Object.entries(command.options).map(([name, o]) => [
    `${o.short === undefined ? "    " : `-${o.short}, `}--${name}${o.value === undefined ? "" : ` ${o.value}`}`,
    o.description,
  ]);
  rows.push(["-h, --help", "show this help"]);
  const width = Math.max(...rows.map(([left]) => left.length));
  return [
    `Usage: catopt ${command.name} ${command.synopsis}`.trimEnd(),
    "",
    command.description ?? command.summary,
    "",
    "Options:",
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`),
    ...(command.details === undefined ? [] : ["", ...command.details]),
    "",
  ].join("\n");
}
