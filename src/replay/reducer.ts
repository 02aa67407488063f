import { createHash } from "node:crypto";
import type { StreamMessage } from "../core/stream-message.ts";
import { isCatoptError } from "../core/errors.ts";
import type { AnyEvent } from "../core/event.ts";
import type { FamilyProblem, OpenContext } from "../core/family.ts";
import { Refusal, refuse as reject } from "../core/refusal.ts";
import type { RoundRules } from "../core/round-rules.ts";
import { parseSubject, type ParsedSubject } from "../core/subjects.ts";
import { applyGovernance, emptyAdmission, isGovernanceEvent, signerProblem, verifyMessage, type AdmissionState } from "../governance/admission.ts";
import { eventKindOf, familyOf, familyOfSchema, problemTenantOf, subjectKindOf } from "../families/registry.ts";

/**
 * The pure fold of the stream: apply(state, message) -> state. The live coordinator folds the
 * messages it reads from the stream through this same function, and replay folds a recording
 * or a stream through it, so both reach the same state and the same hash (DESIGN principle 2).
 * It never throws on bad input: a message it cannot accept is recorded in `rejected`.
 */

/** A problem's fold, as its family keeps it (src/families/<name>, core/family.ts). */
export type AnyProblemState = FamilyProblem;

/** The agents whose part every round needs now. */
export const agentsOf = (p: AnyProblemState): readonly string[] => familyOf(p).agentsOf(p);

/** Which deltas the next round may take (core/round-rules.ts), as the problem's family says. */
export const roundRules = (p: AnyProblemState): RoundRules => familyOf(p).roundRules(p);

export type Rejection = { readonly seq: number; readonly subject: string; readonly reason: string };

export type ReplayState = {
  /** Who may sign what: the trust root, and the admissions and revocations folded so far. */
  readonly admission: AdmissionState;
  readonly problems: Readonly<Record<string, AnyProblemState>>;
  /** Messages applied, and the stream sequence of the last one. */
  readonly events: number;
  readonly lastSeq: number;
  /** SHA-256 chain over (seq, subject, bytes) of every applied message: any change, drop or reordering shows. */
  readonly digest: string;
  readonly rejected: readonly Rejection[];
};

/** `trustRoot`: the governance DID whose admissions count (null: nobody is admitted, every event is refused). */
export const emptyReplayState = (trustRoot: string | null): ReplayState => ({
  admission: emptyAdmission(trustRoot),
  problems: {},
  events: 0,
  lastSeq: 0,
  digest: "",
  rejected: [],
});

export const problemKey = (tenant: string, problem: string): string => `${tenant}/${problem}`;

/** `signatureValid`: a verdict already reached for exactly these bytes (one read folded twice); absent, apply verifies. */
export function apply(state: ReplayState, message: StreamMessage, signatureValid?: boolean): ReplayState {
  const digest = chain(state.digest, message);
  const counted = { ...state, events: state.events + 1, lastSeq: message.seq, digest };
  try {
    const { event, author, subject } = admit(message, signatureValid);
    if (isGovernanceEvent(event)) return { ...counted, admission: applyGovernance(state.admission, event, author, message.seq) };
    const problem = signerProblem(state.admission, subject, author);
    if (problem !== undefined) reject(problem);
    const key = problemKey(problemTenantOf(event), event.problem);
    const next = applyEvent(state.problems[key], event, subject.agent, message.data, state.admission);
    return { ...counted, problems: { ...state.problems, [key]: next } };
  } catch (err) {
    if (!(err instanceof Refusal) && !isCatoptError(err, "EVENT_INVALID")) throw err;
    return { ...counted, rejected: [...state.rejected, { seq: message.seq, subject: message.subject, reason: err.message }] };
  }
}

/**
 * Verifies the signature, decodes, and checks that the subject agrees with the event it
 * carries. Governance events travel on catopt.<tenant>.gov.<kind> with problem "gov".
 */
