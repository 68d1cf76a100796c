import { assertEquals } from "../../tests/support/assert.ts";
import type { CoreAnalysis } from "./analyze.ts";
import { crashFingerprint } from "./fingerprint.ts";

function analysis(stackTrace: CoreAnalysis["stackTrace"], signal = "SIGSEGV"): CoreAnalysis {
  return {
    signal: { number: 11, name: signal, code: 1, description: "", address: "0x0", senderPid: null },
    stackTrace,
    go: null,
  } as unknown as CoreAnalysis;
}

Deno.test("crashFingerprint() starts at the crash frame and ignores addresses and arguments", () => {
  const a = crashFingerprint(analysis([
    { index: 0, address: "0x7f01", function: "__pthread_kill_implementation" },
    { index: 1, address: "0x7f02", function: "raise" },
    { index: 2, address: "0x7f03", function: "abort" },
    { index: 3, address: "0x5501", function: "check_positive", args: "value=-3" },
    { index: 4, address: "0x5502", function: "main" },
  ], "SIGABRT"));
  const b = crashFingerprint(analysis([
    { index: 0, address: "0x7e01", function: "__pthread_kill_implementation" },
    { index: 1, address: "0x7e02", function: "raise" },
    { index: 2, address: "0x7e03", function: "abort" },
    { index: 3, address: "0x5601", function: "check_positive", args: "value=-9" },
    { index: 4, address: "0x5602", function: "main" },
  ], "SIGABRT"));
  assertEquals(a.basis, ["SIGABRT", "check_positive", "main"]);
  assertEquals(a.id, b.id);
  assertEquals(a.id.length, 16);
});

Deno.test("crashFingerprint() tells signals and stacks apart, and uses module offsets without symbols", () => {
  const frames = [{ index: 0, function: "deref" }, { index: 1, function: "main" }];
  assertEquals(
    crashFingerprint(analysis(frames)).id === crashFingerprint(analysis(frames, "SIGBUS")).id,
    false,
  );
  const unsymbolized = crashFingerprint(
    analysis([{ index: 0, address: "0x55aa1145", library: "/usr/bin/milvus", offset: "0x1145" }]),
  );
  assertEquals(unsymbolized.basis, ["SIGSEGV", "milvus+0x1145"]);
});
