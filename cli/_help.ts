/**
 * Help in kubectl's shape: the description, then examples with `# comments`, the subcommands,
 * arguments and the command's own flags, the usage line, and a pointer to the global options
 * (`agent options`). Text is wrapped at the terminal's width (80 columns when stdout is no
 * terminal) without leaving a word alone on a line; headings are bold only on a terminal
 * without `NO_COLOR`.
 *
 * Descriptions are written as paragraphs: single line breaks in the source are joined, a blank
 * line starts a new paragraph, and a line starting with `- ` is a list item.
 *
 * @module
 */
import type { Argument, CommandUnknownOpts, Help, Option } from "@commander-js/extra-typings";

/** One example of a command: what it does (printed as a `#` comment) and the command line. */
export type Example = readonly [comment: string, commandLine: string];

const EXAMPLES = new WeakMap<CommandUnknownOpts, readonly Example[]>();

/**
 * Attaches examples to `command`; its help prints them first, each under its comment.
 *
 * @example Usage
 * ```ts ignore
 * examples(new Command("score"), ["Score every core here", "agent score core.*"]);
 * ```
 */
export function examples<C extends CommandUnknownOpts>(command: C, ...list: Example[]): C {
  EXAMPLES.set(command, list);
  return command;
}

/** The examples attached to `command` with {@linkcode examples}. */
export function examplesOf(command: CommandUnknownOpts): readonly Example[] {
  return EXAMPLES.get(command) ?? [];
}

const LATE = new WeakMap<CommandUnknownOpts, () => Promise<void>>();

/**
 * Declares the parts of `command` that come from modules too heavy to load with every command
 * (the choices of an argument, a help section listing the node collectors): `fill` sets them,
 * and runs only when {@linkcode prepareCommand} is called for this command, before it is
 * parsed or its help printed.
 *
 * @example Usage
 * ```ts ignore
 * lateParts(command, async () => {
 *   const { NAMES } = await import("../lib/x/mod.ts");
 *   command.registeredArguments[0]!.choices(NAMES);
 * });
 * ```
 */
export function lateParts<C extends CommandUnknownOpts>(command: C, fill: () => Promise<void>): C {
  LATE.set(command, fill);
  return command;
}

/** Fills the late parts (see {@linkcode lateParts}) of `command` and of its parents, once. */
export async function prepareCommand(command: CommandUnknownOpts): Promise<void> {
  for (let c: CommandUnknownOpts | null = command; c; c = c.parent) {
    const fill = LATE.get(c);
    LATE.delete(c);
    await fill?.();
  }
}

/** A section of a command's help beyond the usual ones: a list of terms and descriptions. */
export type HelpSection = readonly [title: string, items: readonly (readonly [string, string])[]];

const SECTIONS = new WeakMap<CommandUnknownOpts, readonly HelpSection[]>();

/**
 * Adds sections to `command`'s help, printed after its flags like them (terms and wrapped
 * descriptions); `title` is the heading, without its colon.
 */
export function helpSections<C extends CommandUnknownOpts>(
  command: C,
  ...sections: HelpSection[]
): C {
  SECTIONS.set(command, sections);
  return command;
}

/** How help is laid out: the width to wrap at and whether headings may be bold. */
export interface HelpStyle {
  width: number;
  color: boolean;
}

/** Narrowest and widest text the help wraps to, whatever the terminal says. */
const MIN_WIDTH = 40;
const MAX_WIDTH = 120;

/**
 * The style for stdout: its terminal's width (80 columns when it is no terminal) and bold
 * headings only on a terminal and without `NO_COLOR` (https://no-color.org).
 */
export function terminalStyle(): HelpStyle {
  let width = 80;
  let terminal = false;
  try {
    terminal = Deno.stdout.isTerminal();
    if (terminal) width = Deno.consoleSize().columns;
  } catch {
    // No terminal after all (closed stdout, a pipe): the defaults.
  }
  let noColor = false;
  try {
    noColor = (Deno.env.get("NO_COLOR") ?? "") !== "";
  } catch {
    noColor = true;
  }
  return { width: Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, width)), color: terminal && !noColor };
}

/**
 * Wraps `text` to `width` columns: paragraphs (separated by a blank line) are filled, `- `
 * lines are list items with a hanging indent, and a line's last word never stands alone when
 * the line before can give it company.
 */
export function wrap(text: string, width: number, indent = ""): string {
  const out: string[] = [];
  for (const paragraph of text.trim().split(/\n\s*\n/)) {
    if (out.length > 0) out.push("");
    const items = paragraph.split(/\n(?=\s*- )/);
    for (const item of items) {
      const words = item.replace(/\s+/g, " ").trim().split(" ");
      const hanging = words[0] === "-" ? "  " : "";
      out.push(...fill(words, width - indent.length, hanging).map((line) => indent + line));
    }
  }
  return out.join("\n");
}

/** The longest word that counts as an orphan alone on a last line. */
const ORPHAN = 12;

