/**
 * Black-box tests of `agent analyze core` on real cores of crashing C programs.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
  withTempDir,
} from "./support/assert.ts";
import { analyzeJson, base, json, runAgent } from "./support/cli.ts";
import { crash, haveGcc, haveGdb, sampleCores, skipNotice } from "./support/cores.ts";
import type { CoreAnalysis } from "../lib/core/mod.ts";

const noGcc = skipNotice("gcc", haveGcc());
const noGdb = skipNotice("gdb", haveGdb());

Deno.test({
  name: "analyze core explains a null dereference (SIGSEGV)",
  ignore: noGcc || noGdb,
  fn: async () => {
    const { segv } = await sampleCores();
    const a = await analyzeJson([segv.core]);
    assertEquals(a.signal, {
      number: 11,
      name: "SIGSEGV",
      code: 1,
      description: "address not mapped",
      address: "0x0",
      senderPid: null,
    });
    assertEquals(a.machine, "x86_64");
    assertEquals(a.threadCount, 1);
    assertEquals(a.process.name, "segv");
    assertEquals(a.process.executable, segv.exe);
    assertEquals(a.crashReason, "SIGSEGV (address not mapped) at 0x0 in deref() at segv.c:5");
    assertEquals(a.stackTrace.map((f) => [f.function, base(f.file), f.line]), [
      ["deref", "segv.c", 5],
      ["main", "segv.c", 9],
    ]);
    assertEquals(a.stackTrace[1]!.library, segv.exe);
    assertEquals(a.gdb.used, true);
    assertEquals(a.warnings, []);
  },
});

Deno.test({
  name: "analyze core attributes abort() to its caller (SIGABRT)",
  ignore: noGcc || noGdb,
  fn: async () => {
    const { abort } = await sampleCores();
    const a = await analyzeJson([abort.core]);
    assertEquals([a.signal?.number, a.signal?.code, a.signal?.description], [
      6,
      -6,
      "sent by tkill",
    ]);
    assertEquals(a.signal?.address, null);
    assertEquals(a.abortMessage, null);
    assertEquals(a.crashReason, "SIGABRT (sent by tkill) in give_up() at abort.c:5");
    const giveUp = a.stackTrace.find((f) => f.function === "give_up");
    assertEquals([base(giveUp?.file), giveUp?.line], ["abort.c", 5]);
  },
});

Deno.test({
  name: "analyze core extracts a failed assertion's message (SIGABRT)",
  ignore: noGcc || noGdb,
  fn: async () => {
    const { assert: core } = await sampleCores();
    const a = await analyzeJson([core.core]);
    assertEquals(a.signal?.name, "SIGABRT");
    assertStringIncludes(
      a.abortMessage ?? "",
      'check_positive: Assertion `value > 0 && "value must be positive"\' failed.',
    );
    assertMatch(
      a.crashReason,
      /^SIGABRT \(sent by tkill\) in check_positive\(\) at assert\.c:5: .*Assertion/,
    );
  },
});

Deno.test({
  name: "analyze core explains an integer division by zero (SIGFPE)",
  ignore: noGcc || noGdb,
  fn: async () => {
    const { fpe } = await sampleCores();
    const a = await analyzeJson([fpe.core]);
    assertEquals([a.signal?.number, a.signal?.description], [8, "integer divide by zero"]);
    // For SIGFPE the kernel reports the faulting instruction, which is the crashing pc.
    assertEquals(a.signal?.address, a.threads[0]!.pc);
    assertMatch(
      a.crashReason,
      /^SIGFPE \(integer divide by zero\) at 0x[0-9a-f]+ in divide\(\) at fpe\.c:5$/,
    );
  },
});

Deno.test({
  name: "analyze core finds the crashing thread among four",
  ignore: noGcc || noGdb,
  fn: async () => {
    const { threads } = await sampleCores();
    const a = await analyzeJson([threads.core]);
    assertEquals(a.threadCount, 4);
    assertEquals(a.threads.filter((t) => t.crashing).length, 1);
    assert(a.crashingThread.tid !== a.process.pid, "a worker, not the main thread, crashed");
    assertEquals(a.stackTrace.slice(0, 3).map((f) => [f.function, base(f.file), f.line]), [
      ["write_value", "threads.c", 12],
      ["store_result", "threads.c", 16],
      ["faulting_worker", "threads.c", 21],
    ]);
    const main = a.threads.find((t) => t.tid === a.process.pid);
    assert(main?.frames.some((f) => f.function === "main"), "main thread's stack has main()");
    assertEquals(
      a.threads.filter((t) => t.frames.some((f) => f.function === "idle_worker")).length,
      2,
    );
    assertEquals(
      a.crashReason,
      "SIGSEGV (address not mapped) at 0x0 in write_value() at threads.c:12",
    );
  },
});

Deno.test({
  name: "analyze core parses a 42-frame recursive stack",
  ignore: noGcc || noGdb,
  fn: async () => {
    const { recursive } = await sampleCores();
    const a = await analyzeJson([recursive.core]);
    assertEquals(a.stackTrace.length, 42);
    assertEquals(a.stackTrace.filter((f) => f.function === "descend").length, 41);
    assertEquals([a.stackTrace[0]!.function, a.stackTrace[0]!.line], ["descend", 5]);
    assertEquals([a.stackTrace[41]!.function, a.stackTrace[41]!.line], ["main", 10]);
    assertEquals(a.stackTrace.map((f) => f.index), [...Array(42).keys()]);
  },
});

Deno.test({
  name: "analyze core --no-gdb returns the notes-only result",
  ignore: noGcc,
  fn: async () => {
    const { threads } = await sampleCores();
    const a = await analyzeJson([threads.core, "--no-gdb"]);
    assertEquals(a.gdb.used, false);
    assertEquals(a.threadCount, 4);
    assertEquals(a.signal?.name, "SIGSEGV");
    assertEquals(a.stackTrace.length, 1);
    assertEquals(a.stackTrace[0]!.address, a.threads[0]!.pc);
    assertEquals(a.stackTrace[0]!.library, threads.exe);
    assertMatch(
      a.crashReason,
      /^SIGSEGV \(address not mapped\) at 0x0, pc 0x[0-9a-f]+ in threads\+0x[0-9a-f]+$/,
    );
    assertEquals(a.warnings, []);
  },
});

Deno.test({
  name: "analyze core warns and falls back to notes when the executable is gone",
  ignore: noGcc || noGdb,
  fn: async () => {
    const { segv } = await sampleCores();
    await withTempDir(async (dir) => {
      await Deno.copyFile(segv.core, `${dir}/core`);
      const moved = `${dir}/segv-moved`;
      await Deno.rename(segv.exe, moved);
      try {
        const a = await analyzeJson([`${dir}/core`]);
        assertEquals(a.gdb.used, false);
        assertEquals(a.warnings, [
          `executable "${segv.exe}" is not on this host: pass --exe for a stack trace`,
        ]);
        const b = await analyzeJson([`${dir}/core`, "--exe", moved]);
        assertEquals(b.gdb.used, true);
        assertEquals(b.stackTrace[0]!.function, "deref");
      } finally {
        await Deno.rename(moved, segv.exe);
      }
    });
  },
});

Deno.test({
  name: "analyze core warns when gdb is missing",
  ignore: noGcc,
  fn: async () => {
    const { segv } = await sampleCores();
    const run = await runAgent(["analyze", "core", segv.core, "-o", "json"], {
      env: { AGENT_ANALYZER_GDB_PATH: "/nonexistent/gdb" },
    });
    assertEquals(run.code, 0, run.stderr);
    const a = json<CoreAnalysis>(run);
    assertEquals(a.gdb.used, false);
    assertEquals(a.warnings, ['gdb not found ("/nonexistent/gdb"): install gdb for a stack trace']);
    assertEquals(a.signal?.name, "SIGSEGV");
  },
});

Deno.test({
  name: "analyze core reads gzip and zstd cores and gives the same answer",
  ignore: noGcc || noGdb,
  fn: async () => {
    const { fpe } = await sampleCores();
    await withTempDir(async (dir) => {
      const plain = await analyzeJson([fpe.core]);
      for (const [tool, ext] of [["gzip", "gz"], ["zstd", "zst"]] as const) {
        const target = `${dir}/core.${ext}`;
        const out = await new Deno.Command("sh", {
          args: ["-c", `${tool} -c "$0" > "$1"`, fpe.core, target],
        }).output();
        if (!out.success) continue;
        const a = await analyzeJson([target, "--exe", fpe.exe]);
        assertEquals(a.compression, tool);
        assertEquals(a.coreBytes, plain.coreBytes);
        assertEquals(a.crashReason, plain.crashReason);
        assertEquals(a.stackTrace, plain.stackTrace);
        assertEquals(a.gdb.used, true);
      }
      const rest = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assertEquals(
        rest.filter((n) => !n.startsWith("core.")),
        [],
        "no decompressed copy left behind",
      );
    });
  },
});

Deno.test({
  name: "analyze core handles a file name with spaces, quotes, $(...) and ; (no shell)",
  ignore: noGcc || noGdb,
  fn: async () => {
    const { segv } = await sampleCores();
    await withTempDir(async (dir) => {
      const name = `-core 'x' "y" $(touch pwned); touch pwned; \`touch pwned\` 1234`;
      await Deno.copyFile(segv.core, `${dir}/${name}`);
      const run = await runAgent(["analyze", "core", "--exe", segv.exe, "-o", "json", "--", name], {
        cwd: dir,
      });
      assertEquals(run.code, 0, run.stderr);
      const a = json<CoreAnalysis>(run);
      assertEquals(a.file, name);
      assertEquals(a.gdb.used, true);
      assertEquals(a.stackTrace[0]!.function, "deref");
      assertEquals(await Deno.stat(`${dir}/pwned`).then(() => true, () => false), false);
    });
  },
});

Deno.test({
  name: "analyze core prints a readable text report",
  ignore: noGcc || noGdb,
  fn: async () => {
    const { threads } = await sampleCores();
    const run = await runAgent(["analyze", "core", threads.core]);
    assertEquals(run.code, 0, run.stderr);
    assertStringIncludes(
      run.stdout,
      "Crash     SIGSEGV (address not mapped) at 0x0 in write_value() at threads.c:12",
    );
    assertStringIncludes(run.stdout, "Threads   4 (crashing: LWP ");
    assertMatch(run.stdout, /#0 {2}0x[0-9a-f]+ in write_value \(p=0x0\) at .*threads\.c:12/);
    assertEquals(run.stderr, "");
  },
});

Deno.test({
  name: "analyze core checks a compressed core's completeness when it unpacks it for gdb",
  ignore: noGcc || noGdb,
  fn: async () => {
    const { segv } = await sampleCores();
    const { gzipSync } = await import("node:zlib");
    const bytes = await Deno.readFile(segv.core);
    await withTempDir(async (dir) => {
      await Deno.writeFile(`${dir}/whole.gz`, gzipSync(bytes));
      await Deno.writeFile(`${dir}/short.gz`, gzipSync(bytes.subarray(0, bytes.length - 8192)));
      const whole = await analyzeJson([`${dir}/whole.gz`, "--exe", segv.exe]);
      assertEquals(whole.warnings, []);
      const notesOnly = await analyzeJson([`${dir}/short.gz`, "--no-gdb"]);
      assertEquals(notesOnly.warnings, [
        "gzip-compressed core: only its notes were unpacked, completeness not verified",
      ]);
      const run = await runAgent(["analyze", "core", `${dir}/short.gz`, "--exe", segv.exe]);
      assertEquals(run.code, 2);
      assertEquals(
        run.stderr,
        `Cannot read core "${dir}/short.gz": truncated inside the data: ${
          bytes.length - 8192
        } of ${bytes.length} bytes present\n`,
      );
    });
  },
});

Deno.test({
  name: "analyze core gives two crashes of one bug the same fingerprint, another bug another",
  ignore: noGcc || noGdb,
  fn: async () => {
    const { segv, threads } = await sampleCores();
    await withTempDir(async (dir) => {
      const again = await crash("segv", dir);
      const [first, second, other] = await Promise.all([
        analyzeJson([segv.core]),
        analyzeJson([again.core]),
        analyzeJson([threads.core]),
      ]);
      assertEquals(first.fingerprint.basis, ["SIGSEGV", "deref", "main"]);
      assertEquals(second.fingerprint, first.fingerprint);
      assert(other.fingerprint.id !== first.fingerprint.id);
    });
  },
});
