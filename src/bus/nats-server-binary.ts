import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import path from "node:path";
import { catoptError } from "../core/errors.ts";

/**
 * Finds the nats-server binary: $CATOPT_NATS_SERVER, then PATH, then /usr/sbin (where Debian
 * puts it, off a normal user's PATH). Where it is missing and we are root on a machine with
 * apt-get, installs Debian's `nats-server` package (say so on stderr first); otherwise stops
 * with one line on how to install it or how to use a running server instead.
 */
const FALLBACK_DIRS = ["/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/usr/bin"];

export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.CATOPT_NATS_SERVER) return isExecutable(env.CATOPT_NATS_SERVER) ? env.CATOPT_NATS_SERVER : undefined;
  const dirs = [...(env.PATH ?? "").split(path.delimiter).filter(Boolean), ...FALLBACK_DIRS];
  return dirs.map((dir) => path.join(dir, "nats-server")).find(isExecutable);
}

export function ensureNatsServer(log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): string {
  const found = findNatsServer();
  if (found !== undefined) return found;
  if (process.env.CATOPT_NATS_SERVER) {
    throw catoptError("NATS_SERVER_MISSING", `CATOPT_NATS_SERVER=${process.env.CATOPT_NATS_SERVER} is not an executable file`);
  }
  const canInstall = process.getuid?.() === 0 && findOnPath("apt-get") !== undefined && !process.env.CATOPT_NO_INSTALL;
  if (canInstall) {
    log("catopt: nats-server not found; installing Debian's nats-server package (apt-get install nats-server)...");
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const update = spawnSync("apt-get", ["update", "-qq"], { stdio: "ignore", env });
    const install = update.status === 0 ? spawnSync("apt-get", ["install", "-y", "-qq", "nats-server"], { stdio: "ignore", env }) : update;
    const installed = findNatsServer();
    if (install.status === 0 && installed !== undefined) return installed;
    throw catoptError(
      "NATS_SERVER_MISSING",
      "nats-server not found and `apt-get install nats-server` failed: install it by hand, or use a running server with --nats nats://host:4222 or CATOPT_NATS_URL",
    );
  }
  throw catoptError(
    "NATS_SERVER_MISSING",
    "nats-server not found: install it (Debian/Ubuntu: sudo apt-get install nats-server; elsewhere: https://docs.nats.io/running-a-nats-service/introduction/installation), set CATOPT_NATS_SERVER=/path/to/nats-server, or use a running server with --nats nats://host:4222 or CATOPT_NATS_URL",
  );
}

function findOnPath(name: string): string | undefined {
  return (process.env.PATH ?? "")
    .split(path.delimiter)
    .filter(Boolean)
    .map((dir) => path.join(dir, name))
    .find(isExecutable);
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
