/**
 * Go programs (Milvus is one): the Go runtime turns a fault into a panic and aborts, so
 * the core's own signal is SIGABRT. The analysis must still name the original fault, the
 * panic message and the Go (or cgo C) function that crashed.
 */
import { assertEquals } from "./support/assert.ts";
import { analyzeJson, base, json, runAgent } from "./support/cli.ts";
import {
  type Crash,
  crash,
  goToolchains,
  haveGcc,
  haveGdb,
  haveGo,
  skipNotice,
} from "./support/cores.ts";

const skip = skipNotice("go", haveGo()) || skipNotice("gdb", haveGdb()) ||
  skipNotice("gcc", haveGcc());

// Every Go toolchain here (the one on PATH and Debian's): the runtime's data layout and
// how far gdb unwinds differ between versions, and the analysis must read them all.
const toolchains = skip ? [{ go: "go", version: "go" }] : goToolchains();

for (const { go, version } of toolchains) {
  let made: Promise<Record<string, Crash>> | undefined;
  defineTests(version, () =>
    made ??= (async () => {
      const dir = await Deno.makeTempDir({ prefix: "agent-go-cores-" });
      globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
      const cores = await Promise.all(
        ["gonil", "gopanic", "gocgo", "gothrow"].map((name) => crash(name, dir, [], go)),
      );
      return Object.fromEntries(cores.map((c) => [c.name, c]));
    })());
}

function defineTests(version: string, goCores: () => Promise<Record<string, Crash>>): void {
  Deno.test({
    name: `analyze core names the fault behind a Go nil-pointer panic (${version})`,
    ignore: skip,
    fn: async () => {
      const { gonil } = await goCores();
      const a = await analyzeJson([gonil!.core]);
      assertEquals(a.signal?.name, "SIGABRT");
      assertEquals(a.go?.signal?.name, "SIGSEGV");
      assertEquals(a.go?.signal?.address, "0x8");
      assertEquals(
        a.go?.panicMessage,
        "runtime error: invalid memory address or nil pointer dereference",
      );
      const pc = BigInt(a.go?.signal?.pc ?? -1);
      const fault = a.stackTrace.find((f) => f.address !== undefined && BigInt(f.address) === pc);
      // Before Go 1.21 gdb cannot unwind the thread through the runtime's signal trampoline,
      // so the goroutine's frames tell the fault, in main.main where Search is inlined; from
      // 1.21 the thread's own frames reach it and name the inlined method.
      const expected = a.stackTraceOf === "goroutine"
        ? ["goroutine", "main.main", "runtime.goexit"]
        : ["thread", "main.(*Segment).Search", "main.main"];
      assertEquals(
        [a.stackTraceOf, fault?.function, a.stackTrace.at(-1)?.function],
        expected,
      );
      assertEquals([base(fault?.file), fault?.line], ["gonil.go", 10]);
      assertEquals(
        a.crashReason,
        `SIGSEGV (address not mapped) at 0x8 in ${expected[1]}() at gonil.go:10: ` +
          "panic: runtime error: invalid memory address or nil pointer dereference",
      );
    },
  });

  Deno.test({
    name: `analyze core reads a Go panic's message and the goroutine's stack (${version})`,
    ignore: skip,
    fn: async () => {
      const { gopanic } = await goCores();
      const a = await analyzeJson([gopanic!.core]);
      assertEquals(a.go?.signal, null);
      assertEquals(a.go?.panicMessage, "querynode: segment 42 is corrupt");
      assertEquals(
        a.crashReason,
        "SIGABRT (sent by tkill) in main.check() at gopanic.go:6: panic: querynode: segment 42 is corrupt",
      );
      const own = a.stackTrace.filter((f) => f.function?.startsWith("main."));
      assertEquals(own.map((f) => [f.function, f.line]), [
        ["main.check", 6],
        ["main.check", 8],
        ["main.check", 8],
        ["main.check", 8],
        ["main.main", 12],
      ]);
    },
  });

  Deno.test({
    name: `analyze core finds a C fault under cgo (${version})`,
    ignore: skip,
    fn: async () => {
      const { gocgo } = await goCores();
      const a = await analyzeJson([gocgo!.core]);
      assertEquals(a.go?.signal?.name, "SIGSEGV");
      assertEquals(a.stackTraceOf, "thread");
      assertEquals(
        a.crashReason,
        "SIGSEGV (address not mapped) at 0xc in segcore_search() at gocgo.go:7",
      );
    },
  });

  Deno.test({
    name:
      `analyze core reads the fatal error the Go runtime threw: concurrent map writes (${version})`,
    ignore: skip,
    fn: async () => {
      const { gothrow } = await goCores();
      const a = await analyzeJson([gothrow!.core]);
      assertEquals([a.go?.signal, a.go?.panicMessage], [null, null]);
      assertEquals(a.go?.fatalError, "concurrent map writes");
      assertEquals(a.stackTraceOf, "goroutine");
      // The runtime's map code that detected it is not the crash: the program's writer is.
      assertEquals(
        a.crashReason,
        "SIGABRT (sent by tkill) in main.writer() at gothrow.go:9: fatal error: concurrent map writes",
      );
      assertEquals(a.fingerprint.basis.slice(0, 2), ["SIGABRT", "main.writer"]);
      const text = await runAgent(["analyze", "core", gothrow!.core]);
      assertEquals(text.stdout.includes("\nFatal     concurrent map writes\n"), true, text.stdout);
    },
  });

  Deno.test({
    name: `score values a Go crash like a C one (${version})`,
    ignore: skip,
    fn: async () => {
      const { gonil } = await goCores();
      const [result] = json<{ breakdown: { rule: string }[]; score: number }[]>(
        await runAgent(["score", gonil!.core, "-o", "json"]),
      );
      assertEquals(result!.breakdown.map((b) => b.rule), [
        "base",
        "crashReason",
        "panicKeywords",
        "stackTrace",
        "multipleThreads",
        "fatalSignal",
        "recentCrash",
      ]);
      assertEquals(result!.score, 10);
    },
  });
}
