import { test } from "uvu";
import * as assert from "uvu/assert";
import { eventId, type CatoptEvent } from "../../src/core/event.ts";
import { DEFAULT_ADMM } from "../../src/core/problem-spec.ts";
import { openEvent } from "../../src/families/energy-qp/fold.ts";
import { admitEvent } from "../../src/governance/governance-events.ts";
import { generateIdentity } from "../../src/governance/identity.ts";
import { apply, emptyReplayState } from "../../src/replay/reducer.ts";
import { messageOf } from "../helpers/messages.ts";

// A hostile agent's secure events on a plain problem: each refused with its reason. A share/1 used to
// reach the energy fold, which read the secure settings the problem does not have: a TypeError, which
// the reducer does not take for a refusal, so the coordinator's fold and every replay stopped.
const governance = generateIdentity("governance");
const coordinator = generateIdentity("coordinator");
const agent = generateIdentity("a");
const frame = <S extends CatoptEvent["schema"]>(schema: S, kind: string, body: unknown) =>
  ({ schema, id: eventId("t", "p", kind, 1, "a"), tenant: "t", problem: "p", round: 1, base: 0, body }) as unknown as CatoptEvent<S>;

test("secure events to a plain problem are refused with the reason, never thrown", () => {
  const spec = { resources: ["r"], agents: ["a", "b"], constraints: [], admm: DEFAULT_ADMM };
  let state = emptyReplayState(governance.did);
  const events: [CatoptEvent, typeof governance, string?][] = [
    [admitEvent("t", coordinator.did, "coordinator", "coordinator"), governance],
    [admitEvent("t", agent.did, "agent", "a"), governance],
    [openEvent("t", "p", spec), coordinator],
    [frame("share/1", "share", { attempt: 1, shares: { b: new Uint8Array(66) } }), agent, "a"],
    [frame("reveal/1", "reveal", { seed: new Uint8Array(32), took: ["a", "b"], attempt: 1 }), agent, "a"],
  ];
  for (const [i, [event, signer, on]] of events.entries()) state = apply(state, messageOf(i + 1, event, signer, on));
  assert.equal(
    state.rejected.map((r) => r.reason),
    ["problem p is not secure: share/1 has no place in it", "problem p is not secure: reveal/1 has no place in it"],
  );
});

test.run();
