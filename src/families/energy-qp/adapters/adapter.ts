import type { LocalProblem } from "../local-problem.ts";

/**
 * A Functor of DESIGN.md: device- or domain-specific input -> vendor-agnostic LocalProblem.
 * Input it does not understand is a ValidationError naming the path of the field.
 */
export type Adapter = {
  readonly name: string;
  readonly describe: string;
  /** The schemas (name/version in the contracts catalog) of what it reads and what it makes. */
  readonly consumes: string;
  readonly produces: string;
  /** Real inputs it must accept: the conformance harness (catopt contracts check) runs them. */
  readonly examples: readonly unknown[];
  toLocalProblem(owner: string, input: unknown, path: string): LocalProblem;
};
