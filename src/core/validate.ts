/**
 * Tiny structural checks that name the path of the first bad field. Used for everything
 * that arrives from outside: scenario files, message bodies, recordings.
 */
export class ValidationError extends Error {
  readonly path: string;

  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "ValidationError";
    this.path = path;
  }
}

type Fields = { readonly [key: string]: unknown };

export function record(value: unknown, path: string): Fields {
  if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new ValidationError(path, `expected an object, got ${describe(value)}`);
  }
  return value as Fields;
}

export function array(value: unknown, path: string): readonly unknown[] {
  if (!Array.isArray(value)) throw new ValidationError(path, `expected an array, got ${describe(value)}`);
  return value;
}

export function string(value: unknown, path: string, maxLength = MAX_STRING): string {
  if (typeof value !== "string") throw new ValidationError(path, `expected a string, got ${describe(value)}`);
  if (value.length > maxLength) throw new ValidationError(path, `${value.length} characters, more than ${maxLength}`);
  return value;
}

/** No name, id, reason or description we read needs more: a longer string is refused before anyone works on it. */
export const MAX_STRING = 4096;

/**
 * Names that index plain objects (resources, agents, tenants) must not be the prototype's own
 * keys: `x["__proto__"]` or `x["constructor"]` would read the prototype, not a value.
 */
export const isPrototypeKey = (name: string): boolean => name in Object.prototype;

/**
 * The one rule for numbers from outside (events, scenarios, recordings): finite, and at most
 * 1e15 in magnitude. Anything larger is no quantity our problems have (energy in Wh, seconds
 * of accelerator time, a millisecond clock), and sums and squares of numbers up to 1e15 stay
 * far inside the double range, so no fold or solver step can overflow on accepted input.
 */
export const MAX_MAGNITUDE = 1e15;

export function finite(value: unknown, path: string): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new ValidationError(path, `expected a finite number, got ${describe(value)}`);
  }
  if (Math.abs(value) > MAX_MAGNITUDE) throw new ValidationError(path, `${value} is beyond ${MAX_MAGNITUDE} in magnitude`);
  return value;
}

export function integer(value: unknown, path: string, min = 0): number {
  const n = finite(value, path);
  if (!Number.isInteger(n) || n < min) throw new ValidationError(path, `expected an integer >= ${min}, got ${n}`);
  return n;
}

export function positive(value: unknown, path: string): number {
  const n = finite(value, path);
  if (n <= 0) throw new ValidationError(path, `expected a number > 0, got ${n}`);
  return n;
}

export function nonNegative(value: unknown, path: string): number {
  const n = finite(value, path);
  if (n < 0) throw new ValidationError(path, `expected a number >= 0, got ${n}`);
  return n;
}

export function bytes(value: unknown, path: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new ValidationError(path, `expected bytes, got ${describe(value)}`);
  return value;
}

export function boolean(value: unknown, path: string): boolean {
  if (typeof value !== "boolean") throw new ValidationError(path, "expected true or false");
  return value;
}

export function oneOf<T extends string>(value: unknown, choices: readonly T[], path: string): T {
  const s = string(value, path);
  if (!(choices as readonly string[]).includes(s)) {
    throw new ValidationError(path, `expected one of ${choices.join(", ")}, got "${s}"`);
  }
  return s as T;
}

/** A map of names to finite numbers, such as a sparse vector keyed by resource. */
export function numberMap(value: unknown, path: string): Record<string, number> {
  const source = record(value, path);
  const out: Record<string, number> = {};
  for (const key of Object.keys(source)) {
    if (isPrototypeKey(key)) throw new ValidationError(`${path}.${key}`, `"${key}" cannot be a name here`);
    out[key] = finite(source[key], `${path}.${key}`);
  }
  return out;
}

export function stringList(value: unknown, path: string): string[] {
  return array(value, path).map((item, i) => string(item, `${path}[${i}]`));
}

/** A value as an error message shows it: short, whatever the input holds. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "bytes";
  if (typeof value === "string") return `"${value.length > 40 ? `${value.slice(0, 40)}...` : value}"`;
  if (typeof value === "number") return String(value);
  return typeof value;
}
