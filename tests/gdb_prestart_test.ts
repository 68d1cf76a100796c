/**
 * A gdb started ahead (`prestartGdb`) is taken by the one `runGdb` asking for exactly the
 * same run, and killed by any other, which then runs gdb itself. The gdb is a shell script
 * that notes each start in a file.
 */
import { assertEquals } from "./support/assert.ts";
import { withTempDir } from "./support/assert.ts";
import { existsSync } from "node:fs";
import { runAgent } from "./support/cli.ts";
import { haveGcc, sampleCores } from "./support/cores.ts";
import { discardPrestartedGdb, type GdbOptions, prestartGdb, runGdb } from "../lib/core/mod.ts";

async function fakeGdb(dir: string): Promise<{ options: GdbOptions; starts: () => string[] }> {
  const gdb = `${dir}/gdb`;
  const log = `${dir}/starts`;
  await Deno.writeTextFile(log, "");
  // The last argument is --core=…: it names the run.
  await Deno.writeTextFile(
    gdb,
    `#!/bin/sh\nfor a; do last=$a; done\necho "$last" >> ${log}\necho "ran $last"\n`,
    { mode: 0o755 },
  );
  return {
    options: { gdbPath: gdb, timeoutMs: 30_000, maxOutputBytes: 1 << 20 },
    starts: () => Deno.readTextFileSync(log).split("\n").filter(Boolean),
  };
}

Deno.test("runGdb takes the gdb started ahead for the same arguments and options", async () => {
  await withTempDir(async (dir) => {
    const { options, starts } = await fakeGdb(dir);
    prestartGdb("/bin/true", "core1", options);
    const run = await runGdb("/bin/true", "core1", options);
    assertEquals(run.stdout, "ran --core=core1\n");
    assertEquals(starts(), ["--core=core1"]);
    // Taken once: the next run starts its own gdb.
    await runGdb("/bin/true", "core1", options);
    assertEquals(starts(), ["--core=core1", "--core=core1"]);
  });
});

Deno.test("runGdb with other options kills the gdb started ahead and runs its own", async () => {
  await withTempDir(async (dir) => {
    const { options, starts } = await fakeGdb(dir);
    const slow = `${dir}/slow`;
    // Started ahead, this one would never finish on its own.
    await Deno.writeTextFile(slow, `#!/bin/sh\nexec sleep 60\n`, { mode: 0o755 });
    prestartGdb("/bin/true", "core1", { ...options, gdbPath: slow });
    const run = await runGdb("/bin/true", "core1", { ...options, settings: ["set sysroot /x"] });
    assertEquals(run.stdout, "ran --core=core1\n");
    assertEquals(starts(), ["--core=core1"]);
    prestartGdb("/bin/true", "core2", { ...options, gdbPath: slow });
    await discardPrestartedGdb();
    assertEquals((await runGdb("/bin/true", "core2", options)).timedOut, false);
  });
});

Deno.test({
  name: "analyze core starts gdb ahead only when nothing in the environment can change it",
  ignore: !haveGcc(),
  fn: () =>
    withTempDir(async (dir) => {
      const { segv } = await sampleCores();
      // A gdb first on PATH that notes its start and fails, so the analysis goes on without it.
      const marker = `${dir}/started`;
      await Deno.writeTextFile(`${dir}/gdb`, `#!/bin/sh\necho x >> ${marker}\nexit 1\n`, {
        mode: 0o755,
      });
      const env = { PATH: `${dir}:${Deno.env.get("PATH")}` };
      // Told not to run gdb: no gdb starts, ahead or not.
      const off = await runAgent(["analyze", "core", segv.core, "-o", "json"], {
        env: { ...env, AGENT_ANALYZER_USE_GDB: "false" },
      });
      assertEquals(off.code, 0, off.stderr);
      assertEquals(existsSync(marker), false);
      // With the defaults, the one gdb that starts is the one started ahead.
      const on = await runAgent(["analyze", "core", segv.core, "-o", "json"], { env });
      assertEquals(Deno.readTextFileSync(marker), "x\n", on.stderr);
    }),
});
