/**
 * The `agent` executable: builds the command line, runs it, and turns every outcome into
 * an exit code. The only place that calls `Deno.exit`.
 *
 * @module
 */
import { fastCommand, mayAskHelp } from "./cli/fast.ts";
import { AgentError, causeChain, errorMessage, ExitCode } from "./lib/errors.ts";
import { escapeControl } from "./lib/escape.ts";
import { installProcessHandlers } from "./lib/lifecycle.ts";
import { writeAllSync } from "./lib/io.ts";
import { redactUrls } from "./lib/redact.ts";

const encoder = new TextEncoder();

function writeAll(stream: typeof Deno.stdout | typeof Deno.stderr, text: string): void {
  try {
    writeAllSync(stream, encoder.encode(text));
  } catch (error) {
    // A reader that has gone (`agent --help | head`) ends the output quietly.
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}

/**
 * What `deno cache` and `deno compile --include` must be given besides `main.ts`: the file
 * naming every module {@linkcode later} and the commands' `later()` import.
 */
export const LATER_MODULES: readonly string[] = ["cli/_later_modules.ts"];

/**
 * Imports the module `specifier` names when called. Deno loads, before `main()` runs, every
 * module a literal `import()` names, and through it nearly the whole project and its npm
 * packages: a specifier it cannot read ahead keeps the start of `agent version` and of
 * `analyze core` to the modules they run. Each specifier is also a literal import in
 * `cli/_later_modules.ts`, for `deno cache` and `deno compile --include` (LATER_MODULES).
 */
function later<T>(specifier: string): Promise<T> {
  return import(specifier);
}

/** Runs the CLI with `args` and returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const fast = fastCommand(args);
  if (fast) {
    try {
      await fast();
      return ExitCode.Ok;
    } catch (error) {
      reportInternal(error, false);
      return ExitCode.Internal;
    }
  }
  // Help is printed from a table of the command line's help, without building it.
  const help = mayAskHelp(args)
    ? await (await later<typeof import("./cli/_help_early.ts")>("./cli/_help_early.ts"))
      .earlyHelp(args)
    : undefined;
  if (help && "help" in help) {
    writeAll(Deno.stdout, help.help);
    return ExitCode.Ok;
  }
  if (help) {
    writeAll(Deno.stderr, help.error + "\n");
    return ExitCode.Usage;
  }
  // gdb on the core of `analyze core` starts now and runs while the rest loads; unused, it
  // ends with the command. A plain `analyze core` runs without the command line at all.
  const early = args[0] === "analyze"
    ? await later<typeof import("./cli/_early.ts")>("./cli/_early.ts")
    : undefined;
  await early?.startEarlyGdb(args);
  try {
    const quick = await early?.quickAnalysis(args);
    if (!quick) return await runCommandLine(args);
    try {
      await quick();
      return ExitCode.Ok;
    } catch (error) {
      return reportError(error, args);
    }
  } finally {
    await early?.discardEarlyGdb();
  }
}

async function runCommandLine(args: string[]): Promise<number> {
  // Imported here, not above: `agent version` needs neither (about 40 ms and 20 MB). The
  // configuration (zod) loads with the command that uses it, or here when a log level
  // variable must be read as the configuration reads it.
  const logLevelSet = ["AGENT_LOG_LEVEL", "RUST_LOG"].some((name) => {
    try {
      return Deno.env.get(name) !== undefined;
    } catch {
      return false;
    }
  });
  const [{ CommanderError }, { buildCli, prepareCommand, resolveCommand }, config] = await Promise
    .all([
      later<typeof import("@commander-js/extra-typings")>("@commander-js/extra-typings"),
      later<typeof import("./cli/mod.ts")>("./cli/mod.ts"),
      logLevelSet ? later<typeof import("./lib/config/mod.ts")>("./lib/config/mod.ts") : undefined,
    ]);
  rustLogLevel = config?.rustLogLevel;
  const { program, context } = buildCli({
    out: (text) => writeAll(Deno.stdout, text),
    err: (text) => writeAll(Deno.stderr, text),
  });
  try {
    // What the arguments name is checked first: an unknown command is one line and exit code
    // 2 even with --help, and a group named alone (`agent analyze`) prints its help.
    const resolved = resolveCommand(program, args);
    if (resolved.kind === "unknown") {
      writeAll(Deno.stderr, resolved.message + "\n");
      return ExitCode.Usage;
    }
    await prepareCommand(resolved.command);
    if (resolved.kind === "help") {
      writeAll(Deno.stdout, resolved.command.helpInformation());
      return ExitCode.Ok;
    }
    await program.parseAsync(resolved.args, { from: "user" });
    return context.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end with code 0; anything else commander rejects is a usage error.
      return error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    }
    return reportError(error, args);
  }
}

/** Says what went wrong on stderr and returns the exit code of `error`. */
function reportError(error: unknown, args: string[]): number {
  if (error instanceof AgentError) {
    writeAll(Deno.stderr, oneLine(error.message) + "\n");
    if (wantsDebug(args)) {
      for (const cause of causeChain(error).slice(1)) {
        writeAll(Deno.stderr, `  caused by: ${oneLine(cause)}\n`);
      }
    }
    return error.exitCode;
  }
  reportInternal(error, wantsDebug(args));
  return ExitCode.Internal;
}

function reportInternal(error: unknown, debug: boolean): void {
  const message = oneLine(errorMessage(error));
  writeAll(Deno.stderr, `Internal error: ${message} (rerun with --log-level debug for details)\n`);
  if (debug && error instanceof Error && error.stack) writeAll(Deno.stderr, error.stack + "\n");
}

/**
 * A message as one safe line: errors name files and values that may come from a core or a
 * foreign file, so control characters are escaped and URL credentials hidden.
 */
function oneLine(message: string): string {
  return escapeControl(redactUrls(message));
}

/** Reads `AGENT_LOG_LEVEL`/`RUST_LOG`, once the configuration module is loaded. */
let rustLogLevel: ((level: string) => string) | undefined;

/** Whether `--log-level debug` was asked for, before (or without) a parsed configuration. */
function wantsDebug(args: string[]): boolean {
  const flag = args.findIndex((a) => a === "--log-level" || a.startsWith("--log-level="));
  if (flag >= 0) return args[flag] === "--log-level=debug" || args[flag + 1] === "debug";
  try {
    const level = Deno.env.get("AGENT_LOG_LEVEL") || Deno.env.get("RUST_LOG");
    if (level === undefined) return false;
    return rustLogLevel ? rustLogLevel(level) === "debug" : level === "debug";
  } catch {
    return false;
  }
}

if (import.meta.main) {
  // An error thrown where nothing can catch it ends a command like any internal error; a
  // signal ends it without leaving temporary files or child processes behind.
  installProcessHandlers({
    onFatal: (error) => {
      reportInternal(error, wantsDebug(Deno.args));
      Deno.exit(ExitCode.Internal);
    },
    onSignal: (code) => Deno.exit(code),
  });
  Deno.exit(await main(Deno.args));
}
