import { connect, type NatsConnection } from "@nats-io/transport-node";
import { catoptError } from "../core/errors.ts";

/**
 * Connects with a bounded wait, and turns "unreachable" into one line that names the URL.
 * `url` may list several servers of a cluster, comma-separated.
 */
export async function connectTo(url: string, name = "catopt"): Promise<NatsConnection> {
  const servers = url.split(",").map((s) => s.trim()).filter(Boolean);
  try {
    return await connect({ servers, name, noAsyncTraces: true, timeout: 5000, maxReconnectAttempts: 10 });
  } catch (err) {
    const reason = (err as Error).message || String(err);
    throw catoptError("NATS_UNREACHABLE", `cannot reach NATS at ${url}: ${reason}`, err);
  }
}

/** The NATS URL the user chose: --nats, then $CATOPT_NATS_URL; undefined means "start the embedded server". */
export function chosenNatsUrl(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return flag ?? (env.CATOPT_NATS_URL || undefined);
}
