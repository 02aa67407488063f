import { randomBytes } from "node:crypto";
import { rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

/**
 * Writes a file only its owner may read, replacing any there: into a fresh file of its own
 * (created exclusively, mode 0600, so a link planted at the name is never followed) that is then
 * renamed over the name.
 */
export async function writePrivateFile(file: string, data: string): Promise<void> {
  const fresh = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString("hex")}`);
  try {
    await writeFile(fresh, data, { mode: 0o600, flag: "wx" });
    await rename(fresh, file);
  } catch (err) {
    await rm(fresh, { force: true });
    throw err;
  }
}
