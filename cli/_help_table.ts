/**
 * The table of every command's help (cli/_help_texts.ts), made from the command line itself:
 * `deno task help-texts` writes it, and tests/help_test.ts fails when it differs from what the
 * command line would print, so the help printed without commander (cli/_help_early.ts) is
 * always the command line's.
 *
 * @module
 */
import type { CommandUnknownOpts } from "@commander-js/extra-typings";
import { commandPath, type HelpModel, helpModel, prepareCommand } from "./_help.ts";

/** Every command's help by its path below the root (`""`, `"analyze core"`), and more. */
export interface HelpTexts {
  /** The root command's name. */
  name: string;
  /**
   * The variables commander reads into options before it prints help (`.env()`): a value it
   * rejects would make `--help` a usage error, so help is printed early only without them.
   */
  env: readonly string[];
  commands: Readonly<Record<string, HelpModel>>;
}

function everyCommand(command: CommandUnknownOpts): CommandUnknownOpts[] {
  return [command, ...command.commands.flatMap(everyCommand)];
}

/** The help table of `program`, with every command's late parts filled. */
export async function helpTexts(program: CommandUnknownOpts): Promise<HelpTexts> {
  const commands = everyCommand(program);
  for (const command of commands) await prepareCommand(command);
  const prefix = commandPath(program).length + 1;
  const env = new Set<string>();
  for (const command of commands) {
    for (const option of command.options) if (option.envVar) env.add(option.envVar);
  }
  return {
    name: program.name(),
    env: [...env].sort(),
    commands: Object.fromEntries(
      commands.map((c) => [commandPath(c).slice(prefix), helpModel(c)]),
    ),
  };
}

/** The source of cli/_help_texts.ts holding `texts`. */
export function helpTextsSource(texts: HelpTexts): string {
  const entries = Object.entries(texts.commands).map(([path, model]) =>
    `    ${JSON.stringify(path)}: ${JSON.stringify(model)},\n`
  );
  return [
    "// deno-fmt-ignore-file\n",
    "/**\n",
    " * Every command's help, made from the command line by `deno task help-texts` (scripts/\n",
    " * help_texts.ts): do not edit. tests/help_test.ts fails when it differs from the command\n",
    " * line's help.\n",
    " *\n",
    " * @module\n",
    " */\n",
    'import type { HelpTexts } from "./_help_table.ts";\n',
    "\n",
    "/** The table cli/_help_early.ts prints help from. */\n",
    "export const HELP_TEXTS: HelpTexts = {\n",
    `  name: ${JSON.stringify(texts.name)},\n`,
    `  env: ${JSON.stringify(texts.env)},\n`,
    "  commands: {\n",
    ...entries,
    "  },\n",
    "};\n",
  ].join("");
}
