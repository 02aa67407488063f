import type { LocalProblem } from "./local-problem.ts";
import type { ProblemSpec } from "./schemas.ts";
import { agentSignal, aggregateRound, constraintRows, coordinatorStep, initialAdmmState, type Residuals } from "../../solver/admm.ts";
import { localStep } from "./local-step.ts";

/**
 * Sharing ADMM with every agent in one process: the same pure steps the agents and the
 * coordinator take over NATS, without the bus. For tests against HiGHS and as the
 * no-network baseline of benchmarks.
 */
export type SharingResult = {
  readonly converged: boolean;
  readonly rounds: number;
  readonly allocations: Record<string, Record<string, number>>;
  readonly residuals: Residuals;
};

export function solveSharing(problems: readonly LocalProblem[], spec: ProblemSpec): SharingResult {
  const rows = constraintRows(spec.resources, spec.constraints, new Set(problems.flatMap((p) => p.variables.map((v) => v.resource))));
  const embed = (x: Readonly<Record<string, number>>): number[] => spec.resources.map((r) => x[r] ?? 0);
  let state = initialAdmmState(spec.resources.length, spec.admm);
  let x: Record<string, number>[] = problems.map(() => ({}));
  let residuals: Residuals = { primal: Infinity, dual: Infinity, epsPrimal: 0, epsDual: 0 };
  for (let round = 1; round <= spec.admm.maxRounds; round++) {
    const signal = Object.fromEntries(agentSignal(state).map((s, j) => [spec.resources[j], s]));
    const next = problems.map((p, i) => localStep(p, x[i], signal, state.rho));
    const step = coordinatorStep(state, aggregateRound(round, x.map(embed), next.map(embed)), rows, spec.admm);
    [state, x, residuals] = [step.state, next, step.residuals];
    if (step.converged) return { converged: true, rounds: round, allocations: allocationsOf(problems, x), residuals };
  }
  return { converged: false, rounds: spec.admm.maxRounds, allocations: allocationsOf(problems, x), residuals };
}

function allocationsOf(problems: readonly LocalProblem[], x: readonly Record<string, number>[]): Record<string, Record<string, number>> {
  return Object.fromEntries(problems.map((p, i) => [p.owner, x[i]]));
}
