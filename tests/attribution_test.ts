/**
 * Which frame a crash is attributed to, on the cores production makes: stripped binaries,
 * aborts inside glibc (a double free), calls through a null function pointer, uncaught C++
 * exceptions. The crash reason, the fingerprint and the score all start from the first frame
 * of the program, named `module+0xoffset` when it has no symbol.
 */
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { analyzeJson } from "./support/cli.ts";
import {
  type Crash,
  crash,
  haveCommand,
  haveGcc,
  haveGdb,
  sampleCores,
  skipNotice,
} from "./support/cores.ts";
import { runAgent } from "./support/cli.ts";

const skip = skipNotice("gcc", haveGcc()) || skipNotice("gdb", haveGdb()) ||
  skipNotice("g++", haveCommand("g++"));

let made: Promise<Record<string, Crash>> | undefined;

/** The cores of this file, made once: three of the stripped program (bug a twice, bug b). */
function cores(): Promise<Record<string, Crash>> {
  made ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "agent-attribution-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    const list = await Promise.all([
      crash("stripped", dir, ["a"], undefined, { strip: true, dir: "stripped-a" }),
      crash("stripped", dir, ["a"], undefined, { strip: true, dir: "stripped-a2" }),
      crash("stripped", dir, ["b"], undefined, { strip: true, dir: "stripped-b" }),
      crash("doublefree", dir),
      crash("nullcall", dir),
      crash("cppthrow", dir),
    ]);
    const names = ["strippedA", "strippedA2", "strippedB", "doublefree", "nullcall", "cppthrow"];
    return Object.fromEntries(list.map((c, i) => [names[i]!, c]));
  })();
  return made;
}

Deno.test({
  name: "analyze core names a stripped program's crash frame module+offset, with gdb or not",
  ignore: skip,
  fn: async () => {
    const { strippedA } = await cores();
    const [withGdb, notesOnly] = await Promise.all([
      analyzeJson([strippedA!.core]),
      analyzeJson([strippedA!.core, "--no-gdb"]),
    ]);
    assertEquals(withGdb.gdb.used, true);
    const top = withGdb.stackTrace[0]!;
    assertEquals([top.function, top.library], [undefined, strippedA!.exe]);
    assertEquals(BigInt(top.address!), BigInt(notesOnly.stackTrace[0]!.address!));
    assertEquals(top.offset, notesOnly.stackTrace[0]!.offset);
    const reason = new RegExp(
      `^SIGSEGV \\(address not mapped\\) at 0x8, pc 0x[0-9a-f]+ in stripped\\+${top.offset}$`,
    );
    assertMatch(withGdb.crashReason, reason);
    assertMatch(notesOnly.crashReason, reason);
    // The worker's own frames come first; the thread start in libc is not the crash.
    assertEquals(withGdb.fingerprint.basis.slice(0, 3), [
      "SIGSEGV",
      `stripped+${top.offset}`,
      `stripped+${withGdb.stackTrace[1]!.offset}`,
    ]);
  },
});

Deno.test({
  name: "analyze core gives two stripped crashes of one bug one fingerprint, another bug another",
  ignore: skip,
  fn: async () => {
    const { strippedA, strippedA2, strippedB } = await cores();
    const [a, again, b] = await Promise.all([
      analyzeJson([strippedA!.core]),
      analyzeJson([strippedA2!.core]),
      analyzeJson([strippedB!.core]),
    ]);
    assertEquals(again.fingerprint, a.fingerprint);
    assert(
      a.fingerprint.id !== b.fingerprint.id,
      `${a.fingerprint.basis} vs ${b.fingerprint.basis}`,
    );
    assert(b.fingerprint.basis[1]!.startsWith("stripped+0x"), b.fingerprint.basis.join(","));
  },
});

Deno.test({
  name: "analyze core attributes a double free to the program's caller of free(), not to glibc",
  ignore: skip,
  fn: async () => {
    const { doublefree } = await cores();
    const a = await analyzeJson([doublefree!.core]);
    assertEquals(a.abortMessage, "free(): double free detected in tcache 2");
    assertEquals(
      a.crashReason,
      "SIGABRT (sent by tkill) in release() at doublefree.c:6: free(): double free detected in tcache 2",
    );
    assertEquals(a.fingerprint.basis.slice(0, 4), ["SIGABRT", "release", "release_twice", "main"]);
  },
});

Deno.test({
  name: "analyze core attributes a call through a null function pointer to its caller",
  ignore: skip,
  fn: async () => {
    const { nullcall } = await cores();
    const [withGdb, notesOnly] = await Promise.all([
      analyzeJson([nullcall!.core]),
      analyzeJson([nullcall!.core, "--no-gdb"]),
    ]);
    assertEquals(withGdb.threads[0]!.pc, "0x0");
    assertEquals(
      withGdb.crashReason,
      "SIGSEGV (address not mapped) at 0x0 in dispatch() at nullcall.c:9",
    );
    assertEquals(
      withGdb.fingerprint.basis,
      ["SIGSEGV", "dispatch", "main"].concat(
        withGdb.fingerprint.basis.slice(3),
      ),
    );
    // Without gdb, the return address the call left on the stack names the caller.
    const caller = withGdb.stackTrace[1]!;
    assertEquals(notesOnly.stackTrace.map((f) => f.offset), [undefined, caller.offset]);
    assertMatch(
      notesOnly.crashReason,
      new RegExp(
        `^SIGSEGV \\(address not mapped\\) at 0x0, pc 0x[0-9a-f]+ in nullcall\\+${caller.offset}$`,
      ),
    );
  },
});

Deno.test({
  name: "analyze core attributes an uncaught C++ exception to the function that threw",
  ignore: skip,
  fn: async () => {
    const { cppthrow } = await cores();
    const a = await analyzeJson([cppthrow!.core]);
    assertEquals(a.crashReason, "SIGABRT (sent by tkill) in load_segment() at cppthrow.cpp:6");
    assertEquals(a.fingerprint.basis.slice(0, 3), ["SIGABRT", "load_segment", "main"]);
    // libstdc++'s frames (some without symbols) are named by module and offset, not "undefined".
    const unnamed = a.stackTrace.filter((f) => !f.function);
    assert(unnamed.every((f) => f.library && f.offset), JSON.stringify(unnamed));
  },
});

Deno.test({
  name: "analyze core shows each other thread's first frame of the program",
  ignore: skip,
  fn: async () => {
    const { threads } = await sampleCores();
    const run = await runAgent(["analyze", "core", threads.core]);
    assertEquals(run.code, 0, run.stderr);
    const others = run.stdout.split("Other threads")[1]!.split("\n\n")[0]!.split("\n").slice(1);
    assertEquals(others.length, 3, run.stdout);
    assertEquals(
      others.filter((l) => /^ {2}LWP \d+: main\(\) at threads\.c:30$/.test(l)).length,
      1,
    );
    assertEquals(
      others.filter((l) => /^ {2}LWP \d+: idle_worker\(\) at threads\.c:7$/.test(l)).length,
      2,
      run.stdout,
    );
  },
});
