import { JSON_OPTION, stringOption, type Command } from "../../core/command.ts";
import { catoptError } from "../../core/errors.ts";
import { convergenceChart, sci } from "../../core/text-charts.ts";
import { POLICIES, type ClusterProblem, type PolicyName } from "./cluster.ts";
import { parseClusterScenario } from "./cluster-scenario.ts";
import { describeObjective, policyForm } from "./policy.ts";
import { solveAllocationReference } from "./reference-lp.ts";
import { allocationPicture } from "./render.ts";
import { planViolation } from "./repair.ts";
import { checkSlos } from "./slo-check.ts";
import { solveAllocationInProcess } from "./solve-in-process.ts";

/** `catopt allocate`: the allocation's own command, its ADMM in one process without NATS (listed through the family's `commands`). */
export const allocateCommand: Command = {
  name: "allocate",
  synopsis: "<cluster-scenario> [options]",
  summary: "allocate accelerators to jobs under a policy (node agents' ADMM in one process), checked against HiGHS",
  description:
    "Solve a cluster scenario (format catopt-cluster/1): the node agents' and the coordinator's ADMM steps run in this process, without NATS; the plan is repaired to exact feasibility, compared with HiGHS solving the same LP centrally, and with the heterogeneity-agnostic baseline.",
  options: {
    policy: { type: "string", value: "<name>", description: `override the scenario's policy: ${POLICIES.join(", ")}` },
    agnostic: { type: "boolean", description: "solve heterogeneity-agnostic (every type equally fast), Gavel's baseline" },
    json: JSON_OPTION,
  },
  details: [
    "<cluster-scenario> is a name under scenarios/ (gavel-small), a folder with scenario.json, or a file.",
    "Exit status: 0 when the plan converged, 1 otherwise or on error, 2 on a usage error.",
  ],
  run: async (args, io, context) => {
    const reference = args.positionals[0];
    if (reference === undefined) throw catoptError("USAGE", "allocate needs a cluster scenario, e.g. catopt allocate gavel-small");
    const policyName = stringOption(args, "policy");
    if (policyName !== undefined && !(POLICIES as readonly string[]).includes(policyName))
      throw catoptError("USAGE", `--policy expects one of ${POLICIES.join(", ")}, got "${policyName}"`);
    const json = args.values.json === true;
    const say = (line: string): void => (json ? io.err : io.out)(`${line}\n`);

    const { file, json: parsed } = await context.readScenario(reference);
    const scenario = parseClusterScenario(parsed, file);
    const problem: ClusterProblem = {
      ...scenario.cluster,
      ...(policyName === undefined ? {} : { policy: policyName as PolicyName }),
      heterogeneityAgnostic: args.values.agnostic === true,
    };
    const tenants = new Set(problem.jobs.map((j) => j.tenant)).size;
    say(
      `cluster ${scenario.name}: ${problem.nodes.length} node agents, ${problem.jobs.length} jobs of ${tenants} tenants, policy ${problem.policy}${problem.heterogeneityAgnostic ? " (heterogeneity-agnostic)" : ""}`,
    );

    if (problem.policy === "cost") {
      const slos = checkSlos(problem);
      if (slos !== undefined && !slos.feasible) {
        const names = slos.short
          .slice(0, 5)
          .map((s) => `${s.job} (${(100 * s.reach).toFixed(1)}%)`)
          .join(", ");
        throw catoptError(
          "PROBLEM_INFEASIBLE",
          `${file}: the SLOs cannot all be met: at best every job with an SLO gets ${(100 * slos.reach).toFixed(1)}% of its floor; short: ${names}${slos.short.length > 5 ? `, and ${slos.short.length - 5} more` : ""}`,
        );
      }
    }

    const started = performance.now();
    const run = solveAllocationInProcess(problem, undefined, (round, r) => {
      const line = `round ${String(round).padStart(5)}  primal ${sci(r.primal)} (eps ${sci(r.epsPrimal)})  dual ${sci(r.dual)} (eps ${sci(r.epsDual)})`;
      if (io.isTTY && !json) io.out(`\r${line}`);
      else if (round % 100 === 0) say(line); // a pipe gets every 100th round
    });
    const wallMs = performance.now() - started;
    if (io.isTTY && !json) io.out("\n");
    const form = policyForm(problem);
    const exact = await solveAllocationReference(problem, form);
    const baseline = problem.heterogeneityAgnostic ? undefined : solveAllocationInProcess({ ...problem, heterogeneityAgnostic: true });
    const gap = exact.status === "optimal" ? (exact.objective - run.objective) / Math.abs(exact.objective) : null;
    const violation = planViolation(problem, run.x);
    const report = {
      scenario: scenario.name,
      policy: problem.policy,
      agnostic: problem.heterogeneityAgnostic === true,
      converged: run.converged,
      rounds: run.rounds,
      wall_ms: Math.round(wallMs),
      objective: run.objective,
      highs_objective: exact.status === "optimal" ? exact.objective : null,
      highs_seconds: exact.seconds,
      relative_gap: gap,
      max_violation: violation,
      agnostic_objective: baseline?.objective ?? null,
      allocation: run.x,
    };
    if (json) {
      io.out(`${JSON.stringify(report)}\n`);
    } else {
      io.out(
        `\n${[
          ...convergenceChart(run.history),
          "",
          ...allocationPicture(problem, run.x),
          "",
          `${run.converged ? "converged" : "did not converge"} in ${run.rounds} rounds, ${wallMs.toFixed(0)} ms: ${describeObjective(problem, run.objective)}`,
          exact.status === "optimal"
            ? `HiGHS (central LP, ${(exact.seconds * 1000).toFixed(0)} ms): ${describeObjective(problem, exact.objective)}; relative gap ${sci(gap)}`
            : `HiGHS: ${exact.detail}`,
          `largest violation of a capacity, job row or quota: ${sci(violation)}`,
          ...(baseline === undefined ? [] : [`heterogeneity-agnostic baseline: ${describeObjective(problem, baseline.objective)}`]),
        ].join("\n")}\n`,
      );
    }
    if (!run.converged) io.err(`catopt: the allocation did not converge within ${run.rounds} rounds\n`);
    return run.converged ? 0 : 1;
  },
};
