import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { catoptError } from "../core/errors.ts";
import { ensureNatsServer } from "./nats-server-binary.ts";

/**
 * A real nats-server process on a free loopback port with a temporary JetStream store: the
 * embedded default of `catopt demo`/`catopt run`, and what every integration test runs against.
 * The port comes from the server itself (port -1 and its ports file), so there is no race for
 * it. nats-server 2.9 reads ports_file_dir only from a config file, so each launch writes a
 * two-line config that includes ours (by a relative path: includes resolve from the includer).
 */
export type EmbeddedServer = {
  readonly url: string;
  readonly storeDir: string;
  readonly pid: number;
  stop(): Promise<void>;
};

export type EmbeddedServerOptions = {
  /** The server configuration; nats-server.conf at the project root by default. */
  readonly config?: string;
  /** More configuration, appended: the operator and accounts that secure it, its TLS block. */
  readonly extraConfig?: string;
  readonly startTimeoutMs?: number;
};

export const PROJECT_ROOT = path.resolve(import.meta.dirname, "..", "..");
export const DEFAULT_SERVER_CONFIG = path.join(PROJECT_ROOT, "nats-server.conf");

export async function startEmbeddedServer(options: EmbeddedServerOptions = {}): Promise<EmbeddedServer> {
  const binary = ensureNatsServer();
  const dir = await mkdtemp(path.join(tmpdir(), "catopt-nats-"));
  const storeDir = path.join(dir, "store");
  const launchConfig = path.join(dir, "launch.conf");
  const included = path.relative(dir, path.resolve(options.config ?? DEFAULT_SERVER_CONFIG));
  await writeFile(launchConfig, `include ${JSON.stringify(included)}\nport: -1\nports_file_dir: ${JSON.stringify(dir)}\n${options.extraConfig ?? ""}`, {
    mode: 0o600,
  });
  const args = ["-c", launchConfig, "-a", "127.0.0.1", "-js", "-sd", storeDir];
  const child = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let running = true;
  void exited.then(() => (running = false));

  const leftovers = () => {
    if (running) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  const stop = async (): Promise<void> => {
    live.delete(leftovers);
    if (running) {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(killer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  cleanUpOnExit(leftovers);

  const deadline = Date.now() + (options.startTimeoutMs ?? 15_000);
  while (Date.now() < deadline) {
    if (!running) {
      await stop();
      const reason = stderr.trim().split("\n").pop() ?? "no output";
      throw catoptError("NATS_SERVER_FAILED", `nats-server (${binary}) exited at start: ${reason}`);
    }
    const url = await readClientUrl(dir);
    if (url !== undefined) return { url, storeDir, pid: child.pid ?? 0, stop };
    await sleep(20);
  }
  await stop();
  throw catoptError("NATS_SERVER_FAILED", `nats-server (${binary}) did not report its port within ${options.startTimeoutMs ?? 15_000} ms`);
}

/** What a process must undo however it ends: each embedded server it started and not yet stopped. */
const live = new Set<() => void>();

/**
 * A server is ours to stop even when the process ends another way: on exit its server is killed
 * and its temporary store removed (synchronously: nothing else runs then), and Ctrl-C or
 * SIGTERM end the process through exit, unless the program handles them itself (an agent
 * leaving its problem first), in which case it ends through its own stop().
 */
function cleanUpOnExit(leftovers: () => void): void {
  if (!hooked) {
    hooked = true;
    process.once("exit", () => {
      for (const undo of live) undo();
    });
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      process.once(signal, () => {
        if (process.listenerCount(signal) > 0) return; // someone else handles it
        if (live.size > 0) process.stderr.write(`catopt: ${signal === "SIGINT" ? "interrupted" : "terminated"}; stopped the embedded nats-server\n`);
        process.exit(signal === "SIGINT" ? 130 : 143);
      });
    }
  }
  live.add(leftovers);
}

let hooked = false;

async function readClientUrl(dir: string): Promise<string | undefined> {
  const file = (await readdir(dir)).find((name) => name.endsWith(".ports"));
  if (file === undefined) return undefined;
  try {
    const ports = JSON.parse(await readFile(path.join(dir, file), "utf8")) as { nats?: string[] };
    return ports.nats?.[0];
  } catch {
    return undefined; // still being written
  }
}
