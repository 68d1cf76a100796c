/**
 * The tables of every command's help, made from the command line itself: cli/_help_tree.ts (the
 * commands' names, small, for every command line that may ask for help) and cli/_help_texts.ts
 * (their help, loaded only to print one). `deno task help-texts` writes them, and
 * tests/help_test.ts fails when they differ from the command line, so the help printed without
 * commander (cli/_help_early.ts) is always the command line's.
 *
 * @module
 */
import type { CommandUnknownOpts } from "@commander-js/extra-typings";
import { commandPath, type HelpModel, helpModel, prepareCommand } from "./_help.ts";

/** The command tree, without the help. */
export interface HelpTree {
  /** The root command's name. */
  name: string;
  /**
   * The variables commander reads into options before it prints help (`.env()`): a value it
   * rejects would make `--help` a usage error, so help is printed early only without them.
   */
  env: readonly string[];
  /** Every command's path below the root (`""`, `"analyze core"`), in the command line's order. */
  paths: readonly string[];
}

/** Every command's help by its path below the root. */
export type HelpTexts = Readonly<Record<string, HelpModel>>;

function everyCommand(command: CommandUnknownOpts): CommandUnknownOpts[] {
  return [command, ...command.commands.flatMap(everyCommand)];
}

/** The tree and the help of `program`, with every command's late parts filled. */
export async function helpTables(
  program: CommandUnknownOpts,
): Promise<{ tree: HelpTree; texts: HelpTexts }> {
  const commands = everyCommand(program);
  for (const command of commands) await prepareCommand(command);
  const prefix = commandPath(program).length + 1;
  const env = new Set<string>();
  for (const command of commands) {
    for (const option of command.options) if (option.envVar) env.add(option.envVar);
  }
  const paths = commands.map((c) => commandPath(c).slice(prefix));
  return {
    tree: { name: program.name(), env: [...env].sort(), paths },
    texts: Object.fromEntries(commands.map((c, i) => [paths[i]!, helpModel(c)])),
  };
}

const HEADER = [
  "// deno-fmt-ignore-file\n",
  "/**\n",
  " * Made from the command line by `deno task help-texts` (scripts/help_texts.ts): do not edit.\n",
  " * tests/help_test.ts fails when it differs from the command line.\n",
  " *\n",
  " * @module\n",
  " */\n",
].join("");

/** Where the generated files take their types from. */
const TYPES = "./_help_table.ts";

/** The source of cli/_help_tree.ts holding `tree`. */
export function helpTreeSource(tree: HelpTree): string {
  return HEADER + `import type { HelpTree } from "${TYPES}";\n\n` +
    "/** The commands cli/_help_early.ts answers for. */\n" +
    `export const HELP_TREE: HelpTree = ${JSON.stringify(tree, null, 2)};\n`;
}

/** The source of cli/_help_texts.ts holding `texts`. */
export function helpTextsSource(texts: HelpTexts): string {
  const entries = Object.entries(texts).map(([path, model]) =>
    `  ${JSON.stringify(path)}: ${JSON.stringify(model)},\n`
  );
  return HEADER + `import type { HelpTexts } from "${TYPES}";\n\n` +
    "/** The help cli/_help_early.ts prints. */\n" +
    `export const HELP_TEXTS: HelpTexts = {\n${entries.join("")}};\n`;
}
