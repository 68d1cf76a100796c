/**
 * `agent version [-o text|json]`.
 *
 * @module
 */
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { VERSION } from "../lib/version.ts";
import { print, renderJson } from "./output.ts";

/** Builds the `version` command. */
export function versionCommand(): CommandUnknownOpts {
  return new Command("version")
    .description("Print the agent's version and the runtime it runs on")
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
}
