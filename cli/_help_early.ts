/**
 * Help without the command line: `agent --help`, `agent COMMAND... --help` (or `-h`),
 * `agent help COMMAND...`, a group named alone (`agent analyze`) and `agent` alone print the
 * help from the table cli/_help_texts.ts, laid out for the terminal as the command line would
 * (cli/_help.ts); the same forms naming a command that does not exist print the command
 * line's one-line error. Building the command line imports commander, whose Node
 * compatibility modules are most of a command's start-up (bench/README.md, Start-up); the
 * tables are made from the command line and tested against it, so the text is the same, byte
 * for byte. The help table loads only to print a help: other command lines of plain words
 * (`agent daemon`) are told apart with the small cli/_help_tree.ts.
 *
 * Only these exact forms are answered here; anything else (another flag, an argument that is
 * no plain word, a variable commander would read into an option) goes to the full command
 * line.
 *
 * @module
 */
import { type HelpStyle, renderHelp, terminalStyle } from "./_help.ts";
import type { HelpTexts, HelpTree } from "./_help_table.ts";
import { HELP_TREE } from "./_help_tree.ts";
import { later } from "./_later.ts";
import { unknownCommandMessage } from "./_usage.ts";

/** A command's name as typed: no flag, no space, no path. */
const WORD = /^[a-z][a-z0-9-]*$/;

/** What `args` ask for: the help of the command at `path` (`""`, `"analyze core"`), or an error. */
export type HelpRequest = { path: string } | { unknown: string };

/** The names of the subcommands of the command at `path`, in the command line's order. */
function subcommands(path: string, tree: HelpTree): string[] {
  const prefix = path === "" ? "" : `${path} `;
  return tree.paths
    .filter((other) => other !== path && other.startsWith(prefix))
    .map((other) => other.slice(prefix.length))
    .filter((rest) => !rest.includes(" "));
}

/**
 * What `args` ask for when they are one of the forms answered without the command line, else
 * `undefined`.
 */
export function helpRequest(
  args: readonly string[],
  tree: HelpTree = HELP_TREE,
): HelpRequest | undefined {
  const last = args.at(-1);
  let words: readonly string[];
  let groupOnly = false;
  if (args[0] === "help") words = args.slice(1);
  else if (last === "--help" || last === "-h") words = args.slice(0, -1);
  else {
    // A command with subcommands named without one prints its help.
    words = args;
    groupOnly = true;
  }
  if (!words.every((word) => WORD.test(word))) return undefined;
  let path = "";
  for (const word of words) {
    const names = subcommands(path, tree);
    // Words after a command without subcommands are its arguments: the command line's to judge.
    if (names.length === 0) return undefined;
    if (!names.includes(word)) {
      const full = path === "" ? tree.name : `${tree.name} ${path}`;
      return { unknown: unknownCommandMessage(word, full, names) };
    }
    path = path === "" ? word : `${path} ${word}`;
  }
  if (groupOnly && subcommands(path, tree).length === 0) return undefined;
  return { path };
}

/** What {@linkcode earlyHelp} prints: help on stdout (exit code 0) or an error on stderr (2). */
export type EarlyHelp = { help: string } | { error: string };

/**
 * The help or the error `args` ask for, laid out in `style`, when it can be printed without
 * the command line (see {@linkcode helpRequest}), else `undefined`. Throws only if the help
 * table cannot be loaded.
 *
 * @example Usage
 * ```ts
 * const answer = await earlyHelp(["score", "--help"]);
 * ```
 */
export async function earlyHelp(
  args: readonly string[],
  style: () => HelpStyle = terminalStyle,
  tree: HelpTree = HELP_TREE,
): Promise<EarlyHelp | undefined> {
  const request = helpRequest(args, tree);
  if (request === undefined) return undefined;
  if ("unknown" in request) return { error: request.unknown };
  try {
    if (tree.env.some((name) => Deno.env.get(name) !== undefined)) return undefined;
  } catch {
    return undefined;
  }
  const texts: HelpTexts =
    (await later<typeof import("./_help_texts.ts")>("./_help_texts.ts")).HELP_TEXTS;
  return { help: renderHelp(texts[request.path]!, style()) };
}
