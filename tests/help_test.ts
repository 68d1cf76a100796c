/**
 * The help of every command, snapshotted: `tests/testdata/help/<command path>.txt` holds what
 * `agent COMMAND --help` prints at 80 columns without colour. A changed or new command fails
 * here until its snapshot is written again with `deno task snapshots` (then read the diff).
 * Also: every command has examples with comments, colour only ever reaches a terminal, and the
 * help printed without commander (cli/_help_early.ts, from the table cli/_help_texts.ts) is
 * what the command line prints.
 */
import { CommanderError, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { agentArgs, DENO_DIR, runAgent } from "./support/cli.ts";
import { haveCommand } from "./support/cores.ts";
import { buildCli, type HelpStyle, resolveCommand } from "../cli/mod.ts";
import { commandPath, examplesOf, prepareCommand } from "../cli/_help.ts";
import { earlyHelp, helpRequest } from "../cli/_help_early.ts";
import { helpTables } from "../cli/_help_table.ts";
import { HELP_TEXTS } from "../cli/_help_texts.ts";
import { HELP_TREE } from "../cli/_help_tree.ts";

const DIR = new URL("./testdata/help/", import.meta.url);
const UPDATE = Deno.args.includes("--update");
const { program } = buildCli({
  out: () => {},
  err: () => {},
  style: () => ({ width: 80, color: false }),
});

function everyCommand(command: CommandUnknownOpts): CommandUnknownOpts[] {
  return [command, ...command.commands.flatMap(everyCommand)];
}

const commands = everyCommand(program);
// As the CLI does for the command it runs or helps.
for (const command of commands) await prepareCommand(command);
const fileOf = (command: CommandUnknownOpts) => `${commandPath(command).replaceAll(" ", "_")}.txt`;

Deno.test("the --help of every command matches its snapshot (deno task snapshots writes them)", async () => {
  const expected = new Set(commands.map(fileOf));
  const problems: string[] = [];
  for (const command of commands) {
    const file = new URL(fileOf(command), DIR);
    const help = command.helpInformation();
    if (UPDATE) {
      await Deno.writeTextFile(file, help);
      continue;
    }
    const snapshot = await Deno.readTextFile(file).catch(() => undefined);
    if (snapshot === undefined) problems.push(`${fileOf(command)}: no snapshot`);
    else if (snapshot !== help) problems.push(`${fileOf(command)}: differs:\n${help}`);
  }
  for await (const entry of Deno.readDir(DIR)) {
    if (expected.has(entry.name)) continue;
    if (UPDATE) await Deno.remove(new URL(entry.name, DIR));
    else problems.push(`${entry.name}: a snapshot of no command`);
  }
  assertEquals(problems, [], "run `deno task snapshots` and review the diff");
});

Deno.test("every command has examples, each with its comment, and help fits 80 columns", () => {
  for (const command of commands) {
    const path = commandPath(command);
    const list = examplesOf(command);
    assert(list.length > 0, `${path} has no examples`);
    for (const [comment, line] of list) {
      assert(/^[A-Z]/.test(comment) && !comment.endsWith("."), `${path}: comment "${comment}"`);
      assert(/^([A-Z_]+=\S+ )*agent /.test(line), `${path}: example "${line}"`);
    }
    const help = command.helpInformation();
    for (const line of help.split("\n")) {
      // Example command lines are printed whole, to be copied.
      if (line.startsWith("  agent ") || /^ {2}[A-Z_]+=/.test(line)) continue;
      assert(line.length <= 80, `${path}: a line of ${line.length} columns: ${line}`);
    }
    assertStringIncludes(help, 'Use "agent options" for a list of global command-line options');
  }
});

Deno.test("help has no colour through a pipe, nor on a terminal with NO_COLOR", async () => {
  const piped = await runAgent(["--help"], { env: { NO_COLOR: "" } });
  assertEquals(piped.code, 0);
  assert(!piped.stdout.includes("\x1b"), "escape codes in piped help");
  if (!haveCommand("script")) return;
  // `script` gives the agent a terminal; its output comes back through the pipe here.
  const line = [Deno.execPath(), ...agentArgs(["--help"])].map((a) => `'${a}'`).join(" ");
  const onTerminal = async (noColor: string) => {
    const out = await new Deno.Command("script", {
      args: ["-qec", line, "/dev/null"],
      env: { NO_COLOR: noColor, DENO_DIR },
      stdin: "null",
    }).output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  };
  const plain = await onTerminal("1");
  assertEquals(plain.code, 0, plain.stderr);
  assertStringIncludes(plain.stdout, "Examples:");
  assert(!plain.stdout.includes("\x1b["), "escape codes on a terminal with NO_COLOR");
  const bold = await onTerminal("");
  assertStringIncludes(bold.stdout, "\x1b[1mExamples:\x1b[22m");
});

Deno.test("cli/_help_tree.ts and cli/_help_texts.ts are the command line's (deno task help-texts writes them)", async () => {
  const { tree, texts } = await helpTables(program);
  assertEquals(HELP_TREE, tree, "run `deno task help-texts`");
  assertEquals(HELP_TEXTS, texts, "run `deno task help-texts`");
});

/**
 * What the full command line (main.ts) answers `args` with: the help it prints on stdout (exit
 * code 0), or its error about an unknown command (exit code 2); -1 when it runs a command.
 */
async function commandLine(
  args: string[],
  style: HelpStyle,
): Promise<{ help: string } | { error: string } | -1> {
  let out = "";
  const { program } = buildCli({
    out: (text) => out += text,
    err: () => {},
    style: () => style,
  });
  const resolved = resolveCommand(program, args);
  if (resolved.kind === "unknown") return { error: resolved.message };
  await prepareCommand(resolved.command);
  if (resolved.kind === "help") return { help: resolved.command.helpInformation() };
  try {
    await program.parseAsync(resolved.args, { from: "user" });
    return -1;
  } catch (error) {
    if (!(error instanceof CommanderError) || error.exitCode !== 0) throw error;
    return { help: out };
  }
}

Deno.test("help printed without commander is the command line's, at any width and in colour", async () => {
  const forms: string[][] = [];
  for (const command of commands) {
    const words = commandPath(command).split(" ").slice(1);
    forms.push([...words, "--help"], [...words, "-h"], ["help", ...words]);
    if (command.commands.length > 0) forms.push(words, [...words, "nope"]);
  }
  forms.push(["nope", "--help"], ["help", "scor"], ["analyze", "cor", "-h"], ["help", "help"]);
  forms.push(["analyze", "help"], ["analyze", "nope", "extra"], ["ai", "usag", "--help"]);
  forms.push(["constructor", "--help"], ["analyze", "constructor"]);
  const styles = [
    { width: 80, color: false },
    { width: 40, color: true },
    { width: 57, color: false },
    { width: 120, color: true },
  ];
  for (const args of forms) {
    assert(helpRequest(args) !== undefined, `not answered early: ${args.join(" ")}`);
    for (const style of styles) {
      const early = await earlyHelp(args, () => style);
      assertEquals(
        early,
        await commandLine(args, style),
        `${args.join(" ")} at ${style.width}`,
      );
    }
  }
});

Deno.test("helpRequest() leaves every other command line to commander", async () => {
  for (
    const args of [
      ["--config", "agent.yaml", "--help"],
      ["--log-level", "debug"],
      ["analyze", "core"],
      ["score"],
      ["score", "nope"],
      ["stats", "cpu", "--help"],
      ["Nope"],
      ["help", "--help"],
      ["help", "analyze", "core", "extra"],
      ["", "--help"],
      ["analyze core", "--help"],
      ["score", "--fail-under", "7", "--help"],
      ["--help", "score"],
      ["-V"],
    ]
  ) assertEquals(helpRequest(args), undefined, args.join(" "));
  // A variable commander reads into an option could make --help a usage error.
  assertEquals(await earlyHelp(["--help"], undefined, { ...HELP_TREE, env: ["PATH"] }), undefined);
});

Deno.test("agent COMMAND --help prints its snapshot with exit code 0 and loads no npm package", async () => {
  for (const command of commands) {
    const args = [...commandPath(command).split(" ").slice(1), "--help"];
    const run = await runAgent(args);
    assertEquals([run.code, run.stderr], [0, ""], args.join(" "));
    assertEquals(run.stdout, await Deno.readTextFile(new URL(fileOf(command), DIR)));
  }
  // The modules main.ts loads for help, and the help table they load (later()).
  for (const file of ["../cli/_help_early.ts", "../cli/_help_texts.ts"]) {
    assertEquals(await runtimeImports(new URL(file, import.meta.url).pathname), [], file);
  }
});

/** The modules `file` loads that are no file of this project (npm, node, remote). */
async function runtimeImports(file: string): Promise<string[]> {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", file],
    env: { DENO_DIR, NO_COLOR: "1" },
  }).output();
  assert(info.success, new TextDecoder().decode(info.stderr));
  // What loads at run time: the code dependencies, not the type-only imports.
  const graph = JSON.parse(new TextDecoder().decode(info.stdout)) as {
    roots: string[];
    modules: { specifier: string; dependencies?: { code?: { specifier: string } }[] }[];
  };
  const modules = new Map(graph.modules.map((m) => [m.specifier, m]));
  const loaded = new Set(graph.roots);
  for (const specifier of loaded) {
    for (const dependency of modules.get(specifier)?.dependencies ?? []) {
      if (dependency.code) loaded.add(dependency.code.specifier);
    }
  }
  return [...loaded].filter((s) => !s.startsWith("file:"));
}
