import { parseArgs } from "node:util";
import { didYouMean } from "../core/suggest.ts";
import { catoptError } from "../core/errors.ts";

/**
 * A subcommand: its usage comes first (`--help`, and before any usage error), then `run`.
 * Options are Node's own util.parseArgs; every command file exports one of these.
 */
export type OptionSpec = {
  readonly type: "string" | "boolean";
  readonly short?: string;
  readonly value?: string;
  readonly description: string;
};

export type Io = {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly isTTY: boolean;
};

export type ParsedArgs = {
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: readonly string[];
};

export type Command = {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** What the command does, for its --help; the summary when absent. */
  readonly description?: string;
  /** What follows the command name in the usage line, e.g. "<scenario> [options]". */
  readonly synopsis: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Extra lines after the options: examples, environment. */
  readonly details?: readonly string[];
  run(args: ParsedArgs, io: Io): Promise<number>;
};

export const NATS_OPTION: OptionSpec = {
  type: "string",
  value: "<url>",
  description: "use this NATS server (default: $CATOPT_NATS_URL, else the embedded server)",
};
export const JSON_OPTION: OptionSpec = { type: "boolean", description: "print one JSON object last (progress goes to stderr)" };

export function parseCommandArgs(command: Command, argv: readonly string[]): ParsedArgs & { help: boolean } {
  const options = Object.fromEntries(
    Object.entries(command.options).map(([name, o]) => [name, o.short === undefined ? { type: o.type } : { type: o.type, short: o.short }]),
  );
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
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

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === "string" ? value : undefined;
}

export function positiveIntegerOption(args: ParsedArgs, name: string): number | undefined {
  const raw = stringOption(args, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw catoptError("USAGE", `--${name} expects a whole number >= 1, got "${raw}"`);
  return n;
}
