/**
 * `agent version [-o text|json]`.
 *
 * @module
 */
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { renderVersion } from "./fast.ts";
import { print } from "./output.ts";

/** Builds the `version` command. */
export function versionCommand(): CommandUnknownOpts {
  return new Command("version")
    .description("Print the agent's version and the runtime it runs on")
    .addOption(
      new Option("-o, --output <format>", "output format").choices(["text", "json"] as const)
        .default("text"),
    )
    .action(async (options) => {
      await print(renderVersion(options.output));
    });
}
