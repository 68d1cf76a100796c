/**
 * A core is written by the crashed process: its name, command line and file paths may hold
 * terminal escape sequences and newlines. Text output and log lines must show them escaped
 * (no byte of them acts on the terminal); JSON output must keep them exact.
 */
import { assert, assertEquals, assertStringIncludes, withTempDir } from "./support/assert.ts";
import { json, runAgent } from "./support/cli.ts";
import { auxv, fileNote, minimalCore, NT, prpsinfo, prstatus, siginfo } from "./support/elf.ts";
import type { CoreAnalysis } from "../lib/core/mod.ts";

/** Clears the screen, homes the cursor and fakes a line of output. */
const EVIL_PATH = "/tmp/\x1b[2J\x1b[Hevil\nFAKE: all good";
const EVIL_NAME = "na\x1bme\n";
const EVIL_ARGS = "cmd \x1b]0;title\x07 \u009b2J --flag";

function hostileCore(): Uint8Array {
  return minimalCore([
    { type: NT.PRSTATUS, desc: prstatus(42, 11, 0x401000n, 0x7ffc0000n) },
    { type: NT.PRPSINFO, desc: prpsinfo(42, EVIL_NAME, EVIL_ARGS) },
    { type: NT.SIGINFO, desc: siginfo(11, 1, 0n) },
    { type: NT.AUXV, desc: auxv([[3, 0x400040n]]) },
    { type: NT.FILE, desc: fileNote([{ start: 0x400000n, end: 0x402000n, path: EVIL_PATH }]) },
  ]);
}

/** Anything but a newline that a terminal would act on. */
// deno-lint-ignore no-control-regex -- finding control characters is the point
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

function assertNoRawControl(text: string, what: string): void {
  assert(!RAW_CONTROL.test(text), `${what} holds a raw control character:\n${text}`);
  for (const line of text.split("\n")) {
    assert(!line.startsWith("FAKE"), `${what} starts a line with the core's text:\n${text}`);
  }
}

async function withHostileCore(fn: (core: string) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/core`, hostileCore());
    await fn(`${dir}/core`);
  });
}

Deno.test("analyze core escapes the core's control characters in text and keeps them in JSON", () =>
  withHostileCore(async (core) => {
    const text = await runAgent(["analyze", "core", core, "--no-gdb"]);
    assertEquals(text.code, 0, text.stderr);
    assertNoRawControl(text.stdout, "stdout");
    assertStringIncludes(text.stdout, "Process   na\\x1bme\\n (pid 42)\n");
    assertStringIncludes(text.stdout, "Command   cmd \\x1b]0;title\\x07 \\x9b2J --flag\n");
    assertStringIncludes(text.stdout, "Exe       /tmp/\\x1b[2J\\x1b[Hevil\\nFAKE: all good\n");
    const asJson = await runAgent(["analyze", "core", core, "--no-gdb", "-o", "json"]);
    assertEquals(asJson.code, 0, asJson.stderr);
    assertNoRawControl(asJson.stdout, "JSON");
    const a = json<CoreAnalysis>(asJson);
    assertEquals(
      [a.process.name, a.process.commandLine, a.process.executable],
      [EVIL_NAME, EVIL_ARGS, EVIL_PATH],
    );
    assertEquals(a.mappedFiles[0]?.path, EVIL_PATH);
  }));

Deno.test("analyze core with gdb enabled escapes the warning naming the core's executable", () =>
  withHostileCore(async (core) => {
    const run = await runAgent(["analyze", "core", core]);
    assertEquals(run.code, 0, run.stderr);
    assertNoRawControl(run.stdout, "stdout");
    assertStringIncludes(
      run.stdout,
      '  - executable "/tmp/\\x1b[2J\\x1b[Hevil\\nFAKE: all good" is not on this host',
    );
  }));

Deno.test("score escapes the crash reason in its table and the warnings in its text log", () =>
  withHostileCore(async (core) => {
    // --wide: the whole crash reason, not cut to fit 120 columns.
    const run = await runAgent(["--log-level", "debug", "score", core, "--wide"]);
    assertEquals(run.code, 0, run.stderr);
    assertNoRawControl(run.stdout, "stdout");
    assertNoRawControl(run.stderr, "stderr");
    assertStringIncludes(run.stdout, "in \\x1b[2J\\x1b[Hevil\\nFAKE: all good+0x1000");
    assertStringIncludes(run.stderr, 'debug: executable "/tmp/\\x1b[2J\\x1b[Hevil\\nFAKE');
    const asJson = await runAgent(["--log-level", "debug", "--log-format", "json", "score", core]);
    assertNoRawControl(asJson.stderr, "JSON log");
    const lines = asJson.stderr.trim().split("\n").map((l) => JSON.parse(l) as { msg: string });
    assertStringIncludes(lines[0]!.msg, EVIL_PATH);
  }));
