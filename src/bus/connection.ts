import { connect, type NatsConnection } from "@nats-io/transport-node";
import { catoptError } from "../core/errors.ts";

/**
 * Connects with a bounded wait, and turns "unreachable" into one line that names the URL.
 * `url` may list several servers of a cluster, comma-separated.
 */
export async function connectTo(url: string, name = "catopt"): Promise<NatsConnection> {
  const servers = url
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  try {
    // Reconnects every half second (the client's default is 2 s): a link back after a cut or a
    // server's restart is used at once, while rounds go on without the client.
    return await connect({ servers, name, noAsyncTraces: true, timeout: 5000, maxReconnectAttempts: 40, reconnectTimeWait: 500 });
  } catch (err) {
    const reason = (err as Error).message || String(err);
    throw catoptError("NATS_UNREACHABLE", `cannot reach NATS at ${url}: ${reason}`, err);
  }
}

/** The NATS URL the user chose: --nats, then $CATOPT_NATS_URL; undefined means "start the embedded server". */
export function chosenNatsUrl(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return flag ?? (env.CATOPT_NATS_URL || undefined);
}

/**
 * nats.js errors that mean the connection died under a command (its server killed, the network
 * gone): the deployment failing, not a bug, so the CLI says so in one line.
 */
const CONNECTION_LOST = new Set(["ClosedConnectionError", "DrainingConnectionError", "ConnectionError", "RequestError", "TimeoutError", "NoRespondersError"]);

export const isConnectionLoss = (err: unknown): err is Error => err instanceof Error && CONNECTION_LOST.has(err.name);
