import type { AdmmSettings } from "./problem-spec.ts";
import { catoptError } from "./errors.ts";
import { needsAsyncRounds, parseFaults, type Fault } from "./faults.ts";
import { ADMM_SETTING_PARSERS, checkAdmmSettings } from "./schemas.ts";
import { isToken } from "./subjects.ts";
import * as v from "./validate.ts";

/**
 * What every family's scenario format shares, pure (reading files is src/run/scenario-files.ts):
 * the format a file declares, field errors as SCENARIO_INVALID, subject-token names, the scale
 * numbers may have, rounds, faults, the round timeout and ADMM settings.
 */
/** Asynchronous rounds: close at `quorum` agents' deltas, or `deadlineMs` after the round opened. */
export type RoundPolicy = { readonly quorum?: number; readonly deadlineMs?: number };

export const DEFAULT_ROUND_TIMEOUT_MS = 10_000;

/** The "format" a scenario file declares, or undefined. */
export const formatOf = (json: unknown): unknown => (typeof json === "object" && json !== null ? (json as { format?: unknown }).format : undefined);

/** Runs a scenario parser; a field error becomes SCENARIO_INVALID naming the file and the field's path. */
export function scenarioParse<T>(source: string, parser: () => T): T {
  try {
    return parser();
  } catch (err) {
    if (err instanceof v.ValidationError) throw catoptError("SCENARIO_INVALID", `${source}: ${err.message}`, err);
    throw err;
  }
}

/**
 * ADMM stops at tolerances near 1e-8 of the problem's own scale; a number past 1e9 next to
 * values of order 1 leaves too few digits for that (a limit of 1e20 "converged" with a gap of
 * 1.0). Such a scenario is refused with the field, rather than solved wrongly: rescale its units.
 */
export const SCENARIO_MAGNITUDE = 1e9;

/** A number a scenario may hold: at most SCENARIO_MAGNITUDE (see above). */
export function scaleField(n: number, at: string): number {
  if (Math.abs(n) > SCENARIO_MAGNITUDE)
    throw new v.ValidationError(at, `${n} is beyond ${SCENARIO_MAGNITUDE}: numbers this large leave too few digits for ADMM's tolerances; rescale the units`);
  return n;
}

/** A name that becomes a NATS subject token. */
export function tokenField(value: unknown, at: string): string {
  const t = v.string(value, at);
  if (!isToken(t)) throw new v.ValidationError(at, `"${t}" must be 1-64 letters, digits, '-' or '_' (it becomes a NATS subject token)`);
  return t;
}

/** A scenario's "rounds" object: a quorum of at most `agents`, and a deadline. */
export function parseRounds(value: unknown, at: string, agents: number): RoundPolicy {
  if (value === undefined) return {};
  const r = v.record(value, at);
  const quorum = r.quorum === undefined ? undefined : v.integer(r.quorum, `${at}.quorum`, 1);
  if (quorum !== undefined && quorum > agents) throw new v.ValidationError(`${at}.quorum`, `${quorum} is more than the scenario's ${agents} agents`);
  const deadlineMs = r.deadlineMs === undefined ? undefined : v.positive(r.deadlineMs, `${at}.deadlineMs`);
  return { ...(quorum === undefined ? {} : { quorum }), ...(deadlineMs === undefined ? {} : { deadlineMs }) };
}

export const roundTimeoutOf = (value: unknown): number => (value === undefined ? DEFAULT_ROUND_TIMEOUT_MS : v.positive(value, "scenario.roundTimeoutMs"));

/** A scenario's "admm" object: each setting it names overrides the default (read as an open event's are: ADMM_SETTING_PARSERS). */
export function parseAdmm(value: unknown, at: string, defaults: AdmmSettings): AdmmSettings {
  const input = v.record(value ?? {}, at);
  const setting = (key: Exclude<keyof AdmmSettings, "censor" | "stop" | "gap" | "rhoEvery">): number =>
    input[key] === undefined ? defaults[key] : ADMM_SETTING_PARSERS[key](input[key], `${at}.${key}`);
  // Only cluster problems censor: absent unless the defaults or the scenario name it.
  const censor = input.censor === undefined ? defaults.censor : ADMM_SETTING_PARSERS.censor(input.censor, `${at}.censor`);
  // Only families that bound their optimum stop on a certified gap (their defaults name one).
  if (input.gap !== undefined && defaults.gap === undefined)
    throw new v.ValidationError(`${at}.gap`, "this family stops by its residuals only: it has no bound to certify a gap with");
  const gap = input.gap === undefined ? defaults.gap : ADMM_SETTING_PARSERS.gap(input.gap, `${at}.gap`);
  const rhoEvery = input.rhoEvery === undefined ? defaults.rhoEvery : ADMM_SETTING_PARSERS.rhoEvery(input.rhoEvery, `${at}.rhoEvery`);
  const admm: AdmmSettings = {
    rho: setting("rho"),
    epsAbs: setting("epsAbs"),
    epsRel: setting("epsRel"),
    mu: setting("mu"),
    tau: setting("tau"),
    balanceRounds: setting("balanceRounds"),
    maxRounds: setting("maxRounds"),
    maxStaleness: setting("maxStaleness"),
    ...(censor === undefined ? {} : { censor }),
    ...(gap === undefined ? {} : { gap }),
    ...(rhoEvery === undefined ? {} : { rhoEvery }),
  };
  checkAdmmSettings(admm, at);
  // Asynchronous rounds end by the steady rule (problem-spec.ts); synchronous ones keep their open's bytes.
  return admm.maxStaleness > 0 ? { ...admm, stop: "steady" } : admm;
}

/**
 * A scenario's "faults" (core/faults.ts), for its `agents`: each agent leaves at most once and
 * one at least stays, and a fault that leaves an agent out of rounds needs asynchronous rounds,
 * or every round would wait for it.
 */
export function parseScenarioFaults(value: unknown, at: string, agents: readonly string[], rounds: RoundPolicy): Fault[] {
  const faults = parseFaults(value, at, agents);
  const leaves = faults.flatMap((f, i) => (f.kind === "leave" ? [{ agent: f.agent, i }] : []));
  const twice = leaves.find((l, k) => leaves.findIndex((m) => m.agent === l.agent) !== k);
  if (twice !== undefined) throw new v.ValidationError(`${at}[${twice.i}].agent`, `${twice.agent} leaves once`);
  if (leaves.length > 0 && leaves.length >= agents.length) throw new v.ValidationError(at, "every agent would leave: at least one must stay");
  const blocking = faults.findIndex(needsAsyncRounds);
  if (blocking >= 0 && rounds.quorum === undefined && rounds.deadlineMs === undefined) {
    const roundsAt = at.replace(/\.faults$/, ".rounds");
    throw new v.ValidationError(
      `${at}[${blocking}]`,
      `leaves an agent out of rounds: set ${roundsAt}.quorum or ${roundsAt}.deadlineMs, or every round waits for it`,
    );
  }
  return faults;
}
