import { assertEquals } from "../../tests/support/assert.ts";
import { configSchema, DEFAULTS } from "../config/mod.ts";
import type { CoreAnalysis } from "./analyze.ts";
import { liftingRule, scoreCore, type ScoreOptions, stackTraceText } from "./score.ts";

const config = configSchema.parse(DEFAULTS);
const NOW = new Date("2026-11-22T12:00:00Z");

function options(overrides: Partial<ScoreOptions> = {}): ScoreOptions {
  return {
    scoring: config.analyzer.scoring,
    panicKeywords: config.analyzer.panicKeywords,
    fatalSignals: config.analyzer.fatalSignals,
    threshold: 7,
    now: NOW,
    ...overrides,
  };
}

function analysis(overrides: Partial<CoreAnalysis> = {}): CoreAnalysis {
  return {
    file: "core",
    sizeBytes: 1000,
    coreBytes: 1000,
    compression: "none",
    machine: "x86_64",
    modifiedAt: "2026-11-20T12:00:00Z",
    signal: null,
    process: { pid: 1, name: "x", commandLine: "x", executable: "/x" },
    threadCount: 1,
    crashReason: "No signal recorded",
    crashingThread: { tid: 1, gdbThread: null },
    stackTrace: [],
    stackTraceOf: "thread",
    abortMessage: null,
    threads: [],
    mappedFiles: [],
    sharedLibraries: [],
    registers: {},
    go: null,
    fingerprint: { id: "0000000000000000", basis: [] },
    buildIds: [],
    gdb: { used: false, durationMs: null, timedOut: false, truncated: false },
    warnings: [],
    ...overrides,
  };
}

const SEGV = {
  number: 11,
  name: "SIGSEGV",
  code: 1,
  description: "address not mapped",
  address: "0x0",
  senderPid: null,
};

function rules(result: ReturnType<typeof scoreCore>): [string, number][] {
  return result.breakdown.map((b) => [b.rule, b.points]);
}

Deno.test("scoreCore() gives the base score to a core that says nothing", () => {
  const result = scoreCore(analysis(), options());
  assertEquals(rules(result), [["base", 4]]);
  assertEquals([result.score, result.store], [4, false]);
});

Deno.test("scoreCore() fires every rule that adds points and caps at 10", () => {
  const frames = Array.from({ length: 8 }, (_, i) => ({
    index: i,
    function: i === 7 ? "fatal_error_handler" : `function_number_${i}`,
    file: "/src/a.c",
    line: i + 1,
  }));
  const result = scoreCore(
    analysis({
      signal: SEGV,
      crashReason: "SIGSEGV (address not mapped) at 0x0 in function_number_0() at a.c:1",
      stackTrace: frames,
      threadCount: 12,
      coreBytes: 200_000_000,
      modifiedAt: "2026-11-22T11:30:00Z",
    }),
    options({ pod: "milvus-querynode-0" }),
  );
  assertEquals(rules(result), [
    ["base", 4],
    ["crashReason", 2],
    ["panicKeywords", 1],
    ["stackTrace", 1.5],
    ["multipleThreads", 0.5],
    ["podAssociation", 1],
    ["fatalSignal", 1],
    ["largeCore", 0.5],
    ["recentCrash", 0.5],
  ]);
  assertEquals([result.score, result.store], [10, true]);
});

Deno.test("scoreCore() needs a located frame or an abort message for a clear reason", () => {
  const unlocated = scoreCore(
    analysis({ signal: SEGV, stackTrace: [{ index: 0, address: "0x1" }] }),
    options(),
  );
  assertEquals(unlocated.breakdown.some((b) => b.rule === "crashReason"), false);
  const message = scoreCore(
    analysis({ signal: { ...SEGV, number: 6, name: "SIGABRT" }, abortMessage: "boom" }),
    options(),
  );
  assertEquals(
    message.breakdown.find((b) => b.rule === "crashReason")?.detail,
    "abort message recorded",
  );
});

Deno.test("scoreCore() finds panic keywords case-insensitively in the stack", () => {
  const result = scoreCore(
    analysis({
      stackTrace: [{ index: 0, function: "runtime.gopanic" }, { index: 1, function: "main.main" }],
    }),
    options(),
  );
  assertEquals(
    result.breakdown.find((b) => b.rule === "panicKeywords")?.detail,
    'mentions "panic"',
  );
});

Deno.test("scoreCore() measures the stack text with base names, not build paths", () => {
  const frames = [{
    index: 0,
    function: "f",
    file: `/${"very-long-directory/".repeat(20)}a.c`,
    line: 1,
  }];
  assertEquals(stackTraceText(frames), "#0 f at a.c:1");
  assertEquals(scoreCore(analysis({ stackTrace: frames }), options()).breakdown.length, 1);
});

Deno.test("scoreCore() uses configured weights and the given threshold", () => {
  const scoring = { ...config.analyzer.scoring, base: 6, fatalSignal: 3 };
  const result = scoreCore(
    analysis({ signal: SEGV }),
    options({ scoring, threshold: 9, panicKeywords: [] }),
  );
  assertEquals([result.score, result.threshold, result.store], [9, 9, true]);
});

