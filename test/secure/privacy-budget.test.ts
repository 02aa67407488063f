import { test } from "uvu";
import * as assert from "uvu/assert";
import { DEFAULT_ADMM } from "../../src/core/problem-spec.ts";
import { openEvent, type ProblemState } from "../../src/families/energy-qp/fold.ts";
import type { ProblemSpec } from "../../src/families/energy-qp/schemas.ts";
import { admitEvent, privacyBudgetEvent, privacyGrantEvent } from "../../src/governance/governance-events.ts";
import { generateIdentity } from "../../src/governance/identity.ts";
import { apply, emptyReplayState, problemKey, type ReplayState } from "../../src/replay/reducer.ts";
import { stateHash } from "../../src/replay/state-hash.ts";
import { worstRoundRho } from "../../src/secure/distributed-noise.ts";
import { epsilonFor, rhoBudgetFor } from "../../src/secure/zcdp.ts";
import { messageOf } from "../helpers/messages.ts";

// A tenant's privacy budget is governance's (privacy-budget/1), and governance grants its problems
// shares of it (privacy-grant/1), at most what is left: both on the tenant's governance subjects,
// which every problem's fold reads, so no two problems spend the same budget though none reads
// another's rounds. A problem with noise holds its rounds' worth of its grant when it opens.
const governance = generateIdentity("governance");
const coordinator = generateIdentity("coordinator");
const rounds = 30;
const spec: ProblemSpec = {
  resources: ["r1", "r2"],
  constraints: [{ name: "cap", coefficients: { r1: 1, r2: 1 }, limit: 5 }],
  agents: ["a", "b", "c"],
  admm: { ...DEFAULT_ADMM, maxRounds: rounds },
  secure: { fractionBits: 20, maxAbs: 16, threshold: 2, noise: { clip: 4, sigma2: 1e4 } },
};
const perProblem = rounds * worstRoundRho({ clip: 4, sigma2: 1e4, fractionBits: 20, dimension: 2 }, 2, 3);
type Signed = [Parameters<typeof messageOf>[1], typeof governance];

function fold(events: readonly Signed[]): ReplayState {
  return events.reduce((state, [event, signer], i) => apply(state, messageOf(i + 1, event, signer)), emptyReplayState(governance.did));
}
const problemOf = (state: ReplayState, problem: string) => state.problems[problemKey("t", problem)] as ProblemState | undefined;
/** The epsilon (at delta 1e-6) that rho amounts to: a budget of it holds that rho. */
const epsilonOf = (rho: number): number => epsilonFor(rho, 1e-6);

test("grants share a tenant's budget: each at most what is left; a problem holds its rounds' worth of its grant, or all of a smaller one", () => {
  const epsilon = epsilonOf(2.5 * perProblem); // the tenant's: two and a half problems' worth
  const each = epsilonOf(1.2 * perProblem); // each grant asks for more than its problem's rounds need
  const events: Signed[] = [
    [admitEvent("t", coordinator.did, "coordinator", "coordinator"), governance],
    [privacyBudgetEvent("t", epsilon, 1e-6, 1), governance],
    ...["p1", "p2", "p3", "p4"].map((p): Signed => [privacyGrantEvent("t", p, each), governance]),
    ...["p1", "p2", "p3", "p4"].map((p): Signed => [openEvent("t", p, spec), coordinator]),
  ];
  const state = fold(events);
  assert.equal(state.rejected, []);
  const budget = state.admission.budgets?.t;
  if (budget === undefined) throw new Error("no budget");
  const asked = rhoBudgetFor(each, 1e-6);
  assert.equal([budget.grants.p1, budget.grants.p2], [asked, asked]);
  assert.ok(Math.abs(budget.grants.p3 - (budget.rho - 2 * asked)) < 1e-12 * budget.rho, "the third is granted the rest");
  assert.is(budget.grants.p4, 0, "the fourth nothing");
  assert.equal(problemOf(state, "p1")?.privacy, { granted: perProblem, spent: 0, delta: 1e-6 }, "its rounds' worth of a larger grant");
  assert.is(problemOf(state, "p3")?.privacy?.granted, budget.grants.p3, "all of a smaller one");
  assert.is(problemOf(state, "p4")?.phase, "joining", "opened; its first round will end it (budget-exhausted)");
  assert.is(stateHash(fold(events)), stateHash(state), "a replay holds the same");
});

test("refused: a problem with noise that governance granted nothing, a grant without a budget, a second grant to a problem", () => {
  const state = fold([
    [admitEvent("t", coordinator.did, "coordinator", "coordinator"), governance],
    [privacyGrantEvent("t", "noisy", 1), governance],
    [openEvent("t", "noisy", spec), coordinator],
    [openEvent("t", "plain", { ...spec, secure: { fractionBits: 20, maxAbs: 16, threshold: 2 } }), coordinator],
    [privacyBudgetEvent("t", 10, 1e-6, 1), governance],
    [privacyGrantEvent("t", "twice", 1), governance],
    [privacyGrantEvent("t", "twice", 2), governance],
  ]);
  assert.equal(
    state.rejected.map((r) => r.reason),
    [
      "tenant t has no privacy budget to grant from (privacy-budget/1 first)",
      "governance granted problem noisy of tenant t no privacy budget (privacy-grant/1): it adds noise, and nothing could pay for it",
      "problem twice of t was granted its privacy budget already",
    ],
  );
  assert.ok(problemOf(state, "plain") !== undefined, "a problem without noise needs no budget");
});

test("only the governance identity sets a budget or grants one", () => {
  const state = fold([
    [privacyBudgetEvent("t", 1000, 1e-6, 1), coordinator],
    [privacyGrantEvent("t", "p", 1), coordinator],
  ]);
  assert.equal(state.rejected.length, 2);
  assert.ok(state.rejected.every((r) => /not by the governance identity/.test(r.reason)));
  assert.is(state.admission.budgets, undefined);
});

test.run();
