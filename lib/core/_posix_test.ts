import { createHash } from "node:crypto";
import path from "node:path";
import fc from "fast-check";
import { assertEquals } from "../../tests/support/assert.ts";
import { basename, dirname, join, sha256Hex } from "./_posix.ts";

const pathText = fc.array(fc.constantFrom("a", "bc", "/", "//", ".", "..", "./", "../"), {
  maxLength: 8,
}).map((parts) => parts.join(""));

Deno.test("basename, dirname and join give what node:path gives", () => {
  for (const p of ["", "/", "//", "a", "/a", "/a/b", "/a/b/", "a/b//", ".", "..", "/.."]) {
    assertEquals([basename(p), dirname(p)], [path.basename(p), path.dirname(p)], p);
  }
  fc.assert(fc.property(pathText, (p) => {
    assertEquals([basename(p), dirname(p)], [path.basename(p), path.dirname(p)], p);
  }));
  fc.assert(fc.property(fc.array(pathText, { maxLength: 4 }), (parts) => {
    assertEquals(join(...parts), path.join(...parts), JSON.stringify(parts));
  }));
});

Deno.test("sha256Hex is node:crypto's SHA-256", () => {
  const cases = ["", "abc", "a".repeat(55), "a".repeat(56), "a".repeat(64), "é\nβ".repeat(100)];
  for (const text of cases) {
    assertEquals(sha256Hex(text), createHash("sha256").update(text).digest("hex"));
  }
  fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 300 }), (text) => {
    assertEquals(sha256Hex(text), createHash("sha256").update(text).digest("hex"));
  }));
});
