import { assertEquals } from "../../tests/support/assert.ts";
import { configSchema, DEFAULTS } from "../config/mod.ts";
import type { CoreAnalysis } from "./analyze.ts";
import { scoreCore, type ScoreOptions, stackTraceText } from "./score.ts";

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

Deno.test("scoreCore() fires every rule and caps at 10", () => {
  const frames = Array.from({ length: 8 }, (_, i) => ({
    index: i,
    function: `function_number_${i}`,
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
