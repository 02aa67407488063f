import { chosenNatsUrl } from "../bus/connection.ts";
import { catoptError } from "../core/errors.ts";
import { stringOption, type ParsedArgs } from "../core/command.ts";

/** For commands that join a deployment rather than start one: a NATS URL is required. */
export function requireNatsUrl(args: ParsedArgs, command: string): string {
  const url = chosenNatsUrl(stringOption(args, "nats"));
  if (url === undefined) throw catoptError("USAGE", `${command} joins a running NATS deployment: pass --nats nats://host:4222 or set CATOPT_NATS_URL`);
  return url;
}
