/**
 * Every module imported with `later()` (main.ts, cli/_later.ts), as literal `import()`s, for
 * the tools that read them: `deno cache` (scripts/install.ts, scripts/build_image.ts) and
 * `deno compile --include cli/_later_modules.ts`. Nothing imports this file or calls its
 * function; tests/later_modules_test.ts checks that it names every `later()` specifier.
 *
 * @module
 */

/** Never called: its `import()`s are what the tools read. */
export function laterModules(): Promise<unknown>[] {
  return [
    import("./mod.ts"),
    import("./_early.ts"),
    import("./_help_early.ts"),
    import("./_help_texts.ts"),
    import("./_analysis_text.ts"),
    import("@commander-js/extra-typings"),
    import("yaml"),
    import("../daemon/mod.ts"),
    import("../lib/ai/mod.ts"),
    import("../lib/anomaly/mod.ts"),
    import("../lib/cluster/mod.ts"),
    import("../lib/collect/mod.ts"),
    import("../lib/config/mod.ts"),
    import("../lib/core/mod.ts"),
    import("../lib/kata/mod.ts"),
    import("../lib/kube/mod.ts"),
    import("../lib/node/mod.ts"),
    import("../lib/pool.ts"),
    import("../lib/prom/mod.ts"),
    import("../lib/store/mod.ts"),
  ];
}
