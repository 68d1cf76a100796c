/**
 * Usage errors in the house form, one line each: commander's messages reworded, and the
 * command named on the command line checked before commander sees it, so that an unknown
 * command is an error even with `--help` (commander would print the parent's help and succeed).
 *
 * @module
 */
import type { CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { escapeControl } from "../lib/escape.ts";
import { commandPath } from "./_help.ts";

/** What the command line names, before commander parses it. */
export type Resolution =
  /** A runnable command, or a help request commander answers: parse as given; `command` is
   * the one the arguments name. */
  | { kind: "parse"; args: string[]; command: CommandUnknownOpts }
  /** A group named without a subcommand (`agent analyze`), or nothing at all: its help. */
  | { kind: "help"; command: CommandUnknownOpts }
  /** A command that does not exist: this one-line message, exit code 2. */
  | { kind: "unknown"; message: string };

function findOption(command: CommandUnknownOpts, arg: string): Option | undefined {
  const name = arg.split("=", 1)[0]!;
  for (let c: CommandUnknownOpts | null = command; c; c = c.parent) {
    const found = c.options.find((o) => o.long === name || o.short === name);
    if (found) return found;
  }
  return undefined;
}

/** Edit distance of two short words, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** The names of `command`'s subcommands closest to `typed` (at most 2 edits away). */
export function suggestions(typed: string, names: string[]): string[] {
  const scored = names.map((name) => [name, distance(typed, name)] as const)
    .filter(([name, d]) => d <= Math.min(2, Math.floor(name.length / 2)) || name.startsWith(typed));
  return scored.sort((a, b) => a[1] - b[1]).map(([name]) => name);
}

/**
 * The message for `typed`, which names none of the subcommands (`names`) of the command at
 * `path` (`agent analyze`).
 */
export function unknownCommandMessage(typed: string, path: string, names: string[]): string {
  const close = suggestions(typed, names);
  const hint = close.length > 0 ? `; did you mean "${close[0]}"?` : "";
  return `Unknown command ${JSON.stringify(escapeControl(typed))} for "${path}"${hint} ` +
    `(see "${path} --help")`;
}

function unknownCommand(typed: string, parent: CommandUnknownOpts): Resolution {
  const names = parent.commands.map((c) => c.name());
  return { kind: "unknown", message: unknownCommandMessage(typed, commandPath(parent), names) };
}

/**
 * Walks `args` down the command tree: options (and their values) are skipped, each operand
 * must name a subcommand while the current command has any. `help X Y` is `X Y --help`.
 */
export function resolveCommand(program: CommandUnknownOpts, args: string[]): Resolution {
  let command = program;
  let helpCommand = false;
  const path: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") break;
    if (arg.startsWith("-") && arg !== "-") {
      const option = findOption(command, arg);
      // A value in the next argument: `--config FILE`, not `--config=FILE` or a flag.
      if (option && (option.required || option.optional) && !arg.includes("=")) i++;
      continue;
    }
    if (command.commands.length === 0) break;
    if (arg === "help" && command === program && !helpCommand) {
      helpCommand = true;
      continue;
    }
    const next = command.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!next) return unknownCommand(arg, command);
    path.push(arg);
    command = next;
  }
  if (helpCommand) return { kind: "parse", args: [...path, "--help"], command };
  const asksHelp = args.slice(0, i).some((a) => a === "--help" || a === "-h");
  const asksVersion = command === program &&
    args.slice(0, i).some((a) => a === "--version" || a === "-V");
  if (command.commands.length > 0 && !asksHelp && !asksVersion) return { kind: "help", command };
  return { kind: "parse", args, command };
}

/** `'--exe <path>'` as `--exe`: the long flag alone, as users type it. */
function flagName(flags: string): string {
  return flags.split(/[ ,|]+/).find((part) => part.startsWith("--")) ?? flags.split(" ")[0]!;
}

function list(choices: string): string {
  const items = choices.split(/, */);
  return items.length > 1 ? `${items.slice(0, -1).join(", ")} or ${items.at(-1)}` : items[0]!;
}

/**
 * Rewords one of commander's error messages (`error: unknown option '--x'`) in the house form:
 * a capital first letter, values in double quotes, no final period.
 */
export function reword(text: string): string {
  const message = text.trim().replace(/^error: /, "").replace(/\s*\n\s*/g, " ");
  const rules: [RegExp, (...m: string[]) => string][] = [
    [
      /^unknown option '(.+?)'(?: \(Did you mean (.+?)\?\))?$/,
      (option, close) => `Unknown flag "${option}"${close ? `; did you mean "${close}"?` : ""}`,
    ],
    [
      /^missing required argument '(.+)'$/,
      (name) => `Missing argument ${name!.toUpperCase()}`,
    ],
    [
      /^required option '(.+)' not specified$/,
      (flags) => `Missing flag ${flagName(flags!)}`,
    ],
    [
      /^option '(.+)' argument missing$/,
      (flags) => `Flag ${flagName(flags!)} needs a value`,
    ],
    [
      /^option '(.+)' argument '(.*)' is invalid\. Allowed choices are (.+)\.$/,
      (flags, value, choices) =>
        `Invalid ${flagName(flags!)} "${value}": expected ${list(choices!)}`,
    ],
    [
      /^option '(.+)' argument '(.*)' is invalid\. (.+?)\.?$/,
      (flags, value, reason) => `Invalid ${flagName(flags!)} "${value}": ${reason}`,
    ],
    [
      /^command-argument value '(.*)' is invalid for argument '(.+)'\. Allowed choices are (.+)\.$/,
      (value, name, choices) =>
        `Invalid ${name!.toUpperCase()} "${value}": expected ${list(choices!)}`,
    ],
    [
      /^command-argument value '(.*)' is invalid for argument '(.+)'\. (.+?)\.?$/,
      (value, name, reason) => `Invalid ${name!.toUpperCase()} "${value}": ${reason}`,
    ],
    [
      /^too many arguments(?: for '.+')?\. Expected (\d+) arguments? but got \d+: (.*)\.$/,
      (expected, got) => {
        const extra = got!.split(", ").slice(Number(expected));
        const count = expected === "0"
          ? "no arguments"
          : `${expected} argument${expected === "1" ? "" : "s"}`;
        return `Unexpected argument${extra.length > 1 ? "s" : ""} ${
          extra.map((a) => JSON.stringify(a)).join(", ")
        }: expected ${count}`;
      },
    ],
  ];
  for (const [pattern, render] of rules) {
    const match = pattern.exec(message);
    if (match) return render(...match.slice(1));
  }
  const plain = message.replace(/'([^']*)'/g, '"$1"').replace(/\.$/, "");
  return plain[0]!.toUpperCase() + plain.slice(1);
}

/** Commander's error as one line for `command`, with the help to read. */
export function usageLine(text: string, command: CommandUnknownOpts): string {
  return `${escapeControl(reword(text))} (see "${commandPath(command)} --help")\n`;
}
