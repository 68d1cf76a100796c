import { assertEquals } from "../tests/support/assert.ts";
import { formatBytes, parseBytes, parseDuration } from "./units.ts";

Deno.test("parseDuration() reads units, compounds and bare seconds", () => {
  assertEquals(parseDuration("30d"), 30 * 86_400_000);
  assertEquals(parseDuration("1h30m"), 5_400_000);
  assertEquals(parseDuration("500ms"), 500);
  assertEquals(parseDuration("1.5s"), 1500);
  assertEquals(parseDuration("60"), 60_000);
  assertEquals(parseDuration("2w"), 14 * 86_400_000);
});

Deno.test("parseDuration() rejects what is not a duration", () => {
  for (const text of ["x", "", "10 parsecs", "-5s", "1h 30m", "m"]) {
    assertEquals(parseDuration(text), undefined, text);
  }
});

Deno.test("parseBytes() reads SI, binary and Kubernetes units", () => {
  assertEquals(parseBytes("50GB"), 50e9);
  assertEquals(parseBytes("100MiB"), 100 * 2 ** 20);
  assertEquals(parseBytes("1Gi"), 2 ** 30);
  assertEquals(parseBytes("64kib"), 65536);
  assertEquals(parseBytes(1024), 1024);
  assertEquals(parseBytes("12"), 12);
});

Deno.test("parseBytes() rejects what is not a size", () => {
  for (const text of ["x", "10 furlongs", "-1", "GB"]) {
    assertEquals(parseBytes(text), undefined, text);
  }
  assertEquals(parseBytes(-1), undefined);
  assertEquals(parseBytes(Number.NaN), undefined);
});

Deno.test("formatBytes() picks a readable unit", () => {
  assertEquals(formatBytes(12), "12 B");
  assertEquals(formatBytes(1536), "1.5 KiB");
  assertEquals(formatBytes(2 ** 30), "1 GiB");
});
