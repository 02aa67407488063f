import { DEFAULT_ADMM, type GlobalConstraint, type SecureSettings } from "../../core/problem-spec.ts";
import { fractionBitsAvailable } from "./secure-layout.ts";
import { sigma2For, worstRoundRho } from "../../secure/distributed-noise.ts";
import { rhoBudgetFor } from "../../secure/zcdp.ts";
import { coarseBound } from "./agent.ts";
import type { ProblemSpec } from "./schemas.ts";
import { parseAdmm, parseRounds, parseScenarioFaults, roundTimeoutOf, scaleField, scenarioParse, tokenField } from "../../core/scenario-fields.ts";
import type { ScenarioBase } from "../../core/scenario-format.ts";
import * as v from "../../core/validate.ts";
import { ADAPTERS } from "./adapters/registry.ts";
import { checkLocalProblem, type LocalProblem } from "./local-problem.ts";

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

/** The fields every family's scenario has (core/scenario-format.ts), and the energy QP's own. */
export type Scenario = ScenarioBase & {
  readonly units: string;
  readonly spec: ProblemSpec;
  readonly assets: readonly ScenarioAsset[];
};

export const SCENARIO_FORMAT = "catopt-scenario/1";

export function parseScenario(json: unknown, source: string): Scenario {
  return scenarioParse(source, () => parse(json, source));
}

/** The most assets a scenario may hold: see the refusal's reason in parse(). */
export const MAX_ASSETS = 1000;

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
    throw new v.ValidationError(
      "scenario.assets",
      `${listed.length} assets, more than ${MAX_ASSETS}: the HiGHS reference every run is checked against grows faster than linearly (1,000 assets take about 3 s, 3,000 over a minute); split the fleet into problems of at most ${MAX_ASSETS}`,
    );
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
      for (const field of ["lower", "upper", "quadratic", "linear"] as const) scaleField(variable[field], `${at}.input (${variable.resource}).${field}`);
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
      scaleField(coefficient, `${at}.coefficients.${resource}`);
    }
    return { name: v.string(c.name, `${at}.name`, 200), coefficients, limit: scaleField(v.finite(c.limit, `${at}.limit`), `${at}.limit`) };
  });

  const admm = parseAdmm(s.admm, "scenario.admm", DEFAULT_ADMM);
  if (admm.censor !== undefined)
    throw new v.ValidationError(
      "scenario.admm.censor",
      "censored deltas are for cluster scenarios (node agents' sparse deltas); a QP agent's delta carries all its resources",
    );
  const rounds = parseRounds(s.rounds, "scenario.rounds", agents.length);
  const faults = parseScenarioFaults(s.faults, "scenario.faults", agents, rounds);
  const synchronous = rounds.quorum === undefined && rounds.deadlineMs === undefined && admm.maxStaleness === 0;
  const choice = secureOf(s.secure, assets, { agents, resources }, synchronous);
  const secure = "settings" in choice ? choice.settings : undefined;
  const privacy = privacyOf(s.privacy, secure, { agents, resources }, admm.maxRounds);

  return {
    name: v.string(s.name, "scenario.name"),
    description: s.description === undefined ? "" : v.string(s.description, "scenario.description"),
    tenant: token(s.tenant, "scenario.tenant"),
    problem: token(s.problem, "scenario.problem"),
    units: s.units === undefined ? "" : v.string(s.units, "scenario.units"),
    spec: {
      resources,
      constraints,
      agents,
      admm: privacy === undefined ? admm : { ...admm, maxRounds: privacy.rounds },
      ...(secure === undefined ? {} : { secure: privacy === undefined ? secure : privacy.secure }),
    },
    assets,
    roundTimeoutMs: roundTimeoutOf(s.roundTimeoutMs),
    rounds,
    faults,
    maxRounds: privacy?.rounds ?? admm.maxRounds,
    ...(privacy === undefined ? {} : { privacyBudget: privacy.budget }),
    ...("plainBecause" in choice ? { plainBecause: choice.plainBecause } : {}),
    source,
  };
}

/** A scenario's rounds: secure, with their settings, or plain, and why. */
type SecureChoice = { readonly settings: SecureSettings } | { readonly plainBecause: string };

/**
 * Secure aggregation (core/problem-spec.ts SecureSettings), on by default where the problem's
 * rounds allow it: synchronous rounds, two agents at least. `"secure": true` where they do not
 * is refused, with why; `"secure": false` runs plain rounds.
 */
function secureOf(value: unknown, assets: readonly ScenarioAsset[], spec: Pick<ProblemSpec, "agents" | "resources">, synchronous: boolean): SecureChoice {
  const asked = value === undefined ? undefined : v.boolean(value, "scenario.secure");
  if (asked === false) return { plainBecause: 'the scenario says "secure": false' };
  const why = !synchronous
    ? "secure aggregation takes synchronous rounds (a masked contribution counts only in the round it was masked for)"
    : assets.length < 2
      ? "secure aggregation needs two agents at least"
      : undefined;
  if (why !== undefined) {
    if (asked === true)
      throw new v.ValidationError("scenario.secure", synchronous ? why : `${why}: drop scenario.rounds and admm.maxStaleness, or set "secure": false`);
    return { plainBecause: why };
  }
  return { settings: secureSettingsFor(assets, spec) };
}

