import { assertEquals } from "../tests/support/assert.ts";
import { CORE_PATTERN_FILE } from "../lib/collect/mod.ts";
import { buildCli } from "./mod.ts";

Deno.test("buildCli() gives collect --core-pattern-file lib/collect's default", () => {
  const { program } = buildCli({ out: () => {}, err: () => {} });
  const collect = program.commands.find((c) => c.name() === "collect")!;
  const option = collect.options.find((o) => o.long === "--core-pattern-file")!;
  assertEquals(option.defaultValue, CORE_PATTERN_FILE);
});
