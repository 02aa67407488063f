import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { catoptError } from "../core/errors.ts";
import { isToken } from "../core/subjects.ts";
import { identityFromSeed, seedOf, type Identity } from "./identity.ts";

/**
 * A key directory: one file per identity, `<name>.key`, readable by its owner only (0600, in a
 * 0700 directory). A key file that others can read is refused, as ssh refuses one.
 * The file is JSON: { format: "catopt-key/1", name, did, seed_hex }.
 */
export const KEY_FORMAT = "catopt-key/1";

export function defaultKeyDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.CATOPT_KEYS || path.join(homedir(), ".catopt", "keys");
}

export const keyFile = (dir: string, name: string): string => path.join(dir, `${name}.key`);

export async function saveIdentity(dir: string, identity: Identity): Promise<string> {
  checkName(identity.name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await checkDirectory(dir);
  const file = keyFile(dir, identity.name);
  const body = { format: KEY_FORMAT, name: identity.name, did: identity.did, seed_hex: Buffer.from(seedOf(identity)).toString("hex") };
  try {
    await writeFile(file, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      throw catoptError("KEY_EXISTS", `a key named "${identity.name}" already exists in ${dir}: choose another --name`, err);
    }
    throw catoptError("KEY_INVALID", `cannot write ${file}: ${(err as Error).message}`, err);
  }
  await chmod(file, 0o600); // whatever the umask did
  return file;
}

export async function loadIdentity(dir: string, name: string): Promise<Identity> {
  checkName(name);
  await checkDirectory(dir);
  const file = keyFile(dir, name);
  const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") throw catoptError("KEY_MISSING", `no key named "${name}" in ${dir}: create one with catopt id new --name ${name}`, err);
    throw catoptError("KEY_INVALID", `cannot read ${file}: ${err.code ?? err.message}`, err);
  });
  if ((info.mode & 0o077) !== 0) {
    throw catoptError("KEY_INVALID", `${file} is readable by others (mode ${(info.mode & 0o777).toString(8)}): chmod 600 ${file}`);
  }
  let parsed: { format?: unknown; name?: unknown; did?: unknown; seed_hex?: unknown };
  try {
    parsed = JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    throw catoptError("KEY_INVALID", `${file}: not a key file (${(err as Error).message})`, err);
  }
  if (parsed.format !== KEY_FORMAT || typeof parsed.seed_hex !== "string" || !/^[0-9a-f]{64}$/i.test(parsed.seed_hex)) {
    throw catoptError("KEY_INVALID", `${file}: not a ${KEY_FORMAT} file with a 64-hex-digit seed_hex`);
  }
  const identity = identityFromSeed(name, Buffer.from(parsed.seed_hex, "hex"));
  if (parsed.did !== identity.did) throw catoptError("KEY_INVALID", `${file}: its did does not match its seed`);
  return identity;
}

/**
 * A directory that others may write to lets them swap a key file for their own (or plant one
 * where none was), whatever the file's own mode: refused, as ssh refuses such a ~/.ssh.
 */
async function checkDirectory(dir: string): Promise<void> {
  const info = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined; // loadIdentity says which key is missing
    throw catoptError("KEY_INVALID", `cannot read the key directory ${dir}: ${err.code ?? err.message}`, err);
  });
  if (info === undefined) return;
  if (!info.isDirectory()) throw catoptError("KEY_INVALID", `${dir} is not a directory`);
  if ((info.mode & 0o022) !== 0) {
    throw catoptError("KEY_INVALID", `the key directory ${dir} is writable by others (mode ${(info.mode & 0o777).toString(8)}): chmod 700 ${dir}`);
  }
}

function checkName(name: string): void {
  if (!isToken(name)) throw catoptError("USAGE", `key name "${name}" must be 1-64 letters, digits, '-' or '_'`);
}
