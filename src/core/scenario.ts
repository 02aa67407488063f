import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { ADAPTERS } from "../families/energy-qp/adapters/registry.ts";
import { catoptError } from "./errors.ts";
import { checkLocalProblem, type LocalProblem } from "../families/energy-qp/local-problem.ts";
import { DEFAULT_ADMM, type AdmmSettings, type GlobalConstraint, type ProblemSpec } from "./problem-spec.ts";
import { isToken } from "./subjects.ts";
import { didYouMean } from "./suggest.ts";
import { needsAsyncRounds, parseFaults, type Fault } from "./faults.ts";
import * as v from "./validate.ts";

/**
 * A scenario file: the topology (which agent runs on which node), each agent's input for its
 * adapter, the shared resources, the global constraints and the ADMM settings.
 * Format "catopt-scenario/1"; see scenarios/cosmos-3asset/scenario.json.
 */
export type ScenarioAsset = {
  readonly agent: string;
  readonly node: string;
  readonly adapter: string;
  readonly problem: LocalProblem;
};

export type Scenario = {
  readonly name: string;
  readonly description: string;
  readonly tenant: string;
  readonly problem: string;
  readonly units: string;
  readonly spec: ProblemSpec;
  readonly assets: readonly ScenarioAsset[];
  /** How long the coordinator waits for a round's deltas before it gives up, in ms. */
  readonly roundTimeoutMs: number;
  /** When the coordinator closes a round before every agent's delta is in (absent: synchronous rounds). */
  readonly rounds: RoundPolicy;
  /** Faults `catopt run` performs during the run (core/faults.ts). */
  readonly faults: readonly Fault[];
  /** Where it was read from, for messages. */
  readonly source: string;
};

/** Asynchronous rounds: close at `quorum` agents' deltas, or `deadlineMs` after the round opened. */
export type RoundPolicy = { readonly quorum?: number; readonly deadlineMs?: number };

export const SCENARIO_FORMAT = "catopt-scenario/1";
const DEFAULT_ROUND_TIMEOUT_MS = 10_000;

/** Finds a scenario by path (a file or a folder holding scenario.json) or by name under scenarios/. */
export async function resolveScenarioPath(reference: string, root: string): Promise<string> {
  const candidates = [reference, path.join(root, "scenarios", reference)];
  for (const candidate of candidates) {
    const info = await stat(candidate).catch(() => undefined);
    if (info?.isFile()) return candidate;
    if (info?.isDirectory()) {
      const inside = path.join(candidate, "scenario.json");
      if ((await stat(inside).catch(() => undefined))?.isFile()) return inside;
    }
  }
  const known = await readdir(path.join(root, "scenarios")).catch(() => [] as string[]);
  throw catoptError("SCENARIO_NOT_FOUND", `scenario "${reference}" not found${didYouMean(reference, known)} (looked for ${candidates.join(" and ")}, a file or a folder with scenario.json)`);
}

export async function loadScenario(reference: string, root: string): Promise<Scenario> {
  const { file, json } = await readScenarioJson(reference, root);
  return parseScenario(json, file);
}

/** Finds a scenario file and parses its JSON (any format: the caller looks at its "format"). */
export async function readScenarioJson(reference: string, root: string): Promise<{ file: string; json: unknown }> {
  const file = await resolveScenarioPath(reference, root);
  const text = await readFile(file, "utf8");
  try {
    return { file, json: JSON.parse(text) };
  } catch (err) {
    throw catoptError("SCENARIO_INVALID", `${file}: not valid JSON (${(err as Error).message})`, err);
  }
}

/** The "format" a scenario file declares, or undefined. */
export const formatOf = (json: unknown): unknown => (typeof json === "object" && json !== null ? (json as { format?: unknown }).format : undefined);

export function parseScenario(json: unknown, source: string): Scenario {
  return scenarioParse(source, () => parse(json, source));
}

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

