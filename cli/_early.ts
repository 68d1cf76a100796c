/**
 * gdb started on the core of `agent analyze core CORE` before the command line and the
 * configuration are loaded, so that gdb's run overlaps the command's start-up instead of
 * following it. The run is started with the configuration's defaults on the executable the
 * core records (or `--exe`); the analysis takes it only if it asks for gdb with exactly these
 * arguments and options (lib/core/gdb.ts), and kills it otherwise: what the command reports
 * does not depend on it.
 *
 * @module
 */
import { discardPrestartedGdb, prestartGdb, readCoreNotes } from "../lib/core/mod.ts";

/** The defaults of `analyzer.gdbTimeout` and `analyzer.gdbMaxOutput` (2m, 16MiB). */
export const EARLY_GDB_DEFAULTS = { gdbPath: "gdb", timeoutMs: 120_000, maxOutputBytes: 16 << 20 };

/**
 * The core and the `--exe` of `args` when they are `analyze core CORE` with at most
 * `--exe PATH` and `-o FORMAT` in the forms below, else `undefined`: any other option might
 * change what gdb is asked for, and is left to the full command line.
 */
export function earlyGdbTarget(
  args: readonly string[],
): { core: string; exe?: string } | undefined {
  if (args[0] !== "analyze" || args[1] !== "core") return undefined;
  let core: string | undefined;
  let exe: string | undefined;
  for (let i = 2; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--exe" || arg === "-o" || arg === "--output") {
      const value = args[++i];
      if (value === undefined || value.startsWith("-")) return undefined;
      if (arg === "--exe") exe = value;
    } else if (arg.startsWith("--exe=")) exe = arg.slice("--exe=".length);
    else if (arg.startsWith("--output=")) continue;
    else if (arg.startsWith("-") || core !== undefined) return undefined;
    else core = arg;
  }
  if (core === undefined || exe === "") return undefined;
  return exe === undefined ? { core } : { core, exe };
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
    if (Object.keys(Deno.env.toObject()).some((name) => name.startsWith("AGENT_"))) return;
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
