import { FAMILIES, isSchemaId, parseBody } from "../families/registry.ts";
import { latest } from "./catalog.ts";
import type { Registry } from "./compatibility.ts";
import { conformance, type SchemaDescriptor } from "./schema.ts";

/**
 * The conformance harness behind `catopt contracts check`: every adapter's examples must
 * conform to the schema it consumes, and what it makes of them to the schema it produces; every
 * wire schema's parser must accept a value built from its descriptor and refuse one that lacks
 * a required field, so descriptor and parser cannot drift apart.
 */
export type CheckResult = { readonly subject: string; readonly problems: readonly string[] };

export function checkAdapters(registry: Registry): CheckResult[] {
  return FAMILIES.flatMap((f) => f.scenarios?.adapters ?? []).map((adapter) => {
    const problems: string[] = [];
    const consumes = find(registry, adapter.consumes, problems);
    const produces = find(registry, adapter.produces, problems);
    if (adapter.examples.length === 0) problems.push("declares no examples to check");
    adapter.examples.forEach((input, i) => {
      if (consumes) problems.push(...conformance(consumes, input, `examples[${i}]`));
      try {
        const output = adapter.convert(`example${i}`, input, `examples[${i}]`);
        if (produces) problems.push(...conformance(produces, output, `output[${i}]`));
      } catch (err) {
        problems.push(`examples[${i}]: refused: ${(err as Error).message}`);
      }
    });
    return { subject: `adapter ${adapter.name} (${adapter.consumes} -> ${adapter.produces})`, problems };
  });
}

export function checkWireSchemas(registry: Registry): CheckResult[] {
  return [...registry.keys()].flatMap((name) => {
    const descriptor = latest(registry, name) as SchemaDescriptor;
    const id = `${name}/${descriptor.version}`;
    if (!isSchemaId(id)) return [];
    const problems: string[] = [];
    const sample = sampleOf(descriptor);
    try {
      parseBody(id, sample);
    } catch (err) {
      problems.push(`the parser refuses a value the descriptor allows: ${(err as Error).message}`);
    }
    for (const field of descriptor.fields.filter((f) => f.required)) {
      const { [field.name]: _dropped, ...without } = sample;
      try {
        parseBody(id, without);
        problems.push(`the parser accepts a value without the required field "${field.name}"`);
      } catch {
        // refused, as the descriptor says
      }
    }
    return [{ subject: `wire schema ${id}`, problems }];
  });
}

function find(registry: Registry, id: string, problems: string[]): SchemaDescriptor | undefined {
  const [name, version] = id.split("/");
  const found = registry.get(name)?.find((s) => String(s.version) === version);
  if (found === undefined) problems.push(`declares ${id}, which the contracts catalog does not hold`);
  return found;
}

/** A value of every field's type, well-formed enough for the wire parsers. */
function sampleOf(descriptor: SchemaDescriptor): Record<string, unknown> {
  const SAMPLES: Record<string, Record<string, unknown>> = {
    open: { resources: ["r"], constraints: [{ name: "c", coefficients: { r: 1 }, limit: 1 }], agents: ["a"], admm: { rho: 1, epsAbs: 1e-6, epsRel: 1e-6, mu: 10, tau: 2, balanceRounds: 10, maxRounds: 10 } },
    plan: { status: "running", rho: 1, signal: { r: 0 }, allocations: { a: { r: 1 } }, objective: 0, primal: 0, dual: 0, epsPrimal: 0, epsDual: 0 },
    join: { resources: ["r"], lower: { r: 0 }, upper: { r: 1 } },
    admit: { did: "did:key:z6Mk", role: "agent", name: "a" },
    round: { took: ["a"], closedBy: "quorum" },
    "cluster-open": {
      cluster: { nodes: [{ name: "n", type: "A100", count: 1 }], jobs: [{ name: "j", tenant: "t", throughput: { A100: 1 } }], policy: "max-throughput" },
      admm: { rho: 1, epsAbs: 1e-6, epsRel: 1e-6, mu: 10, tau: 2, balanceRounds: 10, maxRounds: 10 },
      tenantPlanEvery: 1,
    },
    "cluster-plan": { status: "running", rho: 1, signal: { index: [0], value: [0.5] }, primal: 0, dual: 0, epsPrimal: 0, epsDual: 0 },
    "tenant-plan": { platform: "p", status: "running", allocations: { j: { A100: 1 } }, throughput: { j: 1 } },
  };
  if (SAMPLES[descriptor.name]) return SAMPLES[descriptor.name];
  const byType: Record<string, unknown> = { string: "s", number: 1.5, integer: 1, boolean: true, bytes: new Uint8Array([1]), object: {} };
  return Object.fromEntries(
    descriptor.fields.map((f) => [f.name, f.type.startsWith("map:") ? { k: byType[f.type.slice(4)] } : f.type.startsWith("array:") ? [byType[f.type.slice(6)]] : byType[f.type]]),
  );
}
