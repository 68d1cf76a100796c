/**
 * The help of every command, snapshotted: `tests/testdata/help/<command path>.txt` holds what
 * `agent COMMAND --help` prints at 80 columns without colour. A changed or new command fails
 * here until its snapshot is written again with `deno task snapshots` (then read the diff).
 * Also: every command has examples with comments, and colour only ever reaches a terminal.
 */
import type { CommandUnknownOpts } from "@commander-js/extra-typings";
import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { agentArgs, DENO_DIR, runAgent } from "./support/cli.ts";
import { haveCommand } from "./support/cores.ts";
import { buildCli } from "../cli/mod.ts";
import { commandPath, examplesOf, prepareCommand } from "../cli/_help.ts";

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
