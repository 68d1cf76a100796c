/**
 * Commands answered before the command line is built: `agent version [-o text|json]` and
 * `agent -V`/`--version`, in exactly these forms. They need neither commander nor the
 * configuration, whose imports are most of a command's start-up (bench/compare.ts, row s2);
 * any other form (another flag, a typo) goes through the full command line as before.
 *
 * @module
 */
import { VERSION } from "../lib/version.ts";
import { print, renderJson } from "./output.ts";

/** What `agent version` prints, as text or JSON. */
export function renderVersion(format: "text" | "json"): string {
  const info = {
    version: VERSION,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    target: Deno.build.target,
  };
  return format === "json"
    ? renderJson(info)
    : `agent ${info.version} (deno ${info.deno}, v8 ${info.v8}, ${info.target})`;
}

/**
 * The command `args` ask for when it is one of the few answered without the command line,
 * or `undefined`.
 *
 * @example Usage
 * ```ts
 * const run = fastCommand(["version", "-o", "json"]);
 * if (run) await run();
 * ```
 */
export function fastCommand(args: readonly string[]): (() => Promise<void>) | undefined {
  const key = args.join(" ");
  if (key === "-V" || key === "--version") return () => print(VERSION);
  const format = VERSION_FORMS.get(key);
  return format === undefined ? undefined : () => print(renderVersion(format));
}

/**
 * Whether `args` may ask for help (cli/_help_early.ts): nothing, `help ...`, a last `--help`
 * or `-h`, or only words (a group named alone). A cheap test, so that other command lines do
 * not load cli/_help_early.ts.
 */
export function mayAskHelp(args: readonly string[]): boolean {
  if (args.length === 0 || args[0] === "help") return true;
  const last = args.at(-1);
  return last === "--help" || last === "-h" || args.every((arg) => /^[a-z][a-z0-9-]*$/.test(arg));
}

const VERSION_FORMS = new Map<string, "text" | "json">([
  ["version", "text"],
  ["version -o text", "text"],
  ["version -o json", "json"],
  ["version --output text", "text"],
  ["version --output json", "json"],
  ["version --output=text", "text"],
  ["version --output=json", "json"],
]);
