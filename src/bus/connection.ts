import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { connect, jwtAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { catoptError } from "../core/errors.ts";

/**
 * What a party connects as, on a secured deployment: its user JWT (issued by the governance
 * identity for its own key; a renewed one replaces it), the nkey seed that proves the key, and
 * its own inbox prefix (its permissions let only it read replies there). `renewal`, when given,
 * fetches a fresh JWT before the current one expires; the connection then reconnects with it,
 * because nats-server 2.9 reads a user's JWT only at connect.
 */
export type BusAccess = {
  jwt(): string;
  readonly seed: Uint8Array;
  readonly inboxPrefix: string;
  readonly renewal?: BusRenewal;
};

export type BusRenewal = {
  /** When the current JWT expires (ms since 1970), or undefined: never. */
  expiresAt(): number | undefined;
  /** Fetches a fresh JWT (jwt() returns it afterwards), over the connection it renews if need be. */
  renew(nc: NatsConnection): Promise<void>;
  /** A renewal that failed: the connection goes on with what it has until its JWT expires. */
  onFailure?(err: Error): void;
};

/** The CA a client trusts (the deployment's, pinned), and its own certificate where the server asks for one (mutual TLS). */
export type BusTls = { readonly caFile: string; readonly certFile?: string; readonly keyFile?: string };

export type ConnectSecurity = { readonly access?: BusAccess; readonly tls?: BusTls };

/**
 * Connects with a bounded wait, and turns "unreachable" into one line that names the URL.
 * `url` may list several servers of a cluster, comma-separated.
 */
export async function connectTo(url: string, name = "catopt", security: ConnectSecurity = {}): Promise<NatsConnection> {
  const servers = url
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const { access, tls } = security;
  let nc: NatsConnection;
  try {
    // Reconnects every half second (the client's default is 2 s): a link back after a cut or a
    // server's restart is used at once, while rounds go on without the client.
    nc = await connect({
      servers,
      name,
      noAsyncTraces: true,
      timeout: 5000,
      maxReconnectAttempts: 40,
      reconnectTimeWait: 500,
      ...(access === undefined ? {} : { authenticator: jwtAuthenticator(() => access.jwt(), access.seed), inboxPrefix: access.inboxPrefix }),
      ...(tls === undefined ? {} : { tls: { caFile: tls.caFile, ...(tls.certFile === undefined ? {} : { certFile: tls.certFile, keyFile: tls.keyFile }) } }),
    });
  } catch (err) {
    const reason = (err as Error).message || String(err);
    throw catoptError("NATS_UNREACHABLE", `cannot reach NATS at ${url}: ${reason}`, err);
  }
  if (access?.renewal !== undefined) keepRenewed(nc, access.renewal);
  if (access !== undefined) inboxPrefixes.set(nc, access.inboxPrefix);
  return nc;
}

const inboxPrefixes = new WeakMap<NatsConnection, string>();
const REQUEST_TIMEOUT_MS = 2000;

/** A JetStream client whose reads deliver into the connection's own inboxes (read.ts), the only ones its user may read. */
export const jetstreamOf = (nc: NatsConnection): JetStreamClient => {
  const watcherPrefix = inboxPrefixes.get(nc);
  // Requests time out after 2 s, not 5: one in flight when the connection reconnects (a renewed
  // credential, a cut link) is lost, and every request of ours is retried.
  return jetstream(nc, { timeout: REQUEST_TIMEOUT_MS, ...(watcherPrefix === undefined ? {} : { watcherPrefix }) });
};

/** The longest delay a Node timer holds (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Renews at two thirds of the JWT's remaining life (not sooner than half a second), then
 * reconnects with the new one; a failed renewal is tried again, less and less often, while the
 * old JWT lasts. Ends with the connection.
 */
function keepRenewed(nc: NatsConnection, renewal: BusRenewal): void {
  let timer: NodeJS.Timeout | undefined;
  let backoffMs = 1000;
  const after = (ms: number): void => {
    if (nc.isClosed()) return;
    timer = setTimeout(renew, Math.min(MAX_TIMER_MS, Math.max(500, ms)));
    timer.unref();
  };
  const schedule = (): void => {
    const expiresAt = renewal.expiresAt();
    if (expiresAt !== undefined) after(((expiresAt - Date.now()) * 2) / 3);
  };
  const renew = async (): Promise<void> => {
    if (nc.isClosed()) return;
    try {
      await renewal.renew(nc);
      if (!nc.isClosed()) await nc.reconnect();
      backoffMs = 1000;
    } catch (err) {
      if (nc.isClosed()) return;
      renewal.onFailure?.(err as Error);
      backoffMs = Math.min(backoffMs * 2, 60_000);
      return after(backoffMs);
    }
    schedule();
  };
  schedule();
  void nc.closed().then(() => clearTimeout(timer));
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
