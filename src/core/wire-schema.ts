import type { SubjectKind } from "./subjects.ts";
import * as v from "./validate.ts";

/**
 * How a wire schema is declared, once: each field of its body with its catalog type, its parser
 * (which bounds it) and an example. From that one declaration come the body's TypeScript type
 * (BodyFrom), its parser (errors name the field's path), its descriptor in the contracts
 * catalog (contracts/catalog.ts), and a sample the conformance check feeds the parser; so the
 * four cannot drift apart. A table of our own rather than TypeBox or Valibot: every field here
 * needs bounds of this project's own (core/validate.ts: the magnitude rule, string and list
 * limits, subject tokens) and a catalog type, so a library would wrap these same parsers and
 * still need a second walk for the descriptor.
 */

/** Field types are a small vocabulary over msgpack/JSON values: `map:<type>` maps names to values, `array:<type>` lists them. */
export type ScalarType = "string" | "number" | "integer" | "boolean" | "bytes" | "object";
export type FieldType = ScalarType | `map:${ScalarType}` | `array:${ScalarType}`;

export type Field = {
  readonly name: string;
  readonly type: FieldType;
  readonly required: boolean;
  /** A reader fills a missing field with its default, which is what keeps an added field compatible. */
  readonly default?: unknown;
};

/** A message schema as the contracts registry knows it: a name, a version and typed fields. */
export type SchemaDescriptor = {
  readonly name: string;
  readonly version: number;
  readonly fields: readonly Field[];
};

/**
 * What an event is to the engine, whatever its family: the kind fixes the subject it travels on
 * and how the fold routes it. A family declares bodies for open, change (a change of the open
 * problem, from whoever may open it), join, delta and plan events;
 * rounds, leaves, governance and quarantine are the engine's own.
 */
export type EventKind = "open" | "change" | "join" | "delta" | "plan" | "round" | "attempt" | "leave" | "governance" | "quarantine";

/** The kinds a problem family declares bodies for. */
export const FAMILY_EVENT_KINDS: readonly EventKind[] = ["open", "change", "join", "delta", "plan"];

/** The subject each kind of event travels on: only the coordinator writes round subjects, so it alone opens problems. */
export const SUBJECT_OF: Readonly<Record<EventKind, SubjectKind>> = {
  open: "round",
  change: "round",
  round: "round",
  attempt: "round",
  join: "delta",
  delta: "delta",
  leave: "delta",
  plan: "plan",
  governance: "gov",
  quarantine: "quarantine",
};

/** One field of a body. */
export type FieldDecl<T> = {
  readonly type: FieldType;
  readonly required: boolean;
  readonly default?: unknown;
  /** Reads the field (undefined when absent); throws a ValidationError naming `path`. */
  readonly parse: (value: unknown, path: string) => T;
  /** A value the parser accepts: the conformance check's sample. */
  readonly example: unknown;
};

/** A field every body carries: its parser says what is wrong when it is absent. */
export const field = <T>(type: FieldType, parse: (value: unknown, path: string) => T, example: unknown): FieldDecl<T> => ({
  type,
  required: true,
  parse,
  example,
});

/** A field a body may leave out (one added in a later version): absent, it reads as `fallback` (frozen: every body shares it). */
export const defaulted = <T>(type: FieldType, parse: (value: unknown, path: string) => T, fallback: T, example: unknown): FieldDecl<T> => {
  const shared = typeof fallback === "object" && fallback !== null ? Object.freeze(fallback) : fallback;
  return { type, required: false, default: shared, parse: (value, path) => (value === undefined ? shared : parse(value, path)), example };
};

/** A field that may be absent, and then is: a body's `check` says when it must be there. */
export const optional = <T>(type: FieldType, parse: (value: unknown, path: string) => T, example: unknown): FieldDecl<T | undefined> => ({
  type,
  required: false,
  parse: (value, path) => (value === undefined ? undefined : parse(value, path)),
  example,
});

type FieldDecls = Readonly<Record<string, FieldDecl<unknown>>>;

type FieldValue<D> = D extends FieldDecl<infer T> ? T : never;
/** Fields that may be absent (optional(): their parser may give undefined). */
type AbsentKeys<F extends FieldDecls> = { [K in keyof F]: undefined extends FieldValue<F[K]> ? K : never }[keyof F];

/** The body type a declaration's fields make: a field that may be absent is an optional property. */
export type BodyFrom<F extends FieldDecls> = { readonly [K in Exclude<keyof F, AbsentKeys<F>>]: FieldValue<F[K]> } & {
  readonly [K in AbsentKeys<F>]?: FieldValue<F[K]>;
};

/** A declared body: its event kind, its catalog fields, its parser and a sample. */
export type Declared<B> = {
  readonly kind: EventKind;
  readonly fields: readonly Field[];
  readonly parse: (body: unknown, path: string) => B;
  readonly sample: Readonly<Record<string, unknown>>;
};

/** The body type of a declaration. */
export type BodyOfDeclared<D> = D extends Declared<infer B> ? B : never;

/**
 * Declares a body of an event kind. `check` holds rules across fields (a box must bound every
 * resource it names), run after each field is parsed; it throws a ValidationError naming a path.
 */
export function declareBody<F extends FieldDecls>(kind: EventKind, fields: F, check?: (body: BodyFrom<F>, path: string) => void): Declared<BodyFrom<F>> {
  const entries = Object.entries(fields);
  return {
    kind,
    fields: entries.map(([name, f]) => ({ name, type: f.type, required: f.required, ...(f.default === undefined ? {} : { default: f.default }) })),
    parse: (body, path) => {
      const b = v.record(body, path);
      const parsed = Object.fromEntries(entries.map(([name, f]) => [name, f.parse(b[name], `${path}.${name}`)])) as BodyFrom<F>;
      check?.(parsed, path);
      return parsed;
    },
    sample: Object.fromEntries(entries.map(([name, f]) => [name, f.example])),
  };
}
