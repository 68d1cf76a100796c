// deno-fmt-ignore-file
/**
 * Made from the command line by `deno task help-texts` (scripts/help_texts.ts): do not edit.
 * tests/help_test.ts fails when it differs from the command line.
 *
 * @module
 */
import type { HelpTree } from "./_help_table.ts";

/** The commands cli/_help_early.ts answers for. */
export const HELP_TREE: HelpTree = {
  "name": "agent",
  "env": [
    "AGENT_CONFIG"
  ],
  "paths": [
    "",
    "analyze",
    "analyze core",
    "score",
    "discover",
    "collect",
    "prune",
    "uninstall",
    "graph",
    "stats",
    "ai",
    "ai usage",
    "anomaly",
    "anomaly score",
    "daemon",
    "options",
    "version"
  ]
};