/** The most assets a scenario may hold: see the refusal's reason in parse(). */
export const MAX_ASSETS = 1000;

function safeScale(n: number, at: string): number {
  if (Math.abs(n) > SCENARIO_MAGNITUDE) throw new v.ValidationError(at, `${n} is beyond ${SCENARIO_MAGNITUDE}: numbers this large leave too few digits for ADMM's tolerances; rescale the units`);
  return n;
}

/** A name that becomes a NATS subject token. */
export function tokenField(value: unknown, at: string): string {
  const t = v.string(value, at);
  if (!isToken(t)) throw new v.ValidationError(at, `"${t}" must be 1-64 letters, digits, '-' or '_' (it becomes a NATS subject token)`);
  return t;
}

function parse(json: unknown, source: string): Scenario {
  const s = v.record(json, "scenario");
  if (s.format !== SCENARIO_FORMAT) {
    throw new v.ValidationError("scenario.format", `expected "${SCENARIO_FORMAT}", got ${JSON.stringify(s.format)}`);
  }
  const token = tokenField;
  const resources = v.array(s.resources, "scenario.resources").map((r, i) => token(r, `scenario.resources[${i}]`));
  if (resources.length === 0) throw new v.ValidationError("scenario.resources", "list at least one shared resource");
  const known = new Set(resources);
  if (known.size !== resources.length) throw new v.ValidationError("scenario.resources", "names must be unique");

  const listed = v.array(s.assets, "scenario.assets");
  if (listed.length > MAX_ASSETS) {
    throw new v.ValidationError("scenario.assets", `${listed.length} assets, more than ${MAX_ASSETS}: the HiGHS reference every run is checked against grows faster than linearly (1,000 assets take about 3 s, 3,000 over a minute); split the fleet into problems of at most ${MAX_ASSETS}`);
  }
  const assets = listed.map((item, i): ScenarioAsset => {
    const at = `scenario.assets[${i}]`;
    const a = v.record(item, at);
    const agent = token(a.agent, `${at}.agent`);
    const adapterName = v.string(a.adapter, `${at}.adapter`);
    const adapter = ADAPTERS.get(adapterName);
    if (adapter === undefined) {
      throw new v.ValidationError(`${at}.adapter`, `unknown adapter "${adapterName}" (known: ${[...ADAPTERS.keys()].join(", ")})`);
    }
    const problem = checkLocalProblem(adapter.toLocalProblem(agent, a.input, `${at}.input`), `${at}.input`);
    for (const variable of problem.variables) {
      for (const field of ["lower", "upper", "quadratic", "linear"] as const) safeScale(variable[field], `${at}.input (${variable.resource}).${field}`);
    }
    problem.variables.forEach((variable) => {
      if (!known.has(variable.resource)) {
        throw new v.ValidationError(`${at}.input`, `resource "${variable.resource}" is not in scenario.resources`);
      }
    });
    return { agent, node: token(a.node ?? agent, `${at}.node`), adapter: adapterName, problem };
  });
  if (assets.length === 0) throw new v.ValidationError("scenario.assets", "list at least one asset");
  const agents = assets.map((a) => a.agent);
  const duplicate = agents.find((a, i) => agents.indexOf(a) !== i);
  if (duplicate !== undefined) throw new v.ValidationError("scenario.assets", `agent "${duplicate}" appears twice`);

  const constraints = v.array(s.constraints ?? [], "scenario.constraints").map((item, i): GlobalConstraint => {
    const at = `scenario.constraints[${i}]`;
    const c = v.record(item, at);
    const coefficients = v.numberMap(c.coefficients, `${at}.coefficients`);
    for (const [resource, coefficient] of Object.entries(coefficients)) {
      if (!known.has(resource)) throw new v.ValidationError(`${at}.coefficients.${resource}`, "not in scenario.resources");
      safeScale(coefficient, `${at}.coefficients.${resource}`);
    }
    return { name: v.string(c.name, `${at}.name`, 200), coefficients, limit: safeScale(v.finite(c.limit, `${at}.limit`), `${at}.limit`) };
  });

  const admm = parseAdmm(s.admm, "scenario.admm", DEFAULT_ADMM);
  if (admm.censor !== undefined) throw new v.ValidationError("scenario.admm.censor", "censored deltas are for cluster scenarios (node agents' sparse deltas); a QP agent's delta carries all its resources");
  const rounds = parseRounds(s.rounds, "scenario.rounds", agents.length);
  const faults = parseFaults(s.faults, "scenario.faults", agents);
  const blocking = faults.findIndex(needsAsyncRounds);
  if (blocking >= 0 && rounds.quorum === undefined && rounds.deadlineMs === undefined) {
    throw new v.ValidationError(`scenario.faults[${blocking}]`, "leaves an agent out of rounds: set scenario.rounds.quorum or scenario.rounds.deadlineMs, or every round waits for it");
  }

  return {
    name: v.string(s.name, "scenario.name"),
    description: s.description === undefined ? "" : v.string(s.description, "scenario.description"),
    tenant: token(s.tenant, "scenario.tenant"),
    problem: token(s.problem, "scenario.problem"),
    units: s.units === undefined ? "" : v.string(s.units, "scenario.units"),
    spec: { resources, constraints, agents, admm },
    assets,
    roundTimeoutMs: roundTimeoutOf(s.roundTimeoutMs),
    rounds,
    faults,
    source,
  };
}

