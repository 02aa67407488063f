import { governanceSession, TLS_OPTIONS } from "./connect-options.ts";
import type { BusSession } from "../bus/session.ts";
import type { Io } from "../core/command.ts";
import type { AdmissionState } from "../governance/admission.ts";
import { serveCredentials, type CredentialService } from "../governance/credential-service.ts";
import type { Identity } from "../governance/identity.ts";
import { systemAccess } from "../governance/local-security.ts";
import { publishEvent } from "../governance/signed-publish.ts";
import { catoptError } from "../core/errors.ts";
import type { Role } from "../core/schemas.ts";
import { governanceSubject, isToken } from "../core/subjects.ts";
import { didKeyProblem } from "../governance/did-key.ts";
import { admitEvent, approveEvent, policyEvent, privacyBudgetEvent, privacyGrantEvent, revokeEvent, schemaEvent } from "../governance/governance-events.ts";
import { closest } from "../core/suggest.ts";
import type { CatoptEvent } from "../core/event.ts";
import { COMPATIBILITY_MODES, DEFAULT_MODE, type CompatibilityMode } from "../contracts/compatibility.ts";
import { readSchema } from "./contracts.ts";
import { loadIdentity } from "../governance/keystore.ts";
import { NATS_OPTION, positiveIntegerOption, positiveNumberOption, stringOption, type Command } from "../core/command.ts";
import { startGovernance } from "../governance/governance-consumer.ts";
import { LEDGER_ORIGIN } from "../run/run-scenario.ts";
import { KEYS_OPTION, keyDirOf } from "./identity-options.ts";
import { requireNatsUrl } from "./require-nats.ts";

