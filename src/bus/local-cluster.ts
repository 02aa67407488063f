import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { catoptError } from "../core/errors.ts";
import { connectTo, type ConnectSecurity } from "./connection.ts";
import type { TlsFiles } from "./tls-files.ts";
import { ensureNatsServer } from "./nats-server-binary.ts";

/**
 * A JetStream cluster of real nats-server processes on loopback, each on free ports with its own
 * temporary store (like nats-cluster/n*.conf, which use fixed ports): for tests that kill a
 * server mid-run. Ready once JetStream has a meta leader.
 */
export type LocalCluster = {
  /** Every server's client URL, comma-separated: what --nats takes. */
  readonly url: string;
  readonly urls: readonly string[];
  /** Each server's server_name (catopt-n1, ...): what stream info names as a leader. */
  readonly names: readonly string[];
  /** Kills server i at once (SIGKILL), as a crash would. */
  kill(i: number): Promise<void>;
  stop(): Promise<void>;
};

export type LocalClusterOptions = {
  readonly readyTimeoutMs?: number;
  /** Added to every server's configuration: its operator and accounts, its client TLS. */
  readonly serverConfig?: string;
  /** Routes over TLS, each server verifying the others' certificates against the CA. */
  readonly routeTls?: TlsFiles;
  /** Whom the readiness probe connects as. */
  readonly probe?: ConnectSecurity;
};

export async function startLocalCluster(size = 3, options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const routeTls =
    options.routeTls === undefined
      ? ""
      : `, tls { cert_file: ${JSON.stringify(options.routeTls.certFile)}, key_file: ${JSON.stringify(options.routeTls.keyFile)}, ca_file: ${JSON.stringify(options.routeTls.caFile)}, verify: true, timeout: 5 }`;
  const binary = ensureNatsServer();
  const dir = await mkdtemp(path.join(tmpdir(), "catopt-cluster-"));
  const clientPorts = await Promise.all(Array.from({ length: size }, freePort));
  const routePorts = await Promise.all(Array.from({ length: size }, freePort));
  const routes = routePorts.map((p) => `nats-route://127.0.0.1:${p}`).join(", ");
  const children: ChildProcess[] = [];
  const exits: Promise<unknown>[] = [];
  for (let i = 0; i < size; i++) {
    const config = path.join(dir, `n${i + 1}.conf`);
    await writeFile(
      config,
      [
        `server_name: catopt-n${i + 1}`,
        "host: 127.0.0.1",
        `port: ${clientPorts[i]}`,
        `jetstream { store_dir: ${JSON.stringify(path.join(dir, `n${i + 1}`))}, max_memory_store: 256MB, max_file_store: 2GB }`,
        "max_payload: 1MB",
        `cluster { name: catopt-local, host: 127.0.0.1, port: ${routePorts[i]}, routes: [${routes}]${routeTls} }`,
        options.serverConfig ?? "",
      ].join("\n"),
      { mode: 0o600 },
    );
    const child = spawn(binary, ["-c", config], { stdio: "ignore" });
    children.push(child);
    exits.push(new Promise((resolve) => child.once("exit", resolve)));
  }
  const urls = clientPorts.map((p) => `nats://127.0.0.1:${p}`);
  const kill = async (i: number): Promise<void> => {
    if (children[i].exitCode === null && children[i].signalCode === null) children[i].kill("SIGKILL");
    await exits[i];
  };
  const stop = async (): Promise<void> => {
    await Promise.all(children.map((_, i) => kill(i)));
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + readyTimeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const nc = await connectTo(urls.join(","), "catopt-cluster-probe", options.probe);
      try {
        await (await jetstreamManager(nc, { checkAPI: false })).getAccountInfo();
        return { url: urls.join(","), urls, names: urls.map((_, i) => `catopt-n${i + 1}`), kill, stop };
      } finally {
        await nc.close();
      }
    } catch (err) {
      last = (err as Error).message;
      await sleep(250);
    }
  }
  await stop();
  throw catoptError("NATS_SERVER_FAILED", `a ${size}-node nats-server cluster did not elect a JetStream leader within ${readyTimeoutMs} ms (${last})`);
}

/** A port free right now (the OS picks it); the cluster's routes must be known before any server starts. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
