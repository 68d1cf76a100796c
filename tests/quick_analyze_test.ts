/**
 * A plain `agent analyze core` runs without the command line (cli/_early.ts). What it prints
 * and its exit code must be the full command's: each case runs both ways, the full one forced
 * by an `AGENT_` variable set to its default, and compares stdout, stderr and the exit code.
 */
import { assert, assertEquals, withTempDir } from "./support/assert.ts";
import { type CliRun, runAgent } from "./support/cli.ts";
import { crash, haveGcc, haveGdb, skipNotice } from "./support/cores.ts";

const noTools = skipNotice("gcc and gdb", haveGcc() && haveGdb());

/** Forces the full command line without changing the configuration. */
const FULL = { AGENT_LOG_FORMAT: "text" };

/** gdb's run time is the one value that differs between two runs. */
function normalized(run: CliRun): CliRun {
  return {
    ...run,
    stdout: run.stdout.replace(/"durationMs": \d+/, '"durationMs": 0')
      .replace(/^gdb: \d+ ms$/m, "gdb: 0 ms"),
  };
}

async function sameBothWays(args: string[]): Promise<CliRun> {
  const quick = normalized(await runAgent(args));
  const full = normalized(await runAgent(args, { env: FULL }));
  assertEquals(quick, full, args.join(" "));
  return quick;
}

Deno.test({
  name: "analyze core prints the same analysis without the command line as with it",
  ignore: noTools,
  fn: () =>
    withTempDir(async (dir) => {
      for (const name of ["abort", "threads"]) {
        const { core, exe } = await crash(name, dir);
        for (const output of [[], ["-o", "json"], ["--output=text"]]) {
          const run = await sameBothWays(["analyze", "core", core, ...output]);
          assertEquals(run.code, 0, run.stderr);
          assert(run.stdout.includes("main"), run.stdout);
        }
        await sameBothWays(["analyze", "core", "--exe", exe, core, "-o", "json"]);
      }
    }),
});

Deno.test({
  name: "analyze core fails the same way without the command line as with it",
  ignore: noTools,
  fn: () =>
    withTempDir(async (dir) => {
      const { core } = await crash("segv", dir);
      const bytes = await Deno.readFile(core);
      await Deno.writeFile(`${dir}/truncated`, bytes.subarray(0, bytes.length >> 1));
      await Deno.writeFile(`${dir}/headers`, bytes.subarray(0, 200));
      await Deno.writeTextFile(`${dir}/garbage`, "not a core\n".repeat(100));
      const cases: [string[], number][] = [
        [[`${dir}/truncated`], 2],
        [[`${dir}/headers`], 2],
        [[`${dir}/garbage`], 2],
        [[`${dir}/missing`], 2],
        [[core, "--exe", `${dir}/missing-exe`], 2],
        [[`${dir}/truncated`, "-o", "json"], 2],
        [[`${dir}/garbage`, "-o", "json"], 2],
      ];
      for (const [args, code] of cases) {
        const run = await sameBothWays(["analyze", "core", ...args]);
        assertEquals(run.code, code, `${args.join(" ")}: ${run.stderr}`);
      }
    }),
});