function admit(message: StreamMessage, signatureValid?: boolean): { event: AnyEvent; author: string; subject: ParsedSubject } {
  const subject = parseSubject(message.subject) ?? reject(`subject ${message.subject} is not a catopt event subject`);
  const { event, author } = verifyMessage(message.data, signatureValid);
  if (subjectKindOf(event.schema) !== subject.kind) reject(`a ${event.schema} event does not belong on a ${subject.kind} subject`);
  const problem = subject.kind === "gov" ? GOVERNANCE_PROBLEM : subject.problem;
  // A governance event's subject names its schema (catopt.<tenant>.gov.admit): by name, so that a later version read through an upcast still matches.
  if (event.tenant !== subject.tenant || event.problem !== problem || (subject.kind === "gov" && event.schema.split("/")[0] !== subject.problem)) {
    reject(`event ${event.schema} of ${event.tenant}/${event.problem} arrived on ${message.subject}`);
  }
  // An agent's events carry ids of its own (eventId: <tenant>/<problem>/<kind>/<round>/<agent>): an
  // admitted agent cannot take another's id, to have that one's event refused as a duplicate or
  // to make it believe a round took its delta.
  if (subject.kind === "delta" && !isOwnId(event, subject.agent))
    reject(
      `event id ${event.id} is not one of ${subject.agent}'s for round ${event.round} (${event.tenant}/${event.problem}/<kind>/${event.round}/${subject.agent})`,
    );
  return { event, author, subject };
}

function isOwnId(event: AnyEvent, agent: string | undefined): boolean {
  const [tenant, problem, kind, round, owner, ...rest] = event.id.split("/");
  return (
    rest.length === 0 &&
    tenant === event.tenant &&
    problem === event.problem &&
    kind !== undefined &&
    kind !== "" &&
    round === String(event.round) &&
    owner === agent
  );
}

/** The `problem` field of governance events, which belong to a tenant rather than a problem. */
export const GOVERNANCE_PROBLEM = "gov";

/** Secure aggregation's events: the engine's, read by the problem's family (or refused, as a plain problem does). */
const SECURE_SCHEMAS: ReadonlySet<string> = new Set(["masked/1", "reveal/1", "attempt/1", "recover/1", "share/1"]);

/** Opens a problem (with what governance granted it of its tenant's privacy budget), closes a round, takes a leave, or hands one of its family's events to the family (core/family.ts), by the event's kind. */
function applyEvent(
  problem: AnyProblemState | undefined,
  event: AnyEvent,
  agent: string | undefined,
  envelope: Uint8Array,
  admission: AdmissionState,
): AnyProblemState {
  if (eventKindOf(event.schema) === "open") {
    if (problem !== undefined) reject(`problem ${event.tenant}/${event.problem} is already open`);
    const budget = admission.budgets?.[event.tenant];
    const granted = budget?.grants[event.problem];
    const context: OpenContext = budget === undefined || granted === undefined ? {} : { privacy: { rhoLeft: granted, delta: budget.delta } };
    return (familyOfSchema(event.schema) ?? reject(`no family opens ${event.schema}`)).open(event, context);
  }
  const p = problem ?? reject(`problem ${event.tenant}/${event.problem} was never opened`);
  const family = familyOf(p);
  if (event.schema === "round/2") return family.closeRound(p, event);
  if (event.schema === "leave/1") {
    const from = agent ?? reject("a leave must arrive on its agent's delta subject");
    return family.leave?.(p, from) ?? reject(`agents of a ${family.name} problem cannot leave`);
  }
  if (SECURE_SCHEMAS.has(event.schema))
    return p.secure === undefined ? reject(`problem ${p.problem} is not secure: ${event.schema} has no place in it`) : family.apply(p, event, agent, envelope);
  if (familyOfSchema(event.schema) !== family) reject(`a ${event.schema} event does not belong to ${family.name} problem ${p.problem}`);
  return family.apply(p, event, agent, envelope);
}

function chain(previous: string, message: StreamMessage): string {
  const seq = Buffer.alloc(8);
  seq.writeBigUInt64BE(BigInt(message.seq));
  return createHash("sha256").update(previous, "hex").update(seq).update(message.subject).update(message.data).digest("hex");
}
