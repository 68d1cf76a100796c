/**
 * `agent version [-o text|json]`.
 *
 * @module
 */
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { examples } from "./_help.ts";
import { renderVersion } from "./fast.ts";
import { print } from "./output.ts";

/** Builds the `version` command. */
export function versionCommand(): CommandUnknownOpts {
  const command = new Command("version")
    .summary("Print the agent's version and the runtime it runs on")
    .description(
      "Print the agent's version and the runtime it runs on: Deno, V8 and the build target.",
    )
    .addOption(
      new Option("-o, --output <format>", "output format").choices(["text", "json"] as const)
        .default("text"),
    )
    .action(async (options) => {
      await print(renderVersion(options.output));
    });
  return examples(
    command,
    ["Print the version", "agent version"],
    ["The version and runtime as JSON, for scripts", "agent version -o json"],
  );
}
