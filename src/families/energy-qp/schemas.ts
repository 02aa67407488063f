import type { GlobalConstraint } from "../../core/problem-spec.ts";
import { parseAdmmSettings, parseAgreementKey, parseSecureSettings, PLAN_STATUSES, SECURE_PLAN_FIELDS, type SchemaTable } from "../../core/schemas.ts";
import { declareBody, field, optional, type BodyOfDeclared } from "../../core/wire-schema.ts";
import * as v from "../../core/validate.ts";

/** The energy QP's wire schemas, each declared once (core/wire-schema.ts): bodies added to the engine's BodyOf, parsers, catalog fields. */

const ADMM_EXAMPLE = { rho: 1, epsAbs: 1e-6, epsRel: 1e-6, mu: 10, tau: 2, balanceRounds: 10, maxRounds: 10 };
const names = (x: unknown, at: string) => v.stringList(x, at);

/**
 * The public half of an energy QP: what the coordinator knows and announces in the problem's
 * open event. Agents' objectives stay private (see LocalProblem).
 */
const OPEN_1 = declareBody("open", {
  // In the order its parser checked them before it was declared here, so a refusal names the same field (refusals are in state hashes).
  resources: field("array:string", names, ["r"]),
  agents: field("array:string", names, ["a"]),
  constraints: field("array:object", (x, at) => v.array(x, at).map((c, i) => globalConstraint(c, `${at}[${i}]`)), [
    { name: "c", coefficients: { r: 1 }, limit: 1 },
  ]),
  admm: field("object", parseAdmmSettings, ADMM_EXAMPLE),
  /** Secure aggregation (core/problem-spec.ts SecureSettings); absent: plain rounds, as in older streams. */
  secure: optional("object", parseSecureSettings, { fractionBits: 30, maxAbs: 1024, threshold: 2 }),
});

function globalConstraint(value: unknown, at: string): GlobalConstraint {
  const row = v.record(value, at);
  return {
    name: v.string(row.name, `${at}.name`),
    coefficients: v.numberMap(row.coefficients, `${at}.coefficients`),
    limit: v.finite(row.limit, `${at}.limit`),
  };
}

/** An agent announces itself and the resources it uses (join/1: read as a join/2 with no box). */
const JOIN_1 = declareBody("join", { resources: field("array:string", names, ["r"]) });

/**
 * join/2 adds the box the agent declares for its values, for every resource it joins with: the
 * fold refuses a delta outside it. Any box that holds the agent's true bounds will do, so an
 * agent need not reveal them (catopt's agents declare them rounded outward to powers of two).
 * The box holds 0, where an agent's values start. It guards against an agent's own faults; it
 * is no limit on a hostile admitted agent, which declares what it likes (or joins with join/1,
 * still read for old streams): that one is bounded by the rule on every number, and answers
 * to governance, which admitted it. Its sides are optional in the catalog because a join/1,
 * upcast, reads as a join/2 without them (no box); a join/2 message itself carries both.
 */
const JOIN_2 = declareBody(
  "join",
  {
    resources: field("array:string", names, ["r"]),
    lower: optional("map:number", v.numberMap, { r: 0 }),
    upper: optional("map:number", v.numberMap, { r: 1 }),
    /** The agent's X25519 key for this problem's secure rounds (src/secure/masks.ts); a secure problem's fold requires it. */
    agreementKey: optional("bytes", parseAgreementKey, new Uint8Array(32)),
  },
  (b, path) => {
    const joined = new Set(b.resources);
    for (const [side, holdsZero] of [
      ["lower", (bound: number) => bound <= 0],
      ["upper", (bound: number) => bound >= 0],
    ] as const) {
      // Absent: refused as a missing map, with the parser's own words.
      const values = b[side] ?? v.numberMap(undefined, `${path}.${side}`);
      const foreign = Object.keys(values).find((r) => !joined.has(r));
      if (foreign !== undefined) throw new v.ValidationError(`${path}.${side}.${foreign}`, "is not among the resources it joins with");
      const missing = b.resources.find((r) => !Object.hasOwn(values, r));
      if (missing !== undefined) throw new v.ValidationError(`${path}.${side}.${missing}`, "missing: a join/2 bounds every resource it joins with");
      const off = b.resources.find((r) => !holdsZero(values[r]));
      if (off !== undefined) throw new v.ValidationError(`${path}.${side}.${off}`, `${values[off]} leaves 0, where the agent's values start, outside its box`);
    }
  },
);

