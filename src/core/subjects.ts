import { isPrototypeKey } from "./validate.ts";

/**
 * The subject space of DESIGN.md. Every token is checked, because a dot or a wildcard in a
 * tenant, problem or agent name would silently change which messages a filter matches.
 */
export type SubjectKind = "delta" | "plan" | "round" | "gov" | "quarantine";

export type ParsedSubject = {
  readonly tenant: string;
  readonly kind: SubjectKind;
  /** The problem for delta/plan/round; the governance kind or quarantine reason otherwise. */
  readonly problem: string;
  /** The agent, on delta subjects only. */
  readonly agent?: string;
};

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** A subject token, and so a name that indexes state: never one of the prototype's keys (validate.ts). */
export function isToken(value: string): boolean {
  return TOKEN.test(value) && !isPrototypeKey(value);
}

export const deltaSubject = (tenant: string, problem: string, agent: string): string => `catopt.${tenant}.delta.${problem}.${agent}`;
export const planSubject = (tenant: string, problem: string): string => `catopt.${tenant}.plan.${problem}`;
export const roundSubject = (tenant: string, problem: string): string => `catopt.${tenant}.round.${problem}`;
export const governanceSubject = (tenant: string, kind: string): string => `catopt.${tenant}.gov.${kind}`;
/** A problem's open, round and plan events (not its deltas, which have a fifth token): what agents read. */
export const problemAnnouncements = (tenant: string, problem: string): string => `catopt.${tenant}.*.${problem}`;
/** Everything a tenant's problems say, as one filter (nats-server 2.9 takes one per consumer). */
export const tenantSubjects = (tenant: string): string => `catopt.${tenant}.*.>`;

export function parseSubject(subject: string): ParsedSubject | undefined {
  const tokens = subject.split(".");
  if (tokens[0] !== "catopt" || !tokens.every(isToken)) return undefined;
  const [, tenant, kind, problem, agent] = tokens;
  if (tenant === undefined || problem === undefined) return undefined;
  switch (kind) {
    case "delta":
      return tokens.length === 5 && agent !== undefined ? { tenant, kind, problem, agent } : undefined;
    case "plan":
    case "round":
    case "gov":
    case "quarantine":
      return tokens.length === 4 ? { tenant, kind, problem } : undefined;
    default:
      return undefined;
  }
}