Deno.test("scoreCore() ignores a modification time in the future", () => {
  const result = scoreCore(analysis({ modifiedAt: "2026-11-22T13:00:00Z" }), options());
  assertEquals(result.breakdown.some((b) => b.rule === "recentCrash"), false);
});

Deno.test("scoreCore() looks for panic keywords in what the program said, not the crash reason", () => {
  const quiet = scoreCore(
    analysis({ signal: SEGV, crashReason: "SIGSEGV (address not mapped) at 0x0 in f()" }),
    options(),
  );
  assertEquals(quiet.breakdown.some((b) => b.rule === "panicKeywords"), false);
  const said = (over: Partial<CoreAnalysis>) =>
    scoreCore(analysis(over), options()).breakdown.find((b) => b.rule === "panicKeywords")
      ?.detail;
  assertEquals(
    said({ abortMessage: "a: a.c:5: check: Assertion `value > 0' failed." }),
    'mentions "assertion failed"',
  );
  assertEquals(
    said({
      go: { goroutine: 1, signal: null, panicMessage: null, fatalError: "concurrent map writes" },
    }),
    'mentions "fatal"',
  );
  assertEquals(
    said({ go: { goroutine: 1, signal: null, panicMessage: "x", fatalError: null } }),
    'mentions "panic"',
  );
  // The words of a keyword must be in order on one line.
  assertEquals(said({ abortMessage: "failed to read\nthe assertion" }), undefined);
});

const KILLED = {
  number: 6,
  name: "SIGABRT",
  code: 0,
  description: "sent by kill",
  address: null,
  senderPid: 4242,
};

Deno.test("scoreCore() takes points off a signal another process sent, not one it sent itself", () => {
  const killed = scoreCore(analysis({ signal: KILLED }), options());
  assertEquals(rules(killed), [["base", 4], ["fatalSignal", 1], ["sentByOtherProcess", -5]]);
  assertEquals(killed.score, 0);
  assertEquals(
    killed.breakdown.at(-1)?.detail,
    "SIGABRT sent by kill from pid 4242: killed, not crashed",
  );
  // abort() sends SIGABRT to itself with tkill: a crash, not a kill.
  const own = { ...KILLED, code: -6, description: "sent by tkill", senderPid: 1 };
  assertEquals(rules(scoreCore(analysis({ signal: own }), options())), [
    ["base", 4],
    ["fatalSignal", 1],
  ]);
  // A sender outside the pid namespace shows as pid 0: still another process.
  const outside = scoreCore(analysis({ signal: { ...KILLED, senderPid: 0 } }), options());
  assertEquals(outside.breakdown.at(-1)?.rule, "sentByOtherProcess");
});

Deno.test("scoreCore() values a known crash group less than a new one", () => {
  const fresh = scoreCore(analysis({ signal: SEGV }), options({ groupStored: 0 }));
  const known = scoreCore(analysis({ signal: SEGV }), options({ groupStored: 2 }));
  assertEquals(fresh.score - known.score, 0.5);
  assertEquals(known.breakdown.at(-1), {
    rule: "knownCrashGroup",
    points: -0.5,
    detail: "crash group 0000000000000000 has 2 stored cores",
  });
});

Deno.test("scoreCore() takes points off when none of the program's frames has a symbol", () => {
  const gdb = { used: true, durationMs: 1, timedOut: false, truncated: false };
  const stripped = [
    { index: 0, address: "0x5511", library: "/srv/app", offset: "0x1155" },
    { index: 1, function: "start_thread", library: "/lib/x86_64-linux-gnu/libc.so.6" },
  ];
  assertEquals(
    scoreCore(analysis({ stackTrace: stripped, gdb }), options()).breakdown.at(-1),
    { rule: "noSymbols", points: -1, detail: "none of the program's 1 frame has a symbol" },
  );
  // Without gdb nothing says whether symbols exist.
  assertEquals(rules(scoreCore(analysis({ stackTrace: stripped }), options())), [["base", 4]]);
  const named = [{ ...stripped[0]!, function: "fill_row" }, stripped[1]!];
  assertEquals(rules(scoreCore(analysis({ stackTrace: named, gdb }), options())), [["base", 4]]);
});

Deno.test("liftingRule() names the rule that reaches the bar with the fewest points", () => {
  const scoring = config.analyzer.scoring;
  const segv = scoreCore(analysis({ signal: SEGV }), options());
  assertEquals(segv.score, 5);
  assertEquals(liftingRule(segv, scoring, 7), {
    rule: "crashReason",
    points: 2,
    score: 7,
    condition: "the crash located in a named function, or an abort message",
  });
  assertEquals(liftingRule(segv, scoring, 5.5)?.rule, "multipleThreads");
  // Nothing reaches 9.9 alone: the closest is named.
  assertEquals(liftingRule(segv, scoring, 9.9)?.rule, "crashReason");
  const killed = scoreCore(analysis({ signal: KILLED }), options());
  assertEquals(liftingRule(killed, scoring, 4), {
    rule: "sentByOtherProcess",
    points: 5,
    score: 5,
    condition: "the signal sent by another process",
  });
});
