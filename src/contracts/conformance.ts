import { FAMILIES, isSchemaId, parseBody, SCHEMAS } from "../families/registry.ts";
import { latest } from "./catalog.ts";
import type { Registry } from "./compatibility.ts";
import { conformance } from "./schema.ts";
import type { SchemaDescriptor } from "../core/wire-schema.ts";

/**
 * The conformance harness behind `catopt contracts check`: every adapter's examples must
 * conform to the schema it consumes, and what it makes of them to the schema it produces; every
 * wire schema's parser must accept its declaration's sample (which must fit its descriptor) and
 * refuse it without a required field.
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
    // The sample is the declaration's own examples: each field's, as the catalog's descriptor lists them.
    const sample = SCHEMAS[id]?.sample ?? {};
    problems.push(...conformance(descriptor, sample, `sample of ${id}`));
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