export const governanceCommand: Command = {
  name: "governance",
  synopsis: "run|admit|revoke|register|approve|policy|budget|grant [options]",
  summary: "run the governance consumer (the ledger's writer); admit, revoke, register schemas, approve adapters, set policy and privacy budgets",
  description:
    "run: the governance consumer, the ledger's single writer: it appends every validly signed event of an admitted signer to the Merkle ledger, quarantines the rest with the reason, and publishes signed checkpoints. admit/revoke: publish a governance event signed by the governance identity, admitting a DID as an agent (by name) or a coordinator of a tenant, or revoking it. Whose events count is a function of these events, so every replay agrees.",
  options: {
    tenant: { type: "string", value: "<tenant>", description: "the tenant" },
    did: { type: "string", value: "<did>", description: "the signer's did:key (catopt id show --name <name>)" },
    role: { type: "string", value: "agent|coordinator", description: "with admit: the role" },
    name: { type: "string", value: "<name>", description: "with admit: the agent's name (for a coordinator: any label)" },
    reason: { type: "string", value: "<text>", description: "with revoke: why" },
    schema: { type: "string", value: "<file>", description: "with register: a schema version as JSON (see catopt contracts --help)" },
    mode: { type: "string", value: "<mode>", description: "with register: its compatibility mode (default backward-transitive)" },
    adapter: { type: "string", value: "<name>", description: "with approve: the adapter" },
    withdraw: { type: "boolean", description: "with approve: withdraw the approval instead" },
    value: { type: "string", value: "<text>", description: "with policy: the value of the policy --name" },
    epsilon: {
      type: "string",
      value: "<e>",
      description: "with budget: the tenant's whole (epsilon, delta)-DP budget, over all its problems with noise; with grant: the problem's share",
    },
    problem: { type: "string", value: "<id>", description: "with grant: the problem given a share of the budget (before it opens)" },
    delta: { type: "string", value: "<d>", description: "with budget: its delta (default 1e-6)" },
    origin: { type: "string", value: "<name>", description: 'with run: the ledger\'s origin and checkpoint key name (default "catopt-flow/ledger")' },
    every: { type: "string", value: "<n>", description: "with run: a checkpoint every n entries (default 1000)" },
    "every-ms": { type: "string", value: "<ms>", description: "with run: and at least every ms milliseconds when new entries came (default 5000)" },
    keys: KEYS_OPTION,
    ...TLS_OPTIONS,
    key: { type: "string", value: "<name>", description: 'the governance key in the key directory (default "governance")' },
    nats: NATS_OPTION,
  },
  details: [
    "Examples:",
    "  catopt governance admit --tenant cosmos --role agent --name rover --did $(catopt id show --name rover --json | jq -r .did)",
    "  catopt governance revoke --tenant cosmos --did did:key:z6Mk... --reason 'key lost'",
    "  catopt governance budget --tenant cosmos --epsilon 8 --delta 1e-6",
    "  catopt governance grant --tenant cosmos --problem sol-energy --epsilon 2",
  ],
  run: async (args, io) => {
    const action = args.positionals[0];
    if (action === "run") return runConsumer(args, io);
    const actions = ["admit", "revoke", "register", "approve", "policy", "budget", "grant"];
    if (!actions.includes(action ?? "")) {
      const near = action === undefined ? undefined : closest(action, ["run", ...actions]);
      throw catoptError(
        "USAGE",
        `governance expects run, admit, revoke, register, approve, policy, budget or grant${action ? `, not "${action}"${near === undefined ? "" : ` (did you mean ${near}?)`}` : ""}`,
      );
    }
    const url = requireNatsUrl(args, `governance ${action}`);
    const tenant = required(args, "tenant");
    if (!isToken(tenant)) throw catoptError("USAGE", `--tenant "${tenant}" must be 1-64 letters, digits, '-' or '_'`);
    const signer = await loadIdentity(keyDirOf(args), stringOption(args, "key") ?? "governance");
    let event: CatoptEvent;
    let what: string;
    if (action === "register") {
      const file = required(args, "schema");
      const mode = (stringOption(args, "mode") ?? DEFAULT_MODE) as CompatibilityMode;
      if (!COMPATIBILITY_MODES.includes(mode)) throw catoptError("USAGE", `--mode must be one of ${COMPATIBILITY_MODES.join(", ")}`);
      const schema = await readSchema(file);
      event = schemaEvent(tenant, schema, mode);
      what = `registered ${schema.name}/${schema.version} (${mode}) in ${tenant}; the governance consumer refuses it if it breaks that mode`;
    } else if (action === "approve") {
      const adapter = required(args, "adapter");
      event = approveEvent(tenant, adapter, args.values.withdraw !== true, Date.now());
      what = `${args.values.withdraw === true ? "withdrew approval of" : "approved"} adapter ${adapter} in ${tenant}`;
    } else if (action === "budget") {
      const epsilon = positiveNumberOption(args, "epsilon", 1000) ?? Number(required(args, "epsilon")); // required: says what is missing
      const delta = positiveNumberOption(args, "delta", 0.5) ?? 1e-6;
      event = privacyBudgetEvent(tenant, epsilon, delta, Date.now());
      what = `set the privacy budget of ${tenant} to epsilon ${epsilon}, delta ${delta}: its problems with noise pay from it, and what they hold stays spent`;
    } else if (action === "grant") {
      const problem = required(args, "problem");
      if (!isToken(problem)) throw catoptError("USAGE", `--problem "${problem}" must be 1-64 letters, digits, '-' or '_'`);
      const epsilon = positiveNumberOption(args, "epsilon", 1000) ?? Number(required(args, "epsilon")); // required: says what is missing
      event = privacyGrantEvent(tenant, problem, epsilon);
      what = `granted problem ${problem} epsilon ${epsilon} of ${tenant}'s privacy budget (or what is left of it, if less)`;
    } else if (action === "policy") {
      const name = required(args, "name");
      event = policyEvent(tenant, name, required(args, "value"), Date.now());
      what = `set policy ${name} in ${tenant}`;
    } else {
      const did = required(args, "did");
      const problem = didKeyProblem(did);
      if (problem !== undefined) throw catoptError("DID_INVALID", `--did: ${problem}`);
      ({ event, what } = membership(action as "admit" | "revoke", args, tenant, did));
    }
    const bus = await governanceSession(args, url, "catopt-governance", signer, undefined, io);
    try {
      const ack = await publishEvent(bus.js, governanceSubject(tenant, event.schema.slice(0, -2)), event, signer);
      io.out(`${what} (stream seq ${ack.seq}${ack.duplicate ? ", already there" : ""})\n`);
      return 0;
    } finally {
      await bus.close();
    }
  },
};

