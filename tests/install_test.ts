/**
 * `deno task install` puts a working `agent` on PATH, and `deno task start` runs the agent
 * from the caller's directory: both as a user runs them, from a directory outside the checkout
 * holding a core given by a relative path.
 */
import { assert, assertEquals, assertStringIncludes, withTempDir } from "./support/assert.ts";
import { DENO_DIR } from "./support/cli.ts";
import { haveGcc, sampleCores, skipNotice } from "./support/cores.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const noGcc = skipNotice("gcc", haveGcc());
const decoder = new TextDecoder();

/**
 * Runs `command` as from a user's shell: without the INIT_CWD that `deno task test` set for
 * this process, which `deno task` keeps when it is set (as npm does) instead of the caller's
 * directory.
 */
async function run(command: string, args: string[], cwd: string, env: Record<string, string>) {
  const inherited = Deno.env.toObject();
  delete inherited.INIT_CWD;
  const out = await new Deno.Command(command, {
    args,
    cwd,
    clearEnv: true,
    env: { ...inherited, NO_COLOR: "1", DENO_DIR, ...env },
    stdin: "null",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

Deno.test({
  name: "deno task install puts agent on PATH; it runs from any directory, quietly",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { segv } = await sampleCores();
      await Deno.mkdir(`${dir}/elsewhere`);
      await Deno.copyFile(segv.core, `${dir}/elsewhere/core.segv`);
      const install = await run(
        Deno.execPath(),
        ["task", "-q", "--config", `${ROOT}deno.json`, "install"],
        `${dir}/elsewhere`,
        { DENO_INSTALL_ROOT: `${dir}/root`, PATH: "/usr/bin:/bin" },
      );
      assertEquals(install.code, 0, install.stderr);
      assertStringIncludes(install.stdout, `Installed ${dir}/root/bin/agent (runs `);
      assertStringIncludes(install.stdout, `export PATH="${dir}/root/bin:$PATH"`);
      const mode = (await Deno.stat(`${dir}/root/bin/agent`)).mode! & 0o777;
      assertEquals(mode, 0o755);

      const agent = await run(
        "agent",
        ["analyze", "core", "./core.segv", "--no-gdb", "-o", "json"],
        `${dir}/elsewhere`,
        { PATH: `${dir}/root/bin:/usr/bin:/bin` },
      );
      assertEquals([agent.code, agent.stderr], [0, ""]);
      assertEquals(JSON.parse(agent.stdout).file, "./core.segv");
    }),
});

Deno.test({
  name: "deno task start resolves paths from the caller's directory and prints only the output",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { segv } = await sampleCores();
      await Deno.copyFile(segv.core, `${dir}/core.segv`);
      const start = await run(
        Deno.execPath(),
        [
          "task",
          "--config",
          `${ROOT}deno.json`,
          "start",
          "analyze",
          "core",
          "./core.segv",
          "--no-gdb",
          "-o",
          "json",
        ],
        dir,
        {},
      );
      assertEquals(start.code, 0, start.stderr);
      assertEquals(JSON.parse(start.stdout).file, "./core.segv");
      // Deno's own "Task start ..." line (deno task -q drops it), and nothing else: no
      // download progress, no warning about npm packages' build scripts.
      const lines = start.stderr.split("\n").filter(Boolean);
      assert(lines.every((line) => line.startsWith("Task start ")), start.stderr);
      const quiet = await run(
        Deno.execPath(),
        ["task", "-q", "--config", `${ROOT}deno.json`, "start", "version"],
        dir,
        {},
      );
      assertEquals([quiet.code, quiet.stderr], [0, ""]);
    }),
});
