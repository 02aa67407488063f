import net from "node:net";

/**
 * A network link between one client and a NATS server, as a TCP relay on loopback that can be
 * cut or slowed: the faults of core/faults.ts act on real connections through it, so the
 * client's own reconnects, timeouts and retries are what gets tested. Cut, it drops every
 * connection and refuses new ones until restored.
 */
export type Link = {
  /** The URL a client connects to instead of the server's. */
  readonly url: string;
  cut(): void;
  restore(): void;
  /** From now on, bytes from the client reach the server this much later (0: at once). */
  delay(ms: number): void;
  close(): Promise<void>;
};

export async function openLink(serverUrl: string): Promise<Link> {
  const target = new URL(serverUrl.split(",")[0].trim());
  const [host, port] = [target.hostname, Number(target.port || 4222)];
  const sockets = new Set<net.Socket>();
  let cut = false;
  let delayMs = 0;

  const relay = net.createServer((client) => {
    if (cut) return void client.destroy();
    const server = net.connect(port, host);
    for (const s of [client, server]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        server.destroy();
      });
    }
    server.on("close", () => client.destroy());
    client.on("close", () => server.destroy());
    server.on("data", (chunk) => client.write(chunk));
    // Delayed bytes keep their order: each leaves no earlier than the one before it.
    let lastDue = 0;
    client.on("data", (chunk) => {
      if (delayMs === 0 && lastDue <= Date.now()) return void server.write(chunk);
      lastDue = Math.max(lastDue, Date.now() + delayMs);
      setTimeout(() => server.destroyed || server.write(chunk), lastDue - Date.now());
    });
  });
  await new Promise<void>((resolve, reject) => {
    relay.once("error", reject);
    relay.listen(0, "127.0.0.1", resolve);
  });
  const address = relay.address() as net.AddressInfo;
  return {
    url: `nats://127.0.0.1:${address.port}`,
    cut: () => {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    restore: () => {
      cut = false;
    },
    delay: (ms) => {
      delayMs = ms;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    },
  };
}