/** An agent's new values, only those that changed since `base`, and its local objective. */
const DELTA_1 = declareBody("delta", {
  entries: field("map:number", v.numberMap, { r: 1 }),
  objective: field("number", v.finite, 0),
});

/** What every reader of a plan may see: its status, rho, the shared signal, the objective and the residuals. */
const SHARED_PLAN_FIELDS = {
  status: field("string", (x, at) => v.oneOf(x, PLAN_STATUSES, at), "running"),
  rho: field("number", v.positive, 1),
  /** xbar - zbar + u per resource: the one signal every agent's next local step needs. */
  signal: field("map:number", v.numberMap, { r: 0 }),
  objective: field("number", v.finite, 0),
  primal: field("number", v.finite, 0),
  dual: field("number", v.finite, 0),
  epsPrimal: field("number", v.finite, 0),
  epsDual: field("number", v.finite, 0),
  /**
   * A problem with noise: the zCDP rho its rounds have spent of its tenant's privacy budget so far,
   * and the (epsilon, delta)-DP that amounts to at the budget's delta. Absent in every other problem.
   */
  privacy: optional(
    "object",
    (x, at) => {
      const spent = v.record(x, at);
      return { rho: v.nonNegative(spent.rho, `${at}.rho`), epsilon: v.nonNegative(spent.epsilon, `${at}.epsilon`) };
    },
    { rho: 0.01, epsilon: 1 },
  ),
  ...SECURE_PLAN_FIELDS,
};

const PLAN_1 = declareBody("plan", {
  // Its parser checked that allocations is a map before anything else, and a refusal names that field still (refusals are in state hashes).
  allocations: field(
    "map:object",
    (x, at) => {
      const byAgent = v.record(x, at);
      return Object.fromEntries(Object.keys(byAgent).map((agent) => [agent, v.numberMap(byAgent[agent], `${at}.${agent}`)])) as Readonly<
        Record<string, Readonly<Record<string, number>>>
      >;
    },
    { a: { r: 1 } },
  ),
  ...SHARED_PLAN_FIELDS,
});

/**
 * The plan the agents and the tenant's viewers read: no agent's values (plan/1 carried every
 * agent's; an agent now learns its own, as the fold took them, from the round events).
 */
const PLAN_2 = declareBody("plan", SHARED_PLAN_FIELDS);

export type OpenBody = BodyOfDeclared<typeof OPEN_1>;
/** The open body by its older name: the problem's public specification. */
export type ProblemSpec = OpenBody;
export type JoinBody = BodyOfDeclared<typeof JOIN_2>;
export type DeltaBody = BodyOfDeclared<typeof DELTA_1>;
export type PlanBody = BodyOfDeclared<typeof PLAN_1>;
export type SharedPlanBody = BodyOfDeclared<typeof PLAN_2>;

declare module "../../core/schemas.ts" {
  interface BodyOf {
    "open/1": OpenBody;
    "join/1": BodyOfDeclared<typeof JOIN_1>;
    "join/2": JoinBody;
    "delta/1": DeltaBody;
    "plan/1": PlanBody;
    "plan/2": SharedPlanBody;
  }
}

export const ENERGY_QP_SCHEMAS: SchemaTable = {
  "open/1": OPEN_1,
  "join/1": { ...JOIN_1, upcast: { to: "join/2", body: (old) => ({ resources: old.resources, lower: undefined, upper: undefined, agreementKey: undefined }) } },
  "join/2": JOIN_2,
  "delta/1": DELTA_1,
  "plan/1": PLAN_1,
  "plan/2": PLAN_2,
};
