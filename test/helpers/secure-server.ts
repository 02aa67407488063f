import type { NatsConnection } from "@nats-io/transport-node";
import { connectTo } from "../../src/bus/connection.ts";
import { startEmbeddedServer, type EmbeddedServer } from "../../src/bus/embedded-server.ts";
import { openBus, type BusSession } from "../../src/bus/session.ts";
import { generateIdentity, type Identity } from "../../src/governance/identity.ts";
import { localSecurity, type LocalSecurity } from "../../src/governance/local-security.ts";
import type { Grant } from "../../src/governance/nats-permissions.ts";

/**
 * An embedded server secured as the default is (operator mode with the governance identity as
 * trust root, TLS), the governance service's session on it (streams applied), and connections
 * as any party with the permissions of its grants.
 */
export type SecureServer = {
  readonly server: EmbeddedServer;
  readonly governance: Identity;
  readonly security: LocalSecurity;
  /** The governance service's session: every permission. */
  readonly bus: BusSession;
  connectAs(identity: Identity, grants: readonly Grant[], name?: string): Promise<NatsConnection>;
  stop(): Promise<void>;
};

export async function startSecureServer(options: { readonly ttlSeconds?: number; readonly governance?: Identity } = {}): Promise<SecureServer> {
  const governance = options.governance ?? generateIdentity("governance");
  const security = await localSecurity(governance, options);
  const server = await startEmbeddedServer({ extraConfig: security.serverConfig });
  const tls = security.clientTls;
  const bus = await openBus({ url: server.url, security: { access: security.service, tls } });
  const connections: NatsConnection[] = [];
  return {
    server,
    governance,
    security,
    bus,
    connectAs: async (identity, grants, name = identity.name) => {
      const nc = await connectTo(server.url, name, { access: security.accessFor(identity, grants), tls });
      connections.push(nc);
      return nc;
    },
    stop: async () => {
      await Promise.allSettled(connections.map((c) => c.close()));
      await bus.close();
      await server.stop();
      await security.close();
    },
  };
}
