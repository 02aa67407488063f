import { catoptError } from "../core/errors.ts";
import { didKeyProblem } from "../governance/did-key.ts";
import { defaultKeyDir, loadIdentity } from "../governance/keystore.ts";
import { stringOption, type OptionSpec, type ParsedArgs } from "./command.ts";

/** Options shared by the commands that sign or verify: where the keys are, and the trust root. */
export const KEYS_OPTION: OptionSpec = { type: "string", value: "<dir>", description: "the key directory (default $CATOPT_KEYS, else ~/.catopt/keys)" };
export const GOVERNANCE_OPTION: OptionSpec = {
  type: "string",
  value: "<did>",
  description: 'the governance DID whose admissions count (default $CATOPT_GOVERNANCE, else the key directory\'s "governance" key)',
};

export const keyDirOf = (args: ParsedArgs): string => stringOption(args, "keys") ?? defaultKeyDir();

export async function trustRootOf(args: ParsedArgs): Promise<string> {
  const given = stringOption(args, "governance") ?? (process.env.CATOPT_GOVERNANCE || undefined);
  if (given === undefined) return (await loadIdentity(keyDirOf(args), "governance")).did;
  const problem = didKeyProblem(given);
  if (problem !== undefined) throw catoptError("DID_INVALID", `--governance: ${problem}`);
  return given;
}
