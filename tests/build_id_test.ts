/**
 * Build-ids: the agent reads the GNU build-id of the executable and of every mapped library
 * from the core (the first page of each ELF mapping), compares them with this host's files at
 * the same paths, and never lets gdb use the symbols of a file that is another build.
 */
import { assert, assertEquals, assertMatch, withTempDir } from "./support/assert.ts";
import { analyzeJson, runAgent } from "./support/cli.ts";
import {
  compile,
  compileLibrary,
  crash,
  haveCommand,
  haveGcc,
  haveGdb,
  sampleCores,
  skipNotice,
} from "./support/cores.ts";

const skip = skipNotice("gcc", haveGcc()) || skipNotice("gdb", haveGdb()) ||
  skipNotice("eu-readelf", haveCommand("eu-readelf"));

/** The build-id elfutils reads from a file: the independent reference. */
async function readelfBuildId(path: string): Promise<string | null> {
  const out = await new Deno.Command("eu-readelf", { args: ["-n", path], stdout: "piped" })
    .output();
  return /Build ID: ([0-9a-f]+)/.exec(new TextDecoder().decode(out.stdout))?.[1] ?? null;
}

Deno.test({
  name: "analyze core reports the build-id of the executable and of every mapped library",
  ignore: skip,
  fn: async () => {
    const { threads } = await sampleCores();
    const a = await analyzeJson([threads.core]);
    const exe = a.buildIds.find((m) => m.path === threads.exe);
    assertEquals(exe, {
      path: threads.exe,
      buildId: await readelfBuildId(threads.exe),
      host: "same",
      symbols: "host",
    });
    const libc = a.buildIds.find((m) => /\/libc\.so\.6$/.test(m.path));
    assert(libc, JSON.stringify(a.buildIds));
    assertEquals(libc.buildId, await readelfBuildId(libc.path));
    assertEquals(a.buildIds.every((m) => m.host === "same" && m.buildId), true);
    // Without gdb the build-ids are still read; no symbols were given to anyone.
    const notesOnly = await analyzeJson([threads.core, "--no-gdb"]);
    assertEquals(
      notesOnly.buildIds.map((m) => [m.buildId, m.symbols]),
      a.buildIds.map((m) => [
        m.buildId,
        null,
      ]),
    );
    const text = await runAgent(["analyze", "core", threads.core]);
    assertMatch(
      text.stdout,
      new RegExp(`^Build-id  ${exe!.buildId}, ${a.buildIds.length - 1} libraries in -o json$`, "m"),
    );
  },
});

Deno.test({
  name: "analyze core does not use the symbols of an executable rebuilt since the crash",
  ignore: skip,
  fn: () =>
    withTempDir(async (dir) => {
      const { segv } = await sampleCores();
      // Another build of another program: gdb would name its functions if it were trusted.
      const other = await compile("fpe", dir);
      const run = await runAgent(["analyze", "core", segv.core, "--exe", other, "-o", "json"]);
      assertEquals(run.code, 0, run.stderr);
      const a = JSON.parse(run.stdout);
      assertEquals(a.gdb.used, false);
      assertEquals(a.warnings, [
        `executable "${other}" has build-id ${await readelfBuildId(
          other,
        )}, the core's is ${await readelfBuildId(segv.exe)}: its symbols are not used`,
      ]);
      assertMatch(a.crashReason, /, pc 0x[0-9a-f]+ in segv\+0x[0-9a-f]+$/);
    }),
});

Deno.test({
  name: "analyze core does not use an executable rebuilt at its path since the crash",
  ignore: skip,
  fn: () =>
    withTempDir(async (dir) => {
      const segv = await crash("segv", dir);
      const built = await readelfBuildId(segv.exe);
      // Another build at the same path: gdb would read the core with the wrong symbols.
      await Deno.remove(segv.exe);
      await compile("fpe", `${dir}/segv`).then((other) => Deno.rename(other, segv.exe));
      const a = await analyzeJson([segv.core]);
      assertEquals(a.gdb.used, false);
      assertEquals(a.buildIds.find((m) => m.path === segv.exe)?.host, "different");
      assertEquals(a.warnings, [
        `this host's "${segv.exe}" is another build than the core's (build-id ${built}): its symbols are not used`,
      ]);
    }),
});

Deno.test({
  name: "analyze core names frames of a library rebuilt since the crash module+offset",
  ignore: skip,
  fn: () =>
    withTempDir(async (dir) => {
      const plugin = await crash("plugin", dir);
      const library = `${dir}/plugin/libplugin.so`;
      const before = await analyzeJson([plugin.core]);
      assertEquals(
        before.crashReason,
        "SIGSEGV (address not mapped) at 0x8 in plugin_search() at libplugin.c:15",
      );
      const coreId = before.buildIds.find((m) => m.path === library)?.buildId ?? null;
      assertEquals(coreId, await readelfBuildId(library));

      await compileLibrary("plugin", `${dir}/plugin`, ["PLUGIN_V2"]);
      const after = await analyzeJson([plugin.core]);
      assertEquals(after.buildIds.find((m) => m.path === library), {
        path: library,
        buildId: coreId,
        host: "different",
        symbols: null,
      });
      assertMatch(
        after.crashReason,
        /^SIGSEGV \(address not mapped\) at 0x8, pc 0x[0-9a-f]+ in libplugin\.so\+0x[0-9a-f]+$/,
      );
      assertEquals(after.stackTrace[0]!.offset, before.stackTrace[0]!.offset);
      assertEquals(after.warnings, [
        `this host's "${library}" is another build than the core's (build-id ${coreId}): its symbols are not used`,
      ]);
      // The executable and libc still have theirs.
      assertEquals(
        after.sharedLibraries.some((l) => /libc\.so\.6$/.test(l.path) && l.symbols),
        true,
      );
    }),
});
