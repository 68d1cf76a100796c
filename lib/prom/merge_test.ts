import { assertEquals } from "../../tests/support/assert.ts";
import { mergeFamilies } from "./merge.ts";

Deno.test("mergeFamilies() keeps one family per name and every series once", () => {
  const up = (help: string, job: string, value: number) => ({
    name: "up",
    help,
    type: "gauge" as const,
    samples: [{ name: "up", labels: { job, instance: "x" }, value }],
  });
  const other = { name: "other", help: "", type: "counter" as const, samples: [] };
  const merged = mergeFamilies([up("first", "a", 1), other, up("second", "b", 0), {
    ...up("third", "a", 5),
    samples: [{ name: "up", labels: { instance: "x", job: "a" }, value: 5 }],
  }]);
  assertEquals(merged.map((f) => [f.name, f.help, f.samples.map((s) => s.value)]), [
    ["up", "first", [1, 0]],
    ["other", "", []],
  ]);
});
