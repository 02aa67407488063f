import type { ProblemFamily } from "../../core/family.ts";
import { allocateCommand } from "./allocate-command.ts";
import { acceleratorAllocation, type ClusterState } from "./cluster-fold.ts";
import { clusterScenarios } from "./scenario-format.ts";

/** The accelerator allocation as the registry holds it: its fold (cluster-fold.ts), its scenario files and `catopt allocate`. */
export const acceleratorAllocationFamily: ProblemFamily<ClusterState> = { ...acceleratorAllocation, scenarios: clusterScenarios, commands: [allocateCommand] };
