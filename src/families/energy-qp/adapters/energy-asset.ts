import type { LocalProblem } from "../local-problem.ts";
import * as v from "../../../core/validate.ts";
import type { Adapter } from "./adapter.ts";

/**
 * Functor for power-managed assets (rovers, drones, habitat modules): per time slot, the
 * energy the asset wants, how much a shortfall or excess costs it, and the hard range its
 * hardware allows. Its objective is sum over slots of weight/2 * (x - want)^2.
 *
 * input: { "slots": { "<resource>": { "want": Wh, "weight": > 0, "min": Wh, "max": Wh } } }
 */
export const energyAsset: Adapter = {
  name: "energy-asset",
  describe: "per-slot energy wants with quadratic regret and hardware limits",
  consumes: "energy-asset-input/1",
  produces: "local-problem/1",
  examples: [
    { slots: { t08: { want: 150, weight: 1, min: 20, max: 400 }, t10: { want: 300, weight: 1, min: 20, max: 400 } } },
    { slots: { t12: { want: 300, weight: 5, min: 180, max: 500 } } },
  ],
  toLocalProblem(owner, input, path) {
    const slots = v.record(v.record(input, path).slots, `${path}.slots`);
    let constant = 0;
    const variables = Object.keys(slots).map((resource) => {
      const at = `${path}.slots.${resource}`;
      const slot = v.record(slots[resource], at);
      const want = v.finite(slot.want, `${at}.want`);
      const weight = v.positive(slot.weight, `${at}.weight`);
      const lower = v.finite(slot.min, `${at}.min`);
      const upper = v.finite(slot.max, `${at}.max`);
      if (lower > upper) throw new v.ValidationError(at, `min ${lower} exceeds max ${upper}`);
      constant += 0.5 * weight * want * want;
      return { resource, lower, upper, quadratic: weight, linear: -weight * want };
    });
    if (variables.length === 0) throw new v.ValidationError(`${path}.slots`, "an asset needs at least one slot");
    return { owner, variables, constant } satisfies LocalProblem;
  },
};
