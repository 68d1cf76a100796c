import { assertEquals } from "../tests/support/assert.ts";
import { loadConfig } from "../lib/config/mod.ts";
import { analyzeOptions } from "../lib/core/mod.ts";
import { EARLY_GDB_DEFAULTS, earlyGdbTarget } from "./_early.ts";

Deno.test("gdb is started ahead only for a plain analyze core with --exe and -o", () => {
  assertEquals(earlyGdbTarget(["analyze", "core", "c"]), { core: "c" });
  assertEquals(earlyGdbTarget(["analyze", "core", "c", "-o", "json"]), { core: "c" });
  assertEquals(earlyGdbTarget(["analyze", "core", "--output=json", "c"]), { core: "c" });
  assertEquals(earlyGdbTarget(["analyze", "core", "c", "--exe", "e"]), { core: "c", exe: "e" });
  assertEquals(earlyGdbTarget(["analyze", "core", "--exe=e", "c"]), { core: "c", exe: "e" });
  for (
    const args of [
      ["analyze", "core"],
      ["analyze", "core", "c", "--no-gdb"],
      ["analyze", "core", "c", "--ai"],
      ["analyze", "core", "c", "d"],
      ["analyze", "core", "c", "--exe"],
      ["analyze", "core", "c", "--exe="],
      ["analyze", "core", "c", "-o"],
      ["analyze", "core", "--help"],
      ["--config", "f", "analyze", "core", "c"],
      ["score", "c"],
    ]
  ) assertEquals(earlyGdbTarget(args), undefined, args.join(" "));
});

Deno.test("the gdb started ahead uses the configuration's defaults, so the analysis takes it", async () => {
  const config = await loadConfig({ env: () => undefined });
  assertEquals(analyzeOptions(config, {}).gdb, EARLY_GDB_DEFAULTS);
});
