/**
 * The command line: the root command with its global options and every subcommand.
 * Parsing and rendering only; the work is done in `lib/`.
 *
 * @module
 */
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { VERSION } from "../lib/version.ts";
import { type CliContext, createContext } from "./_context.ts";
import { aiCommand } from "./ai.ts";
import { examples, helpConfiguration, type HelpStyle, terminalStyle } from "./_help.ts";
import { usageLine } from "./_usage.ts";
import { analyzeCommand } from "./analyze.ts";
import { anomalyCommand } from "./anomaly.ts";
import { collectCommand } from "./collect.ts";
import { daemonCommand } from "./daemon.ts";
import { discoverCommand } from "./discover.ts";
import { graphCommand } from "./graph.ts";
import { optionsCommand } from "./options.ts";
import { pruneCommand } from "./prune.ts";
import { scoreCommand } from "./score.ts";
import { statsCommand } from "./stats.ts";
import { uninstallCommand } from "./uninstall.ts";
import { versionCommand } from "./version.ts";

export type { CliContext, HelpStyle };
export { resolveCommand } from "./_usage.ts";
export { prepareCommand } from "./_help.ts";
export { helpTables, helpTextsSource, helpTreeSource } from "./_help_table.ts";

/** Writes commander's own messages (help, usage errors). */
export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
  /** The help's width and colour; default: stdout's terminal (see {@linkcode terminalStyle}). */
  style?: () => HelpStyle;
}

/**
 * Builds the `agent` command. Commander's usage errors are thrown (not exited) so that
 * `main.ts` maps them to exit code 2.
 */
export function buildCli(output: CliOutput): { program: CommandUnknownOpts; context: CliContext } {
  const style = output.style ?? terminalStyle;
  const program = examples(
    new Command("agent")
      .description(
        "Crash forensics and node metrics for Kubernetes nodes: explain and score coredumps, " +
          "tie them to pods and keep the valuable ones; find Milvus instances and their " +
          "crashes; serve Kata sandbox metrics like kata-monitor.\n\n" +
          "Exit codes: 0 ok, 1 a finding you asked to fail on, 2 usage error or invalid input, " +
          "3 a dependency is unavailable.",
      )
      .version(VERSION, "-V, --version", "print the version")
      .addOption(new Option("--config <file>", "YAML configuration file").env("AGENT_CONFIG"))
      // Settings: the configuration loader reads their environment variables and checks their
      // values (logLevel, logFormat), as for every other key.
      .option(
        "--log-level <level>",
        "debug, info, warn or error (default: logLevel, info; env: AGENT_LOG_LEVEL, RUST_LOG)",
      )
      .option(
        "--log-format <format>",
        "text or json (default: logFormat, text; env: AGENT_LOG_FORMAT)",
      ),
    ["Explain a coredump", "agent analyze core ./core.1234"],
    [
      "Fail a CI job when a sample core is not worth keeping",
      "agent score cores/*.core --fail-under 7",
    ],
    ["List this node's Kata sandboxes with their pods", "agent discover sandboxes"],
  );
  const context = createContext(() => program.opts());
  program.addCommand(analyzeCommand(context));
  program.addCommand(scoreCommand(context));
  program.addCommand(discoverCommand(context));
  program.addCommand(collectCommand(context));
  program.addCommand(pruneCommand(context));
  program.addCommand(uninstallCommand(context));
  program.addCommand(graphCommand(context));
  program.addCommand(statsCommand(context));
  program.addCommand(aiCommand(context));
  program.addCommand(anomalyCommand());
  program.addCommand(daemonCommand(context));
  program.addCommand(optionsCommand(program, style));
  program.addCommand(versionCommand());
  const configure = (command: CommandUnknownOpts) => {
    command.exitOverride()
      .helpOption("-h, --help", "print the help of a command")
      .helpCommand(false)
      .configureHelp(helpConfiguration(style))
      .configureOutput({
        writeOut: output.out,
        writeErr: output.err,
        getOutHasColors: () => style().color,
        getErrHasColors: () => false,
        outputError: (text, write) => write(usageLine(text, command)),
      });
    for (const sub of command.commands) configure(sub);
  };
  configure(program);
  return { program, context };
}
