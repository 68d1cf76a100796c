/**
 * `import()` by a specifier Deno does not read ahead. Deno loads every module a literal
 * `import()` names as soon as the module holding it loads, and the commands' would take in
 * nearly the whole project and its npm packages with the command line. Every specifier given
 * here must also be a literal import in `cli/_later_modules.ts`, which `deno cache` and
 * `deno compile --include` are given (tests/later_modules_test.ts checks it).
 *
 * @module
 */

/**
 * Imports `specifier` (relative to `cli/`) when called; `T` is its type, `typeof import(...)`.
 *
 * @example Usage
 * ```ts ignore
 * const { loadConfig } = await later<typeof import("../lib/config/mod.ts")>("../lib/config/mod.ts");
 * ```
 */
export function later<T>(specifier: string): Promise<T> {
  return import(specifier);
}