/**
 * Differential privacy (`"privacy": { "epsilon", "delta", "clip", "rounds", "sigma2"?, "honest"? }`): each
 * agent clips its values to `clip` (L2, the scenario's units) and adds its share of discrete
 * Gaussian noise; `catopt run` sets the tenant's budget to (epsilon, delta). Without `sigma2`, the
 * noise is the least at which `rounds` rounds (default admm.maxRounds) spend exactly that budget;
 * with it, the problem runs until its rounds or the budget end, whichever comes first.
 */
function privacyOf(
  value: unknown,
  secure: SecureSettings | undefined,
  spec: Pick<ProblemSpec, "agents" | "resources">,
  maxRounds: number,
): { readonly secure: SecureSettings; readonly rounds: number; readonly budget: { readonly epsilon: number; readonly delta: number } } | undefined {
  if (value === undefined) return undefined;
  const p = v.record(value, "scenario.privacy");
  if (secure === undefined)
    throw new v.ValidationError(
      "scenario.privacy",
      'noise is added before masking, and needs secure aggregation: synchronous rounds, two agents at least, and no "secure": false',
    );
  const at = (field: string) => `scenario.privacy.${field}`;
  const epsilon = v.positive(p.epsilon, at("epsilon"));
  if (epsilon > 1000) throw new v.ValidationError(at("epsilon"), `${epsilon} is more than 1000`);
  const delta = v.positive(p.delta ?? 1e-6, at("delta"));
  if (delta > 0.5) throw new v.ValidationError(at("delta"), `${delta} is more than 0.5`);
  const clip = v.positive(p.clip, at("clip"));
  const rounds = p.rounds === undefined ? maxRounds : v.integer(p.rounds, at("rounds"), 1);
  if (rounds > 100_000) throw new v.ValidationError(at("rounds"), `${rounds} is more than 100000`);
  // Each agent adds the threshold's share of the noise (secure-layout.ts roundPrivacyCost): the guarantee holds with that many
  // honest agents in a round. `honest` raises the threshold to it: rounds then take at least that many, and the noise's
  // variance in a round of all the agents is agents/honest times what the budget pays for, not agents/2.
  const honest = p.honest === undefined ? secure.threshold : v.integer(p.honest, at("honest"), 2);
  if (honest > spec.agents.length) throw new v.ValidationError(at("honest"), `${honest} is more than the problem's ${spec.agents.length} agents`);
  const release = (fractionBits: number) => ({ clip, fractionBits, dimension: spec.resources.length });
  const perRound = rhoBudgetFor(epsilon, delta) / rounds;
  try {
    // The noise hardly depends on the grid (only through rounding's share of the sensitivity): the central
    // Gaussian's (2 clip)^2 / (2 rho) picks the grid the noisy sums allow, then the noise is found on that grid.
    let sigma2 = p.sigma2 === undefined ? (2 * clip) ** 2 / (2 * perRound) : v.positive(p.sigma2, at("sigma2"));
    const fractionBits = fractionBitsAvailable(spec, secure.maxAbs, { clip, sigma2 });
    if (fractionBits < 8) throw new RangeError(`noise of variance ${sigma2} leaves ${fractionBits} fraction bits in 64-bit sums`);
    if (p.sigma2 === undefined) sigma2 = sigma2For(perRound, release(fractionBits), honest, honest);
    worstRoundRho({ ...release(fractionBits), sigma2 }, honest, honest);
    return { secure: { ...secure, threshold: honest, fractionBits, noise: { clip, sigma2 } }, rounds, budget: { epsilon, delta } };
  } catch (err) {
    if (err instanceof v.ValidationError) throw err;
    throw new v.ValidationError("scenario.privacy", (err as Error).message);
  }
}

/**
 * The fixed point of a problem's secure rounds: values bounded by the agents' boxes rounded out
 * to a power of two (what their joins declare anyway), and as many fraction bits as the sums
 * and their squares allow (secure-layout.ts), at most 40: each value within 2^-41 of the
 * agent's, a mean within the same.
 */
export function secureSettingsFor(assets: readonly ScenarioAsset[], spec: Pick<ProblemSpec, "agents" | "resources">): SecureSettings {
  const bound = Math.max(1, ...assets.flatMap((a) => a.problem.variables.flatMap((x) => [coarseBound(x.upper), coarseBound(-x.lower)])));
  const fractionBits = fractionBitsAvailable(spec, bound);
  if (fractionBits < 20)
    throw new v.ValidationError("scenario.assets", `values up to ${bound} leave ${fractionBits} fraction bits for 64-bit secure sums: set "secure": false`);
  // Two: a sum of one agent is its values. A round of two tells each what the other sent, were the sum theirs to see (it is the coordinator's).
  return { fractionBits, maxAbs: bound, threshold: 2 };
}