function membership(action: "admit" | "revoke", args: Parameters<Command["run"]>[0], tenant: string, did: string): { event: CatoptEvent; what: string } {
  if (action === "admit") {
    const role = roleOf(required(args, "role"));
    const name = required(args, "name");
    return { event: admitEvent(tenant, did, role, name), what: `admitted ${did} in ${tenant} as ${role === "agent" ? `agent ${name}` : "coordinator"}` };
  }
  return { event: revokeEvent(tenant, did, stringOption(args, "reason") ?? "revoked"), what: `revoked ${did} in ${tenant}` };
}

/** The governance consumer as a service: runs until interrupted, then checkpoints what is new. */
async function runConsumer(args: Parameters<Command["run"]>[0], io: Parameters<Command["run"]>[1]): Promise<number> {
  const url = requireNatsUrl(args, "governance run");
  const signer = await loadIdentity(keyDirOf(args), stringOption(args, "key") ?? "governance");
  const origin = stringOption(args, "origin") ?? LEDGER_ORIGIN;
  const bus = await governanceSession(args, url, "catopt-governance", signer, undefined, io);
  try {
    const consumer = await startGovernance({
      onRefusedLedgerMessage: (r) => io.err(`catopt governance: passed over ${r.what}: ${r.reason}\n`),
      nc: bus.nc,
      signer,
      origin,
      every: positiveIntegerOption(args, "every"),
      everyMs: positiveIntegerOption(args, "every-ms"),
      onCheckpoint: (_note, size) => io.out(`checkpoint: ${size} entries\n`),
    });
    io.out(`governance consumer for ${url}: ledger "${origin}", ${consumer.summary().size} entries so far; verifier key ${consumer.summary().vkey}\n`);
    const credentials = await startCredentialService(bus, signer, () => consumer.admission(), io);
    const stopped = await Promise.race([
      new Promise<undefined>((resolve) => process.once("SIGINT", () => resolve(undefined)).once("SIGTERM", () => resolve(undefined))),
      consumer.failed,
    ]);
    if (stopped !== undefined)
      throw catoptError("RUN_FAILED", `the governance consumer stopped: ${stopped.message} (started again, it resumes from the ledger)`, stopped);
    credentials.stop();
    const summary = await consumer.stop();
    io.out(`stopped: ${summary.size} entries, root ${summary.root}, ${summary.quarantined} quarantined this session\n`);
    return 0;
  } finally {
    await bus.close();
  }
}

/**
 * On a secured server (one that asks for credentials), the governance service also renews each
 * party's credentials and pushes revocations to the server, through its user in the system account.
 */
export async function startCredentialService(bus: BusSession, governance: Identity, admission: () => AdmissionState, io: Io): Promise<CredentialService> {
  if (bus.nc.info?.auth_required !== true) return { stop: () => {} };
  const system = await bus.connect("catopt-system", undefined, systemAccess(governance, 3600));
  const service = serveCredentials(bus.nc, governance, admission, { system, onError: (err) => io.err(`catopt governance: credentials: ${err.message}\n`) });
  io.out("credential service: renews each admitted party's credentials; revocations reach the server at once\n");
  return { stop: () => service.stop() };
}

function required(args: Parameters<Command["run"]>[0], name: string): string {
  return (
    stringOption(args, name) ??
    (() => {
      throw catoptError("USAGE", `needs --${name}`);
    })()
  );
}

function roleOf(value: string): Role {
  if (value !== "agent" && value !== "coordinator") throw catoptError("USAGE", `--role must be agent or coordinator, not "${value}"`);
  return value;
}
