import { decodeEnvelope } from "../core/envelope.ts";
import type { AnyEvent, CatoptEvent } from "../core/event.ts";
import { decodeEvent } from "../families/registry.ts";
import type { Role, SchemaBody } from "../core/schemas.ts";
import { catalogRegistry } from "../contracts/catalog.ts";
import { COMPATIBILITY_MODES, register, type CompatibilityMode } from "../contracts/compatibility.ts";
import { schemaFromJson } from "../contracts/schema.ts";
import type { SchemaDescriptor } from "../core/wire-schema.ts";
import { refuse } from "../core/refusal.ts";
import type { ParsedSubject } from "../core/subjects.ts";
import { didKeyProblem } from "./did-key.ts";
import { verifyBytes } from "./identity.ts";
import { rhoBudgetFor } from "../secure/zcdp.ts";

/**
 * Who may say what, as a pure function of the stream. The trust root (the governance
 * identity's DID, pinned by whoever verifies) admits signers to roles per tenant with signed
 * admit/1 events and takes them back with revoke/1. Every message must be signed over its
 * event bytes by its envelope's author; an agent's joins and deltas must come from the DID
 * admitted as that agent, a problem's open, round and plan events from an admitted coordinator.
 */
export type Admitted = { readonly role: Role; readonly name: string; readonly seq: number };

