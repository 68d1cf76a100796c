/**
 * `agent analyze core CORE` ahead of the command line. gdb is started on the core before the
 * command line and the configuration are loaded, so that gdb's run overlaps the command's
 * start-up instead of following it. The run is started with the configuration's defaults on
 * the executable the core records (or `--exe`); the analysis takes it only if it asks for gdb
 * with exactly these arguments and options (lib/core/gdb.ts), and kills it otherwise: what the
 * command reports does not depend on it.
 *
 * When nothing can make the configuration differ from its defaults (no `--config`, no
 * variable it reads that could change or reject a value) and the core comes without a debug
 * bundle, the whole command runs here ({@linkcode quickAnalysis}): the analysis and its output
 * need neither commander, nor zod, nor the other commands' modules, which would otherwise load
 * while gdb runs and take the CPU from it. Its output and exit codes are the full command's
 * (tests/quick_analyze_test.ts compares them).
 *
 * @module
 */
import {
  analyzeCore,
  type AnalyzeOptions,
  discardPrestartedGdb,
  prestartGdb,
  readCoreNotes,
} from "../lib/core/mod.ts";
import { print, renderJson } from "./output.ts";
import { renderAnalysis } from "./_analysis_text.ts";

/** The defaults of `analyzer.gdbTimeout` and `analyzer.gdbMaxOutput` (2m, 16MiB). */
export const EARLY_GDB_DEFAULTS = { gdbPath: "gdb", timeoutMs: 120_000, maxOutputBytes: 16 << 20 };

/**
 * The variables other than `AGENT_` ones that the configuration reads (its aliases) and whose
 * values it may reject. The other aliases take any text and set keys the analysis does not
 * read (cli/_early_test.ts checks both against the schema).
 */
export const CHECKED_ALIASES: readonly string[] = [
  "KATA_PULSE_LISTEN",
  "KATA_PULSE_METRICS_INTERVAL",
  "RUNTIME_ENDPOINT",
  "RUST_LOG",
];

interface PlainAnalyze {
  core: string;
  exe?: string;
  /** The last `-o` given, unchecked. */
  output?: string;
}

/**
 * `args` when they are `analyze core CORE` with at most `--exe PATH` and `-o FORMAT` in the
 * forms below, else `undefined`: any other option might change what gdb is asked for, and
 * is left to the full command line.
 */
function plainAnalyze(args: readonly string[]): PlainAnalyze | undefined {
  if (args[0] !== "analyze" || args[1] !== "core") return undefined;
  let core: string | undefined;
  let exe: string | undefined;
  let output: string | undefined;
  for (let i = 2; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--exe" || arg === "-o" || arg === "--output") {
      const value = args[++i];
      if (value === undefined || value.startsWith("-")) return undefined;
      if (arg === "--exe") exe = value;
      else output = value;
    } else if (arg.startsWith("--exe=")) exe = arg.slice("--exe=".length);
    else if (arg.startsWith("--output=")) output = arg.slice("--output=".length);
    else if (arg.startsWith("-") || core !== undefined) return undefined;
    else core = arg;
  }
  if (core === undefined || exe === "") return undefined;
  return {
    core,
    ...(exe === undefined ? {} : { exe }),
    ...(output === undefined ? {} : { output }),
  };
}

/**
 * The core and the `--exe` of `args` when they are `analyze core CORE` with at most
 * `--exe PATH` and `-o FORMAT` in the forms below, else `undefined`: any other option might
 * change what gdb is asked for, and is left to the full command line.
 */
export function earlyGdbTarget(
  args: readonly string[],
): { core: string; exe?: string } | undefined {
  const plain = plainAnalyze(args);
  if (!plain) return undefined;
  return plain.exe === undefined ? { core: plain.core } : { core: plain.core, exe: plain.exe };
}

/** Whether an `AGENT_` variable is set: it may change what gdb is asked for, or whether it runs. */
function agentVariables(env: Record<string, string>): boolean {
  return Object.keys(env).some((name) => name.startsWith("AGENT_"));
}

/**
 * Starts gdb for `args` when they are a plain `analyze core` of an uncompressed core whose
 * executable is on this host. Never throws: whatever fails here is left to the command.
 */
export async function startEarlyGdb(args: readonly string[]): Promise<void> {
  const target = earlyGdbTarget(args);
  if (!target) return;
  try {
    // An AGENT_ variable may change what gdb is asked for, or whether it runs at all
    // (AGENT_ANALYZER_USE_GDB=false): then gdb waits for the configuration, as it always did.
    if (agentVariables(Deno.env.toObject())) return;
    const notes = await readCoreNotes(target.core, { buildIds: false });
    if (notes.compression !== "none") return;
    const exe = target.exe ?? notes.executable;
    if (!exe || !(await Deno.stat(exe)).isFile) return;
    await prestartGdb(exe, target.core, EARLY_GDB_DEFAULTS);
  } catch {
    // The command reads the core again and says what is wrong with it.
  }
}

/** Kills the gdb {@linkcode startEarlyGdb} started if the command did not take it. */
export async function discardEarlyGdb(): Promise<void> {
  await discardPrestartedGdb();
}

/**
 * What `analyzeOptions()` makes of the default configuration and `--exe`: the defaults of
 * `analyzer.*` (gdb as {@linkcode EARLY_GDB_DEFAULTS}, `maxNoteBytes` 64MiB, no `tempDir`, no
 * debuginfod URLs).
 */
export function quickOptions(exe: string | undefined): AnalyzeOptions {
  return { exe, gdb: EARLY_GDB_DEFAULTS, maxNoteBytes: 64 << 20, tempDir: undefined };
}

/**
 * The whole `analyze core` of `args`, when it can run without the command line: `args` are a
 * plain `analyze core` with `-o text` or `-o json`, `env` holds no variable that the
 * configuration reads and could change or reject, and the core has no debug bundle beside it
 * (which is read with the store's settings). Otherwise `undefined`, and the full command line
 * runs. The returned function throws what the full command throws.
 */
export async function quickAnalysis(
  args: readonly string[],
  env: Record<string, string> = Deno.env.toObject(),
): Promise<(() => Promise<void>) | undefined> {
  const plain = plainAnalyze(args);
  if (!plain || plain.core === "") return undefined;
  const output = plain.output ?? "text";
  if (output !== "text" && output !== "json") return undefined;
  if (agentVariables(env) || CHECKED_ALIASES.some((name) => env[name])) return undefined;
  // Where analyzeWithBundle() (lib/collect/bundle.ts) looks for a bundle, without --exe.
  if (plain.exe === undefined) {
    for (const path of [`${plain.core}.bundle/manifest.json`, `${plain.core}.json`]) {
      if (await exists(path)) return undefined;
    }
  }
  const { core, exe } = plain;
  return async () => {
    const analysis = await analyzeCore(core, quickOptions(exe));
    await print(output === "json" ? renderJson(analysis) : renderAnalysis(analysis));
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
