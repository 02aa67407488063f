import { catoptError } from "./errors.ts";
import { isToken } from "./subjects.ts";

/**
 * A subcommand: its usage comes first (`--help`, and before any usage error), then `run`.
 * Options are Node's own util.parseArgs (cli/command.ts parses them); every command file exports
 * one of these, and a family may bring commands of its own (ProblemFamily.commands).
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

/** What the engine lends a command beyond its output: a family's command reads scenario files through it. */
export type CommandContext = {
  /** A scenario file by path (a file, or a folder with scenario.json) or by name under scenarios/, parsed as JSON. */
  readScenario(reference: string): Promise<{ readonly file: string; readonly json: unknown }>;
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
  run(args: ParsedArgs, io: Io, context: CommandContext): Promise<number>;
};

export const NATS_OPTION: OptionSpec = {
  type: "string",
  value: "<url>",
  description: "use this NATS server (default: $CATOPT_NATS_URL, else the embedded server)",
};
export const JSON_OPTION: OptionSpec = { type: "boolean", description: "print one JSON object last (progress goes to stderr)" };

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

/** A number option above 0 and at most `max` (a bound keeps 1e300 out of the arithmetic behind it), or undefined when absent. */
export function positiveNumberOption(args: ParsedArgs, name: string, max: number): number | undefined {
  const raw = stringOption(args, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  const bound = max >= 1e6 ? max.toExponential().replace("e+", "e") : String(max);
  if (!(Number.isFinite(n) && n > 0 && n <= max)) throw catoptError("USAGE", `--${name} must be a positive number up to ${bound}, not "${raw}"`);
  return n;
}

/** An option that becomes a NATS subject token (a tenant, a problem id): refused unless it is one. */
export function tokenOption(args: ParsedArgs, name: string): string | undefined {
  const value = stringOption(args, name);
  if (value !== undefined && !isToken(value))
    throw catoptError("USAGE", `--${name} "${value}" must be 1-64 letters, digits, '-' or '_' (it becomes a NATS subject token)`);
  return value;
}
