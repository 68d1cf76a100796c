/**
 * Help without the command line: `agent --help`, `agent COMMAND... --help` (or `-h`),
 * `agent help COMMAND...`, a group named alone (`agent analyze`) and `agent` alone print the
 * help from the table cli/_help_texts.ts, laid out for the terminal as the command line would
 * (cli/_help.ts). Building the command line imports commander, whose Node compatibility
 * modules are most of a command's start-up (bench/README.md, Start-up); the table is made from
 * the command line and tested against it, so the text is the same, byte for byte.
 *
 * Only these exact forms are answered here; anything else (another flag, a word that names no
 * command, a variable commander would read into an option) goes to the full command line.
 *
 * @module
 */
import { type HelpStyle, renderHelp, terminalStyle } from "./_help.ts";
import type { HelpTexts } from "./_help_table.ts";
import { HELP_TEXTS } from "./_help_texts.ts";

/** A command's name as typed: no flag, no space, no path. */
const WORD = /^[a-z][a-z0-9-]*$/;

/**
 * The path below the root (`""`, `"analyze core"`) of the command whose help `args` ask for,
 * when they are one of the forms answered without the command line, else `undefined`.
 */
export function helpPath(
  args: readonly string[],
  texts: HelpTexts = HELP_TEXTS,
): string | undefined {
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
  const path = words.join(" ");
  if (!Object.hasOwn(texts.commands, path)) return undefined;
  if (groupOnly && !hasSubcommands(path, texts)) return undefined;
  return path;
}

function hasSubcommands(path: string, texts: HelpTexts): boolean {
  return Object.keys(texts.commands).some((other) =>
    other !== path && (path === "" || other.startsWith(`${path} `))
  );
}

/**
 * The help `args` ask for, laid out in `style`, when it can be printed without the command
 * line (see {@linkcode helpPath}), else `undefined`. Never throws.
 *
 * @example Usage
 * ```ts
 * const text = earlyHelp(["score", "--help"]);
 * ```
 */
export function earlyHelp(
  args: readonly string[],
  style: () => HelpStyle = terminalStyle,
  texts: HelpTexts = HELP_TEXTS,
): string | undefined {
  const path = helpPath(args, texts);
  if (path === undefined) return undefined;
  try {
    if (texts.env.some((name) => Deno.env.get(name) !== undefined)) return undefined;
  } catch {
    return undefined;
  }
  return renderHelp(texts.commands[path]!, style());
}
