import { jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectTo, jetstreamOf, type BusAccess, type ConnectSecurity } from "./connection.ts";
import { startEmbeddedServer, type EmbeddedServer } from "./embedded-server.ts";
import { applyStreams, loadStreamConfigs, type StreamAction } from "./streams.ts";

/**
 * One place that turns "--nats <url> or nothing" into a connected, stream-ready bus: with a
 * URL it connects there; without one it starts the embedded default server. `close()` drains
 * the connection and stops the embedded server, whatever happened before.
 */
export type BusSession = {
  readonly url: string;
  readonly embedded: boolean;
  /** The embedded server's process id (to measure it), when we started one. */
  readonly serverPid?: number;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly streams: readonly StreamAction[];
  /**
   * A further connection to the same server (agents get their own, as on separate machines), or
   * through `via` (a Link's URL); as `access` where given (each party its own credentials),
   * otherwise as this session's own user.
   */
  connect(name: string, via?: string, access?: BusAccess): Promise<NatsConnection>;
  close(): Promise<void>;
};

export type BusOptions = {
  readonly url?: string;
  readonly replicas?: number;
  readonly name?: string;
  /** Who this session connects as, and the CA it trusts. */
  readonly security?: ConnectSecurity;
  /** Configuration added to the embedded server's (its operator, accounts and TLS), when one is started. */
  readonly serverConfig?: string;
  /**
   * Creates or updates the streams (the default): only a session with the right to (governance,
   * an unsecured server) may; any other party finds them made.
   */
  readonly applyStreams?: boolean;
};

const DRAIN_LIMIT_MS = 2000;

/**
 * Drains (flushes what is pending), but closes outright if that takes longer than a moment:
 * a connection to a server that went away would otherwise wait out all its reconnects.
 */
async function closeSoon(c: NatsConnection): Promise<void> {
  if (c.isClosed()) return;
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_LIMIT_MS)));
  await Promise.race([c.drain().catch(() => undefined), limit]);
  clearTimeout(timer);
  if (!c.isClosed()) await c.close();
}

export async function openBus(options: BusOptions = {}): Promise<BusSession> {
  const server: EmbeddedServer | undefined =
    options.url === undefined ? await startEmbeddedServer(options.serverConfig === undefined ? {} : { extraConfig: options.serverConfig }) : undefined;
  const url = options.url ?? (server as EmbeddedServer).url;
  const extra: NatsConnection[] = [];
  let nc: NatsConnection | undefined;
  const close = async (): Promise<void> => {
    await Promise.allSettled([...extra, ...(nc ? [nc] : [])].map(closeSoon));
    await server?.stop();
  };
  try {
    const security = options.security ?? {};
    nc = await connectTo(url, options.name ?? "catopt", security);
    // checkAPI off: its account-info request is a right few parties have, and tells nothing we need.
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    const streams = options.applyStreams === false ? [] : await applyStreams(jsm, await loadStreamConfigs(), options.replicas);
    return {
      url,
      embedded: server !== undefined,
      ...(server === undefined ? {} : { serverPid: server.pid }),
      nc,
      js: jetstreamOf(nc),
      jsm,
      streams,
      connect: async (name, via, access) => {
        const c = await connectTo(via ?? url, name, { ...security, ...(access === undefined ? {} : { access }) });
        extra.push(c);
        return c;
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