function parseRounds(value: unknown, at: string, agents: number): RoundPolicy {
  if (value === undefined) return {};
  const r = v.record(value, at);
  const quorum = r.quorum === undefined ? undefined : v.integer(r.quorum, `${at}.quorum`, 1);
  if (quorum !== undefined && quorum > agents) throw new v.ValidationError(`${at}.quorum`, `${quorum} is more than the scenario's ${agents} agents`);
  const deadlineMs = r.deadlineMs === undefined ? undefined : v.positive(r.deadlineMs, `${at}.deadlineMs`);
  return { ...(quorum === undefined ? {} : { quorum }), ...(deadlineMs === undefined ? {} : { deadlineMs }) };
}

export const roundTimeoutOf = (value: unknown): number => (value === undefined ? DEFAULT_ROUND_TIMEOUT_MS : v.positive(value, "scenario.roundTimeoutMs"));

/** A scenario's "admm" object: each setting it names overrides the default. */
export function parseAdmm(value: unknown, at: string, defaults: AdmmSettings): AdmmSettings {
  const input = v.record(value ?? {}, at);
  const setting = (key: Exclude<keyof AdmmSettings, "censor" | "stop">, read: (x: unknown, at: string) => number): number => (input[key] === undefined ? defaults[key] : read(input[key], `${at}.${key}`));
  // Only cluster problems censor: absent unless the defaults or the scenario name it.
  const censor = input.censor === undefined ? defaults.censor : v.nonNegative(input.censor, `${at}.censor`);
  const admm: AdmmSettings = {
    rho: setting("rho", v.positive),
    epsAbs: setting("epsAbs", v.positive),
    epsRel: setting("epsRel", v.positive),
    mu: setting("mu", v.positive),
    tau: setting("tau", v.positive),
    balanceRounds: setting("balanceRounds", (x, where) => v.integer(x, where)),
    maxRounds: setting("maxRounds", (x, where) => v.integer(x, where, 1)),
    maxStaleness: setting("maxStaleness", (x, where) => v.integer(x, where)),
    ...(censor === undefined ? {} : { censor }),
  };
  if (admm.tau <= 1) throw new v.ValidationError(`${at}.tau`, "must be > 1");
  if (admm.mu <= 1) throw new v.ValidationError(`${at}.mu`, "must be > 1");
  // Asynchronous rounds end by the steady rule (problem-spec.ts); synchronous ones keep their open's bytes.
  return admm.maxStaleness > 0 ? { ...admm, stop: "steady" } : admm;
}
