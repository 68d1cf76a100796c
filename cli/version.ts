/**
 * `agent version [-o text|json]`.
 *
 * @module
 */
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { VERSION } from "../lib/version.ts";
import { examples } from "./_help.ts";
import { print, renderJson } from "./output.ts";

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
      const info = {
        version: VERSION,
        deno: Deno.version.deno,
        v8: Deno.version.v8,
        target: Deno.build.target,
      };
      await print(
        options.output === "json"
          ? renderJson(info)
          : `agent ${info.version} (deno ${info.deno}, v8 ${info.v8}, ${info.target})`,
      );
    });
  return examples(
    command,
    ["Print the version", "agent version"],
    ["The version and runtime as JSON, for scripts", "agent version -o json"],
  );
}
