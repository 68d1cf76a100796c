/**
 * Symbols by build-id from a real debuginfod: a stripped program's core has only
 * `module+offset` frames until `analyzer.debuginfodUrls` names a server that holds its
 * `objcopy --only-keep-debug` file; then its stack comes back with function, file and line,
 * and the debug info stays in the cache for the next analysis.
 */
import { assert, assertEquals, assertMatch, withTempDir } from "./support/assert.ts";
import { json, runAgent } from "./support/cli.ts";
import { crash, haveGcc, haveGdb, skipBecause, skipNotice } from "./support/cores.ts";
import { debuginfodMissing, startDebuginfod } from "./support/debuginfod.ts";
import type { CoreAnalysis } from "../lib/core/mod.ts";

const missing = debuginfodMissing();
const skip = skipNotice("gcc", haveGcc()) || skipNotice("gdb", haveGdb()) ||
  (missing !== undefined &&
    skipBecause(`no debuginfod can be run (${missing})`, "tests that need one are ignored"));

Deno.test({
  name: "analyze core symbolizes a stripped core with debug info from a real debuginfod",
  ignore: skip,
  fn: () =>
    withTempDir(async (dir) => {
      const stripped = await crash("stripped", dir, ["a"], undefined, { strip: true });
      await Deno.mkdir(`${dir}/serve`);
      await Deno.rename(stripped.debugFile!, `${dir}/serve/stripped.debug`);
      const env = { AGENT_STATE_DIR: `${dir}/state` };
      const analyze = (extra: Record<string, string>, wrap?: string[]) =>
        runAgent(["analyze", "core", stripped.core, "-o", "json"], {
          env: { ...env, ...extra },
          ...(wrap ? { wrap } : {}),
        });

      const without = json<CoreAnalysis>(await analyze({}));
      assertMatch(without.crashReason, /, pc 0x[0-9a-f]+ in stripped\+0x[0-9a-f]+$/);
      const id = without.buildIds.find((m) => m.path === stripped.exe)?.buildId;
      assert(id, JSON.stringify(without.buildIds));

      const server = await startDebuginfod(`${dir}/serve`, dir);
      let served: CoreAnalysis;
      try {
        const run = await analyze({ AGENT_ANALYZER_DEBUGINFOD_URLS: server.url }, server.wrap);
        assertEquals(run.code, 0, run.stderr);
        served = json<CoreAnalysis>(run);
      } finally {
        await server.stop();
      }
      assertEquals(served.warnings, []);
      assertEquals(
        served.crashReason,
        "SIGSEGV (address not mapped) at 0x8 in fill_row() at stripped.c:10",
      );
      assertEquals(
        served.stackTrace.slice(0, 2).map((f) => [f.function, f.file?.split("/").at(-1), f.line]),
        [["fill_row", "stripped.c", 10], ["worker", "stripped.c", 22]],
      );
      assertEquals(served.fingerprint.basis.slice(0, 3), ["SIGSEGV", "fill_row", "worker"]);
      const cached = `${dir}/state/debuginfod/.build-id/${id.slice(0, 2)}/${id.slice(2)}.debug`;
      assertEquals((await Deno.stat(cached)).isFile, true);

      // The server is gone: the cache still has the debug info.
      const again = json<CoreAnalysis>(
        await analyze({ AGENT_ANALYZER_DEBUGINFOD_URLS: "http://127.0.0.1:9" }),
      );
      assertEquals(again.stackTrace[0]!.function, "fill_row");
      assertEquals(again.warnings, []);
    }),
});

Deno.test({
  name: "analyze core says which debuginfod server failed and goes on without symbols",
  ignore: skip,
  fn: () =>
    withTempDir(async (dir) => {
      const stripped = await crash("stripped", dir, ["a"], undefined, { strip: true });
      // Port 9 (discard) on the loopback: nothing listens there.
      const run = await runAgent(["analyze", "core", stripped.core, "-o", "json"], {
        env: {
          AGENT_STATE_DIR: `${dir}/state`,
          AGENT_ANALYZER_DEBUGINFOD_URLS: "http://agent:secret@127.0.0.1:9",
        },
      });
      assertEquals(run.code, 0, run.stderr);
      const a = json<CoreAnalysis>(run);
      assertEquals(a.gdb.used, true);
      assertMatch(a.crashReason, /in stripped\+0x[0-9a-f]+$/);
      const problems = a.warnings.filter((w) => w.startsWith("Cannot fetch debug info"));
      assert(problems.length > 0, JSON.stringify(a.warnings));
      assert(problems.every((w) => w.includes(' from "127.0.0.1:9": ')), problems.join("\n"));
      assert(!run.stdout.includes("secret"), "no credentials in the output");
    }),
});
