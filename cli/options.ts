/**
 * `agent options`: the global options, which every command takes (kubectl's `options`).
 *
 * @module
 */
import { Command, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { examples, formatGlobalOptions, type HelpStyle } from "./_help.ts";
import { print } from "./output.ts";

/** Builds the `options` command, which lists the options of `program`. */
export function optionsCommand(
  program: CommandUnknownOpts,
  style: () => HelpStyle,
): CommandUnknownOpts {
  return examples(
    new Command("options")
      .summary("Print the global options, which every command takes")
      .description(
        "Print the global options, which every command takes, before or after its name.",
      )
      .action(async () => await print(formatGlobalOptions(program, style()))),
    ["List the global options", "agent options"],
  );
}
