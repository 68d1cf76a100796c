/**
 * A real aarch64 core, made by crashing a cross-compiled program under QEMU's user-mode
 * emulator, read for its machine, signal and registers.
 */
import { assert, assertEquals, withTempDir } from "./support/assert.ts";
import { json, runAgent } from "./support/cli.ts";
import { crashAarch64, haveAarch64, skipNotice } from "./support/cores.ts";
import type { CoreAnalysis } from "../lib/core/mod.ts";

Deno.test({
  name: "analyze core reads an aarch64 core's signal, process and the crashing pc",
  ignore: skipNotice("aarch64-linux-gnu-gcc and qemu-aarch64", haveAarch64()),
  fn: () =>
    withTempDir(async (dir) => {
      const segv = await crashAarch64("segv", dir);
      const run = await runAgent(["analyze", "core", segv.core, "-o", "json"]);
      assertEquals(run.code, 0, run.stderr);
      const a = json<CoreAnalysis>(run);
      assertEquals(a.machine, "aarch64");
      assertEquals(a.threadCount, 1);
      assertEquals(a.process.name, "segv");
      assertEquals(a.signal?.name, "SIGSEGV");
      // QEMU writes no NT_SIGINFO: the signal number comes from NT_PRSTATUS, its cause is unknown.
      assertEquals([a.signal?.code, a.signal?.description], [null, "cause not recorded"]);
      const nm = await new Deno.Command("aarch64-linux-gnu-nm", { args: ["-S", segv.exe] })
        .output();
      const line = new TextDecoder().decode(nm.stdout).split("\n").find((l) =>
        l.endsWith(" T deref")
      )!;
      const [start, size] = line.split(" ").slice(0, 2).map((hex) => BigInt(`0x${hex}`));
      const pc = BigInt(a.threads[0]!.pc);
      assert(
        start! <= pc && pc < start! + size!,
        `pc ${a.threads[0]!.pc} is inside deref (${line})`,
      );
      assert(BigInt(a.threads[0]!.sp) > 0n, "sp is read");
    }),
});
