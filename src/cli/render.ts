import type { AnyProblemState } from "../replay/reducer.ts";
import type { Outcome } from "../replay/summary.ts";
import { sci } from "../core/text-charts.ts";
import type { LedgerOutcome } from "../run/run-scenario.ts";

/** Text for people: progress per round and the outcome; the charts are core/text-charts.ts, each family draws its plan. */
export function progressLine(problem: AnyProblemState): string {
  const r = problem.residuals;
  return `round ${String(problem.round).padStart(4)}  primal ${sci(r.primal)} (eps ${sci(r.epsPrimal)})  dual ${sci(r.dual)} (eps ${sci(r.epsDual)})  rho ${problem.admm.rho}`;
}

/** Which rounds to print when the output is not a terminal: the first few, then every `every`th (the family's progressEvery). */
export const worthPrinting = (round: number, every: number): boolean => round <= 3 || round % every === 0;

export function outcomeLines(o: Outcome & { wall_ms?: number; replay_state_hash?: string; ledger?: LedgerOutcome | null }): string[] {
  const verdict = o.converged ? `converged in ${o.rounds} rounds` : `${o.status} after ${o.rounds} rounds`;
  return [
    `${o.tenant}/${o.problem}${o.scenario ? ` (scenario ${o.scenario})` : ""}: ${verdict}${o.wall_ms === undefined ? "" : ` in ${(o.wall_ms / 1000).toFixed(2)} s`}`,
    `  objective            ${o.objective === null ? "n/a" : o.objective.toFixed(6)}`,
    `  HiGHS reference      ${o.reference_objective === null ? "n/a (not in the stream)" : o.reference_objective.toFixed(6)}`,
    `  relative gap         ${sci(o.gap)}`,
    ...(o.certified_gap === null ? [] : [`  certified gap        ${sci(o.certified_gap)} (proven from the stream: the plan against a Lagrangian bound)`]),
    `  max violation        ${sci(o.max_violation)}`,
    `  residuals            primal ${sci(o.primal_residual)}, dual ${sci(o.dual_residual)}`,
    `  events               ${o.events}${o.rejected > 0 ? ` (${o.rejected} rejected)` : ""}`,
    `  state hash           ${o.state_hash}`,
    ...(o.replay_state_hash === undefined
      ? []
      : [`  replayed stream      ${o.replay_state_hash === o.state_hash ? "same hash" : `DIFFERENT hash ${o.replay_state_hash}`}`]),
    ...(o.ledger == null
      ? []
      : [
          `  ledger               ${o.ledger.size} entries, root ${o.ledger.root}`,
          `                       ${o.ledger.checkpoints} signed checkpoint(s), ${o.ledger.quarantined} quarantined, ${o.ledger.verified ? "verified" : `NOT VERIFIED: ${o.ledger.problem}`}`,
        ]),
  ];
}
