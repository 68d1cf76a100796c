/**
 * The command line: the root command with its global options and every subcommand.
 * Parsing and rendering only; the work is done in `lib/`.
 *
 * @module
 */
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { escapeControl } from "../lib/escape.ts";
import { VERSION } from "../lib/version.ts";
import { type CliContext, createContext } from "./_context.ts";
import { aiCommand } from "./ai.ts";
import { analyzeCommand } from "./analyze.ts";
import { anomalyCommand } from "./anomaly.ts";
import { collectCommand } from "./collect.ts";
import { daemonCommand } from "./daemon.ts";
import { discoverCommand } from "./discover.ts";
import { pruneCommand } from "./prune.ts";
import { scoreCommand } from "./score.ts";
import { statsCommand } from "./stats.ts";
import { uninstallCommand } from "./uninstall.ts";
import { versionCommand } from "./version.ts";

export type { CliContext };

/** Writes commander's own messages (help, usage errors). */
export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

/**
 * Builds the `agent` command. Commander's usage errors are thrown (not exited) so that
 * `main.ts` maps them to exit code 2.
 */
export function buildCli(output: CliOutput): { program: CommandUnknownOpts; context: CliContext } {
  const program = new Command("agent")
    .description(
      "Crash forensics for Milvus on Kubernetes nodes: explain and score coredumps, find\n" +
        "Milvus instances and their crashes.\n" +
        "Flags override environment variables, which override the --config file, which\n" +
        "overrides the defaults. Exit codes: 0 ok, 1 a finding you asked to fail on,\n" +
        "2 usage error or invalid input, 3 a dependency is unavailable.",
    )
    .version(VERSION, "-V, --version", "print the version")
    .addOption(new Option("--config <file>", "YAML configuration file").env("AGENT_CONFIG"))
    // Settings: the configuration loader reads their environment variables and checks their
    // values (logLevel, logFormat), as for every other key.
    .option(
      "--log-level <level>",
      "debug, info, warn or error (default: logLevel, info; env AGENT_LOG_LEVEL)",
    )
    .option(
      "--log-format <format>",
      "text or json (default: logFormat, text; env AGENT_LOG_FORMAT)",
    )
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .addHelpText(
      "after",
      "\nExamples:\n  agent analyze core ./core.1234\n  agent score cores/*.core --fail-under 7",
    );
  const context = createContext(() => program.opts());
  program.addCommand(analyzeCommand(context));
  program.addCommand(scoreCommand(context));
  program.addCommand(discoverCommand(context));
  program.addCommand(collectCommand(context));
  program.addCommand(pruneCommand(context));
  program.addCommand(uninstallCommand(context));
  program.addCommand(statsCommand(context));
  program.addCommand(aiCommand(context));
  program.addCommand(anomalyCommand());
  program.addCommand(daemonCommand(context));
  program.addCommand(versionCommand());
  const configure = (command: CommandUnknownOpts) => {
    command.exitOverride().configureOutput({
      writeOut: output.out,
      writeErr: output.err,
      outputError: (text, write) => write(usageLine(text, command)),
    });
    for (const sub of command.commands) configure(sub);
  };
  configure(program);
  return { program, context };
}

/**
 * Turns commander's `error: unknown option '--x'` (and its "Did you mean" line) into one line
 * in the house style; what the user typed is escaped, as any other text from outside.
 */
function usageLine(text: string, command: CommandUnknownOpts): string {
  const message = escapeControl(text.trim().replace(/^error: /, "").replace(/\n+/g, " "));
  const path: string[] = [];
  for (let c: CommandUnknownOpts | null = command; c; c = c.parent) path.unshift(c.name());
  return `${message[0]!.toUpperCase()}${message.slice(1)} (see "${path.join(" ")} --help")\n`;
}