/** Fills `words` into lines of at most `width` (hanging indent from the second line on). */
function fill(split: string[], width: number, hanging = ""): string[] {
  // A label stays with its value: "env: AGENT_CONFIG", "(default: text".
  const words: string[] = [];
  for (const word of split) {
    const previous = words.at(-1);
    if (previous !== undefined && /^\(?[a-z]+:$/.test(previous)) {
      words[words.length - 1] += ` ${word}`;
    } else words.push(word);
  }
  const lines: string[][] = [[]];
  let length = 0;
  for (const word of words) {
    const line = lines.at(-1)!;
    const prefix = lines.length > 1 ? hanging.length : 0;
    if (line.length > 0 && prefix + length + 1 + word.length > width) {
      lines.push([word]);
      length = word.length;
    } else {
      length += (line.length > 0 ? 1 : 0) + word.length;
      line.push(word);
    }
  }
  // No orphan: a last line of one short word takes the previous line's last word along, when
  // that still fits and leaves the previous line with two words or more.
  const last = lines.at(-1)!;
  const previous = lines.at(-2);
  if (previous && last.length === 1 && last[0]!.length <= ORPHAN && previous.length > 2) {
    const moved = previous.at(-1)!;
    if (hanging.length + moved.length + 1 + last[0]!.length <= width) {
      previous.pop();
      last.unshift(moved);
    }
  }
  return lines.map((line, i) => (i > 0 ? hanging : "") + line.join(" "));
}

/** A two-column list: terms padded to the longest (at most `maxTerm`), descriptions wrapped. */
function itemList(
  items: readonly (readonly [term: string, description: string])[],
  width: number,
): string[] {
  // Terms longer than this get a line of their own and do not widen the column.
  const maxTerm = 32;
  const termWidth = Math.max(
    0,
    ...items.map(([term]) => term.length).filter((length) => length <= maxTerm),
  );
  const out: string[] = [];
  for (const [term, description] of items) {
    const column = 2 + termWidth + 3;
    const text = fill(description.split(/\s+/).filter(Boolean), Math.max(20, width - column));
    if (term.length > termWidth) {
      out.push(`  ${term}`);
      out.push(...text.map((line) => " ".repeat(column) + line));
    } else {
      out.push(`  ${term.padEnd(termWidth)}   ${text[0] ?? ""}`.trimEnd());
      out.push(...text.slice(1).map((line) => " ".repeat(column) + line));
    }
  }
  return out;
}

/** `<file>` as `FILE`, `[n]` as `[N]`: placeholders the way kubectl and man pages write them. */
function placeholder(text: string): string {
  return text.replace(/<([^>]+)>/g, (_, name: string) => name.toUpperCase())
    .replace(/\[([^\]]+)\]/g, (_, name: string) => `[${name.toUpperCase()}]`);
}

/** A default value as the help shows it: quoted when it has spaces. */
function shown(value: unknown): string {
  const text = String(value);
  return /\s/.test(text) ? JSON.stringify(text) : text;
}

/** `-o, --output FORMAT`. */
export function optionTerm(option: Option): string {
  return placeholder(option.flags);
}

/** An option's description with its choices, default and environment variable. */
export function optionDescription(option: Option): string {
  const extra: string[] = [];
  if (option.argChoices) extra.push(`one of: ${option.argChoices.join(", ")}`);
  if ((option.required || option.optional) && option.defaultValue !== undefined) {
    extra.push(`default: ${option.defaultValueDescription ?? shown(option.defaultValue)}`);
  }
  if (option.envVar) extra.push(`env: ${option.envVar}`);
  return extra.length > 0 ? `${option.description} (${extra.join("; ")})` : option.description;
}

function argumentTerm(argument: Argument): string {
  const name = argument.name().toUpperCase() + (argument.variadic ? "..." : "");
  return argument.required ? name : `[${name}]`;
}

function argumentDescription(argument: Argument): string {
  const extra: string[] = [];
  if (argument.argChoices) extra.push(`one of: ${argument.argChoices.join(", ")}`);
  if (argument.defaultValue !== undefined) {
    extra.push(`default: ${argument.defaultValueDescription ?? shown(argument.defaultValue)}`);
  }
  return extra.length > 0 ? `${argument.description} (${extra.join("; ")})` : argument.description;
}

