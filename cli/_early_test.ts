import { assertEquals } from "../tests/support/assert.ts";
import { withTempDir } from "../tests/support/assert.ts";
import { ENV_ALIASES, loadConfig } from "../lib/config/mod.ts";
import { analyzeOptions } from "../lib/core/mod.ts";
import {
  CHECKED_ALIASES,
  EARLY_GDB_DEFAULTS,
  earlyGdbTarget,
  quickAnalysis,
  quickOptions,
} from "./_early.ts";

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

Deno.test("quickOptions() is what analyzeOptions() makes of the default configuration", async () => {
  const config = await loadConfig({ env: () => undefined });
  assertEquals(quickOptions(undefined), analyzeOptions(config, {}));
  assertEquals(quickOptions("/bin/app"), analyzeOptions(config, { exe: "/bin/app" }));
});

Deno.test("quickOptions() holds whatever the aliases it does not check are set to", async () => {
  const defaults = analyzeOptions(await loadConfig({ env: () => undefined }), {});
  for (const name of Object.values(ENV_ALIASES)) {
    if (CHECKED_ALIASES.includes(name)) continue;
    for (const value of ["x", "-", " ", "\u0001 ; $(x)", "999999999999999999999"]) {
      const config = await loadConfig({ env: (n) => n === name ? value : undefined });
      assertEquals(analyzeOptions(config, {}), defaults, `${name}=${value}`);
    }
  }
});

Deno.test("quickAnalysis() runs only a plain analyze core with the default configuration", async () => {
  await withTempDir(async (dir) => {
    const core = `${dir}/core`;
    await Deno.writeTextFile(core, "");
    const quick = (args: string[], env: Record<string, string> = {}) =>
      quickAnalysis(["analyze", "core", ...args], env).then((run) => run !== undefined);
    assertEquals(await quick([core]), true);
    assertEquals(await quick([core, "-o", "json", "--exe", "/bin/true"]), true);
    assertEquals(await quick([core], { KUBECONFIG: "/x", PATH: "/bin" }), true);
    assertEquals(await quick([core, "-o", "yaml"]), false);
    assertEquals(await quick([core, "--output=yaml"]), false);
    assertEquals(await quick([""]), false);
    assertEquals(await quick([core, "--no-gdb"]), false);
    assertEquals(await quick([core], { AGENT_CONFIG: "/etc/agent.yaml" }), false);
    for (const name of CHECKED_ALIASES) assertEquals(await quick([core], { [name]: "x" }), false);
    // A debug bundle is read with the store's settings.
    await Deno.writeTextFile(`${core}.json`, "{}");
    assertEquals(await quick([core]), false);
    assertEquals(await quick([core, "--exe", "/bin/true"]), true);
    await Deno.remove(`${core}.json`);
    await Deno.mkdir(`${core}.bundle`);
    await Deno.writeTextFile(`${core}.bundle/manifest.json`, "{}");
    assertEquals(await quick([core]), false);
  });
});