export type AdmissionState = {
  /** The governance DID whose governance events count; null admits nobody. */
  readonly trustRoot: string | null;
  /** By tenant, then by DID. */
  readonly admitted: Readonly<Record<string, Readonly<Record<string, Admitted>>>>;
  /** By tenant, then by DID: revoked signers stay revoked. */
  readonly revoked: Readonly<Record<string, Readonly<Record<string, { readonly seq: number; readonly reason: string }>>>>;
  /** By tenant: schema versions registered beyond the catalog, oldest first. */
  readonly schemas: Readonly<Record<string, readonly SchemaDescriptor[]>>;
  /** By tenant, then adapter: approved or not. */
  readonly adapters: Readonly<Record<string, Readonly<Record<string, boolean>>>>;
  /** By tenant, then policy name: its value. */
  readonly policies: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** By tenant: its privacy budget (privacy-budget/1) and what governance granted its problems; absent until one is set (so older streams' state hashes stay). */
  readonly budgets?: Readonly<Record<string, PrivacyBudget>>;
};

/** A tenant's (epsilon, delta) budget, its zCDP rho, and the rho granted to each of its problems (privacy-grant/1). */
export type PrivacyBudget = {
  readonly epsilon: number;
  readonly delta: number;
  readonly rho: number;
  readonly grants: Readonly<Record<string, number>>;
};

export const emptyAdmission = (trustRoot: string | null): AdmissionState => ({ trustRoot, admitted: {}, revoked: {}, schemas: {}, adapters: {}, policies: {} });

type GovernanceEvent =
  | CatoptEvent<"admit/1">
  | CatoptEvent<"revoke/1">
  | CatoptEvent<"schema/1">
  | CatoptEvent<"approve/1">
  | CatoptEvent<"policy/1">
  | CatoptEvent<"privacy-budget/1">
  | CatoptEvent<"privacy-grant/1">;

const GOVERNANCE_SCHEMAS: readonly string[] = ["admit/1", "revoke/1", "schema/1", "approve/1", "policy/1", "privacy-budget/1", "privacy-grant/1"];
export const isGovernanceEvent = (event: AnyEvent): event is GovernanceEvent => GOVERNANCE_SCHEMAS.includes(event.schema);

export type Verified = { readonly event: AnyEvent; readonly author: string };

/**
 * Checks the signature over the event bytes first, then decodes (the COSE_Sign1 order). Refuses
 * with the reason. `signatureValid` is a verdict already reached for exactly these bytes (by a
 * verification pool); absent, the signature is verified here.
 */
/** The signature verdict alone, for bytes that several folds will read; undefined where the envelope cannot be read (verifyMessage says why). */
export function signatureVerdict(data: Uint8Array): boolean | undefined {
  try {
    const envelope = decodeEnvelope(data);
    return envelope.sig.length > 0 && verifyBytes(envelope.author, envelope.event, envelope.sig);
  } catch {
    return undefined;
  }
}

export function verifyMessage(data: Uint8Array, signatureValid?: boolean): Verified {
  const envelope = decodeEnvelope(data);
  if (envelope.sig.length === 0) refuse("unsigned event");
  if (!(signatureValid ?? verifyBytes(envelope.author, envelope.event, envelope.sig))) {
    const problem = didKeyProblem(envelope.author); // only now: decoding the DID costs on the hot path
    refuse(problem === undefined ? `bad signature by ${envelope.author}` : `author is not an Ed25519 did:key: ${problem}`);
  }
  return { event: decodeEvent(envelope.event), author: envelope.author };
}

/** Applies a governance event signed by `author`, or refuses it with the reason. */
export function applyGovernance(state: AdmissionState, event: GovernanceEvent, author: string, seq: number): AdmissionState {
  if (state.trustRoot === null || author !== state.trustRoot) refuse(`governance event signed by ${author}, not by the governance identity`);
  const tenant = event.tenant;
  switch (event.schema) {
    case "schema/1":
      return { ...state, schemas: { ...state.schemas, [tenant]: [...(state.schemas[tenant] ?? []), admitSchema(state.schemas[tenant] ?? [], event.body)] } };
    case "approve/1":
      return { ...state, adapters: { ...state.adapters, [tenant]: { ...state.adapters[tenant], [event.body.adapter]: event.body.approved } } };
    case "policy/1":
      return { ...state, policies: { ...state.policies, [tenant]: { ...state.policies[tenant], [event.body.name]: event.body.value } } };
    case "privacy-budget/1": {
      const { epsilon, delta } = event.body;
      const budget = { epsilon, delta, rho: rhoBudgetFor(epsilon, delta), grants: state.budgets?.[tenant]?.grants ?? {} };
      return { ...state, budgets: { ...state.budgets, [tenant]: budget } };
    }
    case "privacy-grant/1":
      return { ...state, budgets: { ...state.budgets, [tenant]: grant(state.budgets?.[tenant], event.body, tenant) } };
    default:
      return applyMembership(state, event, seq);
  }
}

/** A problem's grant: what it asks, or what the tenant has left if that is less (zero when nothing is); once a problem. */
function grant(budget: PrivacyBudget | undefined, body: { readonly problem: string; readonly epsilon: number }, tenant: string): PrivacyBudget {
  if (budget === undefined) return refuse(`tenant ${tenant} has no privacy budget to grant from (privacy-budget/1 first)`);
  if (Object.hasOwn(budget.grants, body.problem)) refuse(`problem ${body.problem} of ${tenant} was granted its privacy budget already`);
  const held = Object.values(budget.grants).reduce((sum, rho) => sum + rho, 0);
  const rho = Math.min(rhoBudgetFor(body.epsilon, budget.delta), Math.max(0, budget.rho - held));
  return { ...budget, grants: { ...budget.grants, [body.problem]: rho } };
}

/** A registration's descriptor, if it keeps its mode against the catalog and earlier registrations. */
function admitSchema(registered: readonly SchemaDescriptor[], body: SchemaBody): SchemaDescriptor {
  let candidate: SchemaDescriptor;
  try {
    candidate = schemaFromJson({ name: body.name, version: body.version, fields: body.fields });
  } catch (err) {
    return refuse(`malformed schema registration: ${(err as Error).message}`);
  }
  if (!(COMPATIBILITY_MODES as readonly string[]).includes(body.mode)) refuse(`unknown compatibility mode "${body.mode}"`);
  let registry = catalogRegistry();
  for (const s of registered) registry = register(registry, s, "none").registry;
  const { problems } = register(registry, candidate, body.mode as CompatibilityMode);
  if (problems.length > 0) refuse(`incompatible schema ${candidate.name}/${candidate.version}: ${problems.join("; ")}`);
  return candidate;
}

function applyMembership(state: AdmissionState, event: CatoptEvent<"admit/1"> | CatoptEvent<"revoke/1">, seq: number): AdmissionState {
  const did = event.body.did;
  const problem = didKeyProblem(did);
  if (problem !== undefined) refuse(`cannot ${event.schema === "admit/1" ? "admit" : "revoke"}: ${problem}`);
  const tenant = event.tenant;
  if (event.schema === "admit/1") {
    if (state.revoked[tenant]?.[did] !== undefined) refuse(`${did} was revoked in ${tenant} and cannot be admitted again`);
    const entry: Admitted = { role: event.body.role, name: event.body.name, seq };
    return { ...state, admitted: { ...state.admitted, [tenant]: { ...state.admitted[tenant], [did]: entry } } };
  }
  const { [did]: _removed, ...rest } = state.admitted[tenant] ?? {};
  return {
    ...state,
    admitted: { ...state.admitted, [tenant]: rest },
    revoked: { ...state.revoked, [tenant]: { ...state.revoked[tenant], [did]: { seq, reason: event.body.reason } } },
  };
}

/** Why `author` may not publish this event on this subject, or undefined when it may. */
export function signerProblem(state: AdmissionState, subject: ParsedSubject, author: string): string | undefined {
  const revoked = state.revoked[subject.tenant]?.[author];
  if (revoked !== undefined) return `signer ${author} was revoked in ${subject.tenant} (${revoked.reason})`;
  const admitted = state.admitted[subject.tenant]?.[author];
  if (admitted === undefined) return `unknown signer ${author} in tenant ${subject.tenant}`;
  if (subject.kind === "delta") {
    return admitted.role === "agent" && admitted.name === subject.agent ? undefined : `signer ${author} is not admitted as agent ${subject.agent}`;
  }
  return admitted.role === "coordinator" ? undefined : `signer ${author} is not admitted as a coordinator`;
}