/** `agent analyze core`: the names from the root down. */
export function commandPath(command: CommandUnknownOpts): string {
  const names: string[] = [];
  for (let c: CommandUnknownOpts | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** The commands a user can run under `command`: its leaves, each by its path below it. */
export function runnableCommands(command: CommandUnknownOpts): CommandUnknownOpts[] {
  return command.commands.flatMap((sub) => sub.commands.length > 0 ? runnableCommands(sub) : [sub]);
}

/** Whether `option` is the help or version flag, which `agent options` lists. */
function isGlobalFlag(option: Option): boolean {
  return option.long === "--help" || option.long === "--version";
}

/** The usage line: `agent score [flags] CORE...`. */
function usage(command: CommandUnknownOpts): string {
  const parts = [commandPath(command)];
  if (command.commands.length > 0) parts.push("COMMAND");
  if (command.parent && command.options.some((o) => !o.hidden && !isGlobalFlag(o))) {
    parts.push("[flags]");
  }
  parts.push(...command.registeredArguments.map(argumentTerm), "[options]");
  return parts.join(" ");
}

/** The line every help ends with. */
export function optionsPointer(command: CommandUnknownOpts): string {
  let root = command;
  while (root.parent) root = root.parent;
  return `Use "${root.name()} options" for a list of global command-line options (applies to all commands).`;
}

/**
 * A command's help before it is laid out: every part that comes from the command, none that
 * depends on the terminal. {@linkcode renderHelp} lays it out at any width, so that a table of
 * these (cli/_help_texts.ts) prints the same help as the command line, without commander.
 */
export interface HelpModel {
  /** The description, as written (paragraphs, list items). */
  description: string;
  examples: readonly Example[];
  /** Commands, Arguments, Flags and the command's own sections, those that have items. */
  sections: readonly HelpSection[];
  /** The usage line, without its heading. */
  usage: string;
  /** The closing lines, each wrapped alone. */
  footer: readonly string[];
}

/** The help of `command`, before it is laid out (see {@linkcode renderHelp}). */
export function helpModel(command: CommandUnknownOpts): HelpModel {
  const sections: HelpSection[] = [];
  const subcommands = runnableCommands(command).filter((c) =>
    !(c as { _hidden?: boolean })._hidden
  );
  if (subcommands.length > 0) {
    const prefix = commandPath(command).length + 1;
    sections.push([
      "Commands",
      subcommands.map((c) => [commandPath(c).slice(prefix), c.summary() || c.description()]),
    ]);
  }
  if (command.registeredArguments.length > 0) {
    sections.push([
      "Arguments",
      command.registeredArguments.map((a) => [argumentTerm(a), argumentDescription(a)]),
    ]);
  }
  // The root's options are the global ones: `agent options` lists them, as `kubectl options`.
  const options = command.parent
    ? command.options.filter((o) => !o.hidden && !isGlobalFlag(o))
    : [];
  if (options.length > 0) {
    sections.push(["Flags", options.map((o) => [optionTerm(o), optionDescription(o)])]);
  }
  sections.push(...(SECTIONS.get(command) ?? []));
  const footer: string[] = [];
  if (command.commands.length > 0) {
    footer.push(
      `Use "${commandPath(command)} COMMAND --help" for more information about a command.`,
    );
  }
  footer.push(optionsPointer(command));
  return {
    description: command.description() || command.summary(),
    examples: examplesOf(command),
    sections,
    usage: usage(command),
    footer,
  };
}

/** Lays out the help `model` in `style`. */
export function renderHelp(model: HelpModel, style: HelpStyle): string {
  const width = style.width;
  const title = (text: string) => style.color ? `\x1b[1m${text}\x1b[22m` : text;
  const sections: string[] = [];
  if (model.description) sections.push(wrap(model.description, width));
  if (model.examples.length > 0) {
    sections.push(
      [
        title("Examples:"),
        model.examples.map(([comment, line]) => `${wrap(comment, width, "  # ")}\n  ${line}`)
          .join("\n\n"),
      ].join("\n"),
    );
  }
  for (const [heading, items] of model.sections) {
    sections.push([title(`${heading}:`), ...itemList(items, width)].join("\n"));
  }
  sections.push(`${title("Usage:")}\n  ${model.usage}`);
  sections.push(model.footer.map((line) => wrap(line, width)).join("\n"));
  return sections.join("\n\n") + "\n";
}

/** Renders the help of `command` in `style`. */
export function formatHelp(command: CommandUnknownOpts, style: HelpStyle): string {
  return renderHelp(helpModel(command), style);
}

/** The `configureHelp` settings that make commander print {@linkcode formatHelp}. */
export function helpConfiguration(style: () => HelpStyle): Partial<Help> {
  return {
    formatHelp: (command) => formatHelp(command as CommandUnknownOpts, style()),
  };
}

/** What `agent options` prints: the root's options, which every command takes. */
export function formatGlobalOptions(program: CommandUnknownOpts, style: HelpStyle): string {
  // The version flag last, after the help flag every command has.
  const options = program.options.filter((o) => !o.hidden && o.long !== "--version");
  const version = program.options.filter((o) => o.long === "--version");
  const items: [string, string][] = [
    ...options.map((o): [string, string] => [optionTerm(o), optionDescription(o)]),
    ["-h, --help", "print the help of a command"],
    ...version.map((o): [string, string] => [optionTerm(o), optionDescription(o)]),
  ];
  return [
    "The following options can be passed to any command:",
    "",
    ...itemList(items, style.width),
    "",
    wrap(
      "A flag overrides its environment variable, which overrides the --config file, which " +
        "overrides the defaults.",
      style.width,
    ),
  ].join("\n") + "\n";
}
