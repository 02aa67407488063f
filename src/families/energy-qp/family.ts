import type { ProblemFamily } from "../../core/family.ts";
import { energyQp, type ProblemState } from "./fold.ts";
import { energyQpScenarios } from "./scenario-format.ts";

/** The energy QP as the registry holds it: its fold (fold.ts) and its scenario files. */
export const energyQpFamily: ProblemFamily<ProblemState> = { ...energyQp, scenarios: energyQpScenarios };
