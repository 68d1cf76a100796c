import { assertEquals } from "../../tests/support/assert.ts";
import type { CoreAnalysis } from "../core/mod.ts";
import { crashContext } from "./context.ts";

/** An analysis with secrets wherever a core can carry them. */
function analysis(): CoreAnalysis {
  const frames = [
    { index: 0, function: "raise", library: "/lib/x86_64-linux-gnu/libc.so.6", offset: "0x3c0" },
    {
      index: 1,
      function: "handle",
      args: 'token=0x5555 "SECRET-ARG"',
      file: "/src/canary.c",
      line: 18,
      address: "0x000055555555519a",
      library: "/srv/bin/querynode",
      offset: "0x119a",
    },
    { index: 2, function: "main", file: "/src/canary.c", line: 26 },
  ];
  return {
    file: "/var/crash/core.1",
    sizeBytes: 1,
    coreBytes: 1,
    compression: "none",
    machine: "x86_64",
    modifiedAt: null,
    signal: {
      number: 6,
      name: "SIGABRT",
      code: -6,
      description: "sent by tkill",
      address: null,
      senderPid: null,
    },
    process: {
      pid: 7,
      name: "querynode",
      commandLine: "/srv/bin/querynode --password=SECRET-CMDLINE",
      executable: "/srv/bin/querynode",
    },
    threadCount: 2,
    crashReason: "SIGABRT (sent by tkill) in handle() at canary.c:18",
    crashingThread: { tid: 7, gdbThread: 1 },
    stackTrace: frames,
    stackTraceOf: "thread",
    abortMessage: "canary.c:18: handle: Assertion `ok' failed.",
    threads: [
      { tid: 7, gdbThread: 1, name: null, crashing: true, pc: "0x1", sp: "0x2", frames },
      {
        tid: 8,
        gdbThread: 2,
        name: "flusher",
        crashing: false,
        pc: "0x3",
        sp: "0x4",
        frames: [{
          index: 0,
          function: "flush",
          args: 'key="SECRET-THREAD"',
          file: "f.c",
          line: 3,
        }],
      },
    ],
    mappedFiles: [{ start: "0x0", end: "0x1", offset: "0x0", path: "/secret/mount/SECRET-MAP" }],
    sharedLibraries: [],
    registers: { rdi: "0x5345435245542d52" },
    go: null,
    fingerprint: { id: "ab12", basis: ["SIGABRT", "handle", "main"] },
    buildIds: [],
    gdb: { used: true, durationMs: 1, timedOut: false, truncated: false },
    warnings: [],
  };
}

Deno.test("crashContext() keeps the crash's facts and none of the process's secrets", () => {
  const context = crashContext(analysis(), {
    occurrences: 4,
    instance: "prod",
    kind: "operator",
    container: "querynode",
    image: "milvusdb/milvus:v2.5.1",
    restarts: [{ at: "2026-11-22T00:00:00Z", exitCode: 134, signal: 6, reason: "Error" }],
  });
  const text = JSON.stringify(context);
  for (
    const secret of [
      "SECRET-ARG",
      "SECRET-CMDLINE",
      "SECRET-THREAD",
      "SECRET-MAP",
      "5345435245542d52",
    ]
  ) {
    assertEquals(text.includes(secret), false, secret);
  }
  assertEquals(context.program, "querynode");
  assertEquals(context.frames[1], {
    function: "handle",
    file: "/src/canary.c",
    line: 18,
    module: "querynode",
    offset: "0x119a",
  });
  // The crash is attributed past the abort machinery.
  assertEquals(context.crashFrame, 1);
  assertEquals(context.otherThreads, [{ name: "flusher", at: "flush() at f.c:3" }]);
  assertEquals(context.message, "canary.c:18: handle: Assertion `ok' failed.");
  assertEquals(context.group, {
    fingerprint: "ab12",
    basis: ["SIGABRT", "handle", "main"],
    occurrences: 4,
  });
  assertEquals(context.instance, {
    name: "prod",
    kind: "operator",
    container: "querynode",
    image: "milvusdb/milvus:v2.5.1",
  });
});

Deno.test("crashContext() cuts long texts and many frames to its bounds", () => {
  const a = analysis();
  a.abortMessage = "x".repeat(10_000);
  a.stackTrace = Array.from({ length: 1000 }, (_, i) => ({ index: i, function: "f".repeat(1000) }));
  const context = crashContext(a);
  assertEquals(context.frames.length, 200);
  assertEquals(context.frames[0]!.function!.length, 300);
  assertEquals(context.message!.length, 2000);
});
