/**
 * Reading fields of an object from the API without trusting its shape: each helper returns
 * the value when it has the expected type and `undefined` otherwise. The reducers run on every
 * object of every watch (50,000 at a relist), so they pick by hand instead of validating the
 * whole object with a schema; what they return is typed and bounded.
 *
 * @module
 */

/** A JSON object. */
export type Json = Record<string, unknown>;

/** The value when it is a JSON object. */
export function obj(value: unknown): Json | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Json
    : undefined;
}

/** The value when it is a list (of anything). */
export function arr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** The value when it is a string. */
export function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** The value when it is a finite number. */
export function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** The value when it is a boolean. */
export function bool(value: unknown): boolean | undefined {
  return typeof value === "boolean" ? value : undefined;
}

/** The string values of a string map, at most `max` entries. */
export function stringMap(value: unknown, max = 64): Record<string, string> | undefined {
  const o = obj(value);
  if (!o) return undefined;
  let out: Record<string, string> | undefined;
  let count = 0;
  for (const key in o) {
    const v = o[key];
    if (typeof v !== "string") continue;
    if (++count > max) break;
    (out ??= {})[key] = v;
  }
  return out;
}

/**
 * An object without its `undefined` fields and empty lists, or `undefined` when nothing is
 * left: what is not there costs nothing in the store.
 */
export function compact<T extends Json>(value: T): T | undefined {
  let empty = true;
  for (const key in value) {
    const v = value[key];
    if (v === undefined || (Array.isArray(v) && v.length === 0)) delete value[key];
    else empty = false;
  }
  return empty ? undefined : value;
}
