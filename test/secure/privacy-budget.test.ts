import { test } from "uvu";
import * as assert from "uvu/assert";
import { DEFAULT_ADMM } from "../../src/core/problem-spec.ts";
import { openEvent, type ProblemState } from "../../src/families/energy-qp/fold.ts";
import type { ProblemSpec } from "../../src/families/energy-qp/schemas.ts";
import { admitEvent, privacyBudgetEvent } from "../../src/governance/governance-events.ts";
import { generateIdentity } from "../../src/governance/identity.ts";
import { apply, emptyReplayState, problemKey, type ReplayState } from "../../src/replay/reducer.ts";
import { stateHash } from "../../src/replay/state-hash.ts";
import { worstRoundRho } from "../../src/secure/distributed-noise.ts";
import { rhoBudgetFor } from "../../src/secure/zcdp.ts";
import { messageOf } from "../helpers/messages.ts";

// A tenant's privacy budget is governance's (privacy-budget/1), and its problems with noise pay
// from it when they open: each holds its rounds' worth, or what is left, so two problems never
// spend the same budget; all of it is a fold of the stream, so a replay holds the same.
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

function fold(events: readonly [Parameters<typeof messageOf>[1], typeof governance][]): ReplayState {
  return events.reduce((state, [event, signer], i) => apply(state, messageOf(i + 1, event, signer)), emptyReplayState(governance.did));
}
const problemOf = (state: ReplayState, problem: string) => state.problems[problemKey("t", problem)] as ProblemState | undefined;

test("two problems of a tenant share its budget: the first holds its rounds' worth, the second what is left, the third nothing", () => {
  // A budget of 2.5 problems' worth, in epsilon at delta 1e-6.
  const rhoBudget = 2.5 * perProblem;
  let epsilon = 1;
  while (rhoBudgetFor(epsilon, 1e-6) < rhoBudget) epsilon *= 1.01;
  const events: [Parameters<typeof messageOf>[1], typeof governance][] = [
    [admitEvent("t", coordinator.did, "coordinator", "coordinator"), governance],
    [privacyBudgetEvent("t", epsilon, 1e-6, 1), governance],
    [openEvent("t", "p1", spec), coordinator],
    [openEvent("t", "p2", spec), coordinator],
    [openEvent("t", "p3", spec), coordinator],
  ];
  const state = fold(events);
  assert.equal(state.rejected, []);
  const total = rhoBudgetFor(epsilon, 1e-6);
  assert.equal(problemOf(state, "p1")?.privacy, { granted: perProblem, spent: 0, delta: 1e-6 });
  assert.equal(problemOf(state, "p2")?.privacy, { granted: perProblem, spent: 0, delta: 1e-6 });
  const third = problemOf(state, "p3")?.privacy?.granted ?? Number.NaN;
  assert.ok(Math.abs(third - (total - 2 * perProblem)) < 1e-12 * total, `the third holds the rest: ${third}`);
  assert.ok(Math.abs((state.privacy?.t ?? 0) - total) < 1e-12 * total, "and the tenant has spent its whole budget");
  assert.is(stateHash(fold(events)), stateHash(state), "a replay holds the same");
});

test("a tenant with no budget cannot open a problem with noise; one without noise needs none", () => {
  const state = fold([
    [admitEvent("t", coordinator.did, "coordinator", "coordinator"), governance],
    [openEvent("t", "noisy", spec), coordinator],
    [openEvent("t", "plain", { ...spec, secure: { fractionBits: 20, maxAbs: 16, threshold: 2 } }), coordinator],
  ]);
  assert.is(state.rejected.length, 1);
  assert.match(state.rejected[0].reason, /tenant t has no privacy budget/);
  assert.ok(problemOf(state, "plain") !== undefined);
  assert.is(state.privacy, undefined, "nothing held: older streams' state hashes stay what they were");
});

test("only the governance identity sets a budget", () => {
  const state = fold([[privacyBudgetEvent("t", 1000, 1e-6, 1), coordinator]]);
  assert.match(state.rejected[0]?.reason ?? "", /not by the governance identity/);
  assert.is(state.admission.budgets, undefined);
});

test.run();
