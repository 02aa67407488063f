import { catoptError, isCatoptError } from "../core/errors.ts";
import { didKeyProblem } from "../governance/did-key.ts";
import { defaultKeyDir, loadIdentity } from "../governance/keystore.ts";
import { stringOption, type OptionSpec, type ParsedArgs } from "../core/command.ts";

/** Options shared by the commands that sign or verify: where the keys are, and the trust root. */
export const KEYS_OPTION: OptionSpec = { type: "string", value: "<dir>", description: "the key directory (default $CATOPT_KEYS, else ~/.catopt/keys)" };
export const GOVERNANCE_OPTION: OptionSpec = {
  type: "string",
  value: "<did>",
  description: 'the governance DID whose admissions count (default $CATOPT_GOVERNANCE, else the key directory\'s "governance" key)',
};

export const keyDirOf = (args: ParsedArgs): string => stringOption(args, "keys") ?? defaultKeyDir();

export async function trustRootOf(args: ParsedArgs): Promise<string> {
  return (await pinnedTrustRoot(args)).did;
}

/** The trust root the user pinned, and where it came from (for a verifier to say); refused when none is. */
export async function pinnedTrustRoot(args: ParsedArgs): Promise<{ did: string; from: string }> {
  const flag = stringOption(args, "governance");
  const env = process.env.CATOPT_GOVERNANCE || undefined;
  const given = flag ?? env;
  if (given === undefined) {
    const dir = keyDirOf(args);
    try {
      return { did: (await loadIdentity(dir, "governance")).did, from: `the governance key in ${dir}` };
    } catch (err) {
      if (!isCatoptError(err, "KEY_MISSING")) throw err;
      throw catoptError("KEY_MISSING", `no trust root pinned: pass --governance <did>, set CATOPT_GOVERNANCE, or keep a "governance" key in ${dir}`, err);
    }
  }
  const problem = didKeyProblem(given);
  if (problem !== undefined) throw catoptError("DID_INVALID", `${flag !== undefined ? "--governance" : "CATOPT_GOVERNANCE"}: ${problem}`);
  return { did: given, from: flag !== undefined ? "--governance" : "CATOPT_GOVERNANCE" };
}
