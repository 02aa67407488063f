import { chosenNatsUrl } from "../bus/connection.ts";
import { catoptError } from "../core/errors.ts";
import { positiveIntegerOption, stringOption, tokenOption, type ParsedArgs } from "../core/command.ts";
import { loadIdentity } from "../governance/keystore.ts";
import { deploymentSecurity, type RunSecurity } from "../governance/local-security.ts";
import { tlsOf } from "./connect-options.ts";

/** What `catopt run` takes from its command line, for either kind of scenario. */
export async function runOptionsOf(args: ParsedArgs, say: (line: string) => void) {
  const url = chosenNatsUrl(stringOption(args, "nats"));
  return {
    url,
    problemId: tokenOption(args, "problem-id"),
    record: stringOption(args, "record"),
    replicas: positiveIntegerOption(args, "replicas"),
    keys: stringOption(args, "keys"),
    security: url === undefined ? undefined : await runSecurityOf(args, say, url),
    onNote: say,
  };
}

/**
 * On a secured deployment (a CA is pinned), a run plays every party with credentials its
 * governance key (in --keys) makes for each one's roles; on a plain server, none, and it says so.
 */
async function runSecurityOf(args: ParsedArgs, say: (line: string) => void, url: string): Promise<RunSecurity | undefined> {
  const tls = tlsOf(args);
  if (tls === undefined) {
    say(`warning: connecting to ${url} without TLS, so without credentials: a server that lets anyone in lets anyone read and publish everything`);
    return undefined;
  }
  const keys = stringOption(args, "keys");
  if (keys === undefined) throw catoptError("USAGE", "run on a secured deployment plays every party: pass --keys <dir> holding its governance key");
  return deploymentSecurity(await loadIdentity(keys, "governance"), tls);
}
