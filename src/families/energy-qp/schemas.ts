import type { AdmmSettings, GlobalConstraint } from "../../core/problem-spec.ts";
import { parseAdmmSettings, PLAN_STATUSES, type PlanStatus, type SchemaTable } from "../../core/schemas.ts";
import * as v from "../../core/validate.ts";

/** The energy QP's wire schemas: their bodies, added to the engine's BodyOf, and their parsers. */

/**
 * The public half of an energy QP: what the coordinator knows and announces in the problem's
 * open event. Agents' objectives stay private (see LocalProblem).
 */
export type OpenBody = {
  readonly resources: readonly string[];
  readonly constraints: readonly GlobalConstraint[];
  readonly agents: readonly string[];
  readonly admm: AdmmSettings;
};

/** The open body by its older name: the problem's public specification. */
export type ProblemSpec = OpenBody;

/** An agent announces itself and the resources it uses. */
export type JoinBody = { readonly resources: readonly string[] };
/**
 * join/2 adds the box the agent declares for its values, for every resource it joins with: the
 * fold refuses a delta outside it. Any box that holds the agent's true bounds will do, so an
 * agent need not reveal them (catopt's agents declare them rounded outward to powers of two).
 * The box holds 0, where an agent's values start. It guards against an agent's own faults; it
 * is no limit on a hostile admitted agent, which declares what it likes (or joins with join/1,
 * still read for old streams): that one is bounded by the rule on every number, and answers
 * to governance, which admitted it.
 */
export type JoinBodyV2 = JoinBody & { readonly lower: Readonly<Record<string, number>>; readonly upper: Readonly<Record<string, number>> };

/** An agent's new values, only those that changed since `base`, and its local objective. */
export type DeltaBody = { readonly entries: Readonly<Record<string, number>>; readonly objective: number };

export type PlanBody = {
  readonly status: PlanStatus;
  readonly rho: number;
  /** xbar - zbar + u per resource: the one signal every agent's next local step needs. */
  readonly signal: Readonly<Record<string, number>>;
  readonly allocations: Readonly<Record<string, Readonly<Record<string, number>>>>;
  readonly objective: number;
  readonly primal: number;
  readonly dual: number;
  readonly epsPrimal: number;
  readonly epsDual: number;
};

declare module "../../core/schemas.ts" {
  interface BodyOf {
    "open/1": OpenBody;
    "join/1": JoinBody;
    "join/2": JoinBodyV2;
    "delta/1": DeltaBody;
    "plan/1": PlanBody;
  }
}

export const ENERGY_QP_SCHEMAS: SchemaTable = {
  "open/1": { subject: "round", parse: (body, path) => {
    const b = v.record(body, path);
    return {
      resources: v.stringList(b.resources, `${path}.resources`),
      agents: v.stringList(b.agents, `${path}.agents`),
      constraints: v.array(b.constraints, `${path}.constraints`).map((c, i) => {
        const at = `${path}.constraints[${i}]`;
        const row = v.record(c, at);
        return {
          name: v.string(row.name, `${at}.name`),
          coefficients: v.numberMap(row.coefficients, `${at}.coefficients`),
          limit: v.finite(row.limit, `${at}.limit`),
        };
      }),
      admm: parseAdmmSettings(b.admm, `${path}.admm`),
    };
  } },
  "join/1": { subject: "delta", parse: (body, path) => ({ resources: v.stringList(v.record(body, path).resources, `${path}.resources`) }) },
  "join/2": { subject: "delta", parse: (body, path) => {
    const b = v.record(body, path);
    const resources = v.stringList(b.resources, `${path}.resources`);
    const side = (name: "lower" | "upper", holdsZero: (bound: number) => boolean): Record<string, number> => {
      const values = v.numberMap(b[name], `${path}.${name}`);
      const foreign = Object.keys(values).find((r) => !resources.includes(r));
      if (foreign !== undefined) throw new v.ValidationError(`${path}.${name}.${foreign}`, "is not among the resources it joins with");
      const missing = resources.find((r) => !Object.hasOwn(values, r));
      if (missing !== undefined) throw new v.ValidationError(`${path}.${name}.${missing}`, "missing: a join/2 bounds every resource it joins with");
      const off = resources.find((r) => !holdsZero(values[r]));
      if (off !== undefined) throw new v.ValidationError(`${path}.${name}.${off}`, `${values[off]} leaves 0, where the agent's values start, outside its box`);
      return values;
    };
    return { resources, lower: side("lower", (bound) => bound <= 0), upper: side("upper", (bound) => bound >= 0) };
  } },
  "delta/1": { subject: "delta", parse: (body, path) => {
    const b = v.record(body, path);
    return { entries: v.numberMap(b.entries, `${path}.entries`), objective: v.finite(b.objective, `${path}.objective`) };
  } },
  "plan/1": { subject: "plan", parse: (body, path) => {
    const b = v.record(body, path);
    const allocations = v.record(b.allocations, `${path}.allocations`);
    return {
      status: v.oneOf(b.status, PLAN_STATUSES, `${path}.status`),
      rho: v.positive(b.rho, `${path}.rho`),
      signal: v.numberMap(b.signal, `${path}.signal`),
      allocations: Object.fromEntries(
        Object.keys(allocations).map((agent) => [agent, v.numberMap(allocations[agent], `${path}.allocations.${agent}`)]),
      ),
      objective: v.finite(b.objective, `${path}.objective`),
      primal: v.finite(b.primal, `${path}.primal`),
      dual: v.finite(b.dual, `${path}.dual`),
      epsPrimal: v.finite(b.epsPrimal, `${path}.epsPrimal`),
      epsDual: v.finite(b.epsDual, `${path}.epsDual`),
    };
  } },
};
