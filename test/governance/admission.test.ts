import { test } from "uvu";
import * as assert from "uvu/assert";
import { applyGovernance, emptyAdmission } from "../../src/governance/admission.ts";
import { approveEvent, policyEvent, schemaEvent } from "../../src/governance/governance-events.ts";
import { Refusal } from "../../src/core/refusal.ts";
import { generateIdentity } from "../../src/governance/identity.ts";
import type { SchemaDescriptor } from "../../src/core/wire-schema.ts";

const governance = generateIdentity("governance");
const stranger = generateIdentity("stranger");
const telemetry2: SchemaDescriptor = {
  name: "telemetry",
  version: 2,
  fields: [
    { name: "source", type: "string", required: true },
    { name: "at", type: "integer", required: true },
    { name: "metrics", type: "map:number", required: true },
    { name: "site", type: "string", required: false, default: "" },
  ],
};

const refusal = (run: () => unknown): string => {
  try {
    run();
    return "accepted";
  } catch (err) {
    assert.instance(err, Refusal);
    return (err as Error).message;
  }
};

test("schema registrations, adapter approvals and policies are folded from governance events, per tenant", () => {
  let state = emptyAdmission(governance.did);
  state = applyGovernance(state, schemaEvent("cosmos", telemetry2, "backward-transitive"), governance.did, 1);
  state = applyGovernance(state, approveEvent("cosmos", "energy-asset", true, 1), governance.did, 2);
  state = applyGovernance(state, policyEvent("cosmos", "checkpoint-every", "500", 1), governance.did, 3);
  assert.equal(
    state.schemas.cosmos?.map((s) => `${s.name}/${s.version}`),
    ["telemetry/2"],
  );
  assert.equal(state.adapters.cosmos, { "energy-asset": true });
  assert.equal(state.policies.cosmos, { "checkpoint-every": "500" });
  assert.is(state.schemas.other, undefined, "tenants are apart");
  state = applyGovernance(state, approveEvent("cosmos", "energy-asset", false, 2), governance.did, 4);
  assert.equal(state.adapters.cosmos, { "energy-asset": false });
});

test("an incompatible registration is refused naming the field; so is any governance event from another signer", () => {
  const breaking: SchemaDescriptor = { ...telemetry2, fields: [...telemetry2.fields.slice(0, 3), { name: "site", type: "string", required: true }] };
  assert.match(
    refusal(() => applyGovernance(emptyAdmission(governance.did), schemaEvent("cosmos", breaking, "backward"), governance.did, 1)),
    'incompatible schema telemetry/2: backward: field "site"',
  );
  const skipping: SchemaDescriptor = { ...telemetry2, version: 3 };
  assert.match(
    refusal(() => applyGovernance(emptyAdmission(governance.did), schemaEvent("cosmos", skipping, "backward"), governance.did, 1)),
    "the next version is 2",
  );
  assert.match(
    refusal(() => applyGovernance(emptyAdmission(governance.did), policyEvent("cosmos", "x", "y", 1), stranger.did, 1)),
    "not by the governance identity",
  );
});

test.run();
