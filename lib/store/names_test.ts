import { assertEquals } from "../../tests/support/assert.ts";
import { objectName, safeName, safeObjectName } from "./names.ts";

Deno.test("safeName() keeps names inside their folder", () => {
  assertEquals(safeName("milvus-querynode-0"), "milvus-querynode-0");
  assertEquals(safeName("../../etc"), ".._.._etc");
  assertEquals(safeName(".."), "_");
  assertEquals(safeName("a b;$(x)\n"), "a_b___x__");
  assertEquals(safeName(""), "_");
});

Deno.test("safeObjectName() cuts a long name before its extension", () => {
  const name = safeObjectName(`${"x".repeat(300)}.core.gz`);
  assertEquals([name.length, name.endsWith("x.core.gz")], [160, true]);
  assertEquals(safeObjectName("a/b.core.zst"), "a_b.core.zst");
  assertEquals(
    objectName(new Date("2026-11-22T01:02:03Z"), "p".repeat(200), "c", "gzip").length,
    16 + 1 + 80 + 1 + 1 + ".core.gz".length,
  );
});
