import { chosenNatsUrl } from "../bus/connection.ts";
import { positiveIntegerOption, stringOption, tokenOption, type ParsedArgs } from "../core/command.ts";

/** What `catopt run` takes from its command line, for either kind of scenario. */
export function runOptionsOf(args: ParsedArgs, say: (line: string) => void) {
  return {
    url: chosenNatsUrl(stringOption(args, "nats")),
    problemId: tokenOption(args, "problem-id"),
    record: stringOption(args, "record"),
    replicas: positiveIntegerOption(args, "replicas"),
    keys: stringOption(args, "keys"),
    onNote: say,
  };
}
