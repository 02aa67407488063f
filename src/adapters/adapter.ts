import type { LocalProblem } from "../core/local-problem.ts";

/**
 * A Functor of DESIGN.md: device- or domain-specific input -> vendor-agnostic LocalProblem.
 * Input it does not understand is a ValidationError naming the path of the field.
 */
export type Adapter = {
  readonly name: string;
  readonly describe: string;
  toLocalProblem(owner: string, input: unknown, path: string): LocalProblem;
};
