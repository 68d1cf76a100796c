/**
 * gdb misbehaving: hanging (with a child holding its pipes), flooding its output, failing.
 * The analysis must come back in bounded time and memory with the notes-only facts and a
 * warning. The misbehaving gdb is a small shell script standing in for the real one.
 */
import { assertEquals, assertStringIncludes, withTempDir } from "./support/assert.ts";
import { json, runAgent } from "./support/cli.ts";
import { haveGcc, haveGdb, sampleCores, skipNotice } from "./support/cores.ts";
import type { CoreAnalysis } from "../lib/core/mod.ts";

const noGcc = skipNotice("gcc", haveGcc());
const noGdb = skipNotice("gdb", haveGdb());

async function analyzeWithGdb(
  script: string,
  env: Record<string, string> = {},
): Promise<CoreAnalysis> {
  const { segv } = await sampleCores();
  return await withTempDir(async (dir) => {
    const gdb = `${dir}/gdb`;
    await Deno.writeTextFile(gdb, `#!/bin/sh\n${script}\n`, { mode: 0o755 });
    const started = performance.now();
    const run = await runAgent(["analyze", "core", segv.core, "-o", "json"], {
      env: { AGENT_ANALYZER_GDB_PATH: gdb, ...env },
      timeoutMs: 30_000,
    });
    assertEquals(run.code, 0, run.stderr);
    const a = json<CoreAnalysis>(run);
    a.gdb.durationMs = Math.round(performance.now() - started);
    return a;
  });
}

Deno.test({
  name: "a hanging gdb is killed at analyzer.gdbTimeout and the notes still come back",
  ignore: noGcc,
  fn: async () => {
    // The sleeping child keeps gdb's pipes open after gdb itself is killed.
    const a = await analyzeWithGdb("sleep 60 &\nsleep 60", { AGENT_ANALYZER_GDB_TIMEOUT: "500ms" });
    assertEquals(a.gdb.timedOut, true);
    assertEquals(a.warnings, [
      "gdb timed out after 500 ms: partial result",
    ]);
    assertEquals(a.signal?.name, "SIGSEGV");
    assertEquals(a.gdb.durationMs! < 10_000, true, `took ${a.gdb.durationMs} ms`);
  },
});

Deno.test({
  name: "an analyzer.gdbTimeout of 30d lets gdb finish (setTimeout would fire it at once)",
  ignore: noGcc || noGdb,
  fn: async () => {
    const { segv } = await sampleCores();
    const run = await runAgent(["analyze", "core", segv.core, "-o", "json"], {
      env: { AGENT_ANALYZER_GDB_TIMEOUT: "30d" },
    });
    assertEquals(run.code, 0, run.stderr);
    const a = json<CoreAnalysis>(run);
    assertEquals([a.gdb.used, a.gdb.timedOut, a.warnings], [true, false, []]);
    assertEquals(a.stackTrace[0]?.function, "deref");
  },
});

Deno.test({
  name: "gdb output beyond analyzer.gdbMaxOutput is dropped",
  ignore: noGcc,
  fn: async () => {
    const a = await analyzeWithGdb("head -c 50000000 /dev/zero | tr '\\0' x", {
      AGENT_ANALYZER_GDB_MAX_OUTPUT: "64KiB",
    });
    assertEquals(a.gdb.truncated, true);
    assertEquals(a.warnings, ["gdb output cut at 65536 bytes", "gdb printed no backtrace"]);
    assertEquals(a.threadCount, 1);
  },
});

Deno.test({
  name: "a failing gdb's first error line becomes the warning",
  ignore: noGcc,
  fn: async () => {
    const a = await analyzeWithGdb(
      'echo "/tmp/core: not in executable format: file format not recognized" >&2\nexit 1',
    );
    assertEquals(a.gdb.used, true);
    assertEquals(a.warnings, [
      "gdb printed no backtrace: /tmp/core: not in executable format: file format not recognized",
    ]);
    assertEquals(a.crashReason.startsWith("SIGSEGV (address not mapped) at 0x0, pc 0x"), true);
  },
});

Deno.test("analyze core refuses a FIFO without blocking on it", async () => {
  await withTempDir(async (dir) => {
    const fifo = `${dir}/core`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    if (!made.success) return;
    const run = await runAgent(["analyze", "core", fifo], { timeoutMs: 20_000 });
    assertEquals(run.code, 2);
    assertStringIncludes(run.stderr, `Cannot read core "${fifo}": not a regular file`);
  });
});
