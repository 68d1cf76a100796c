/**
 * Temporary files never outlive the agent: a SIGTERM (or Ctrl-C) during `analyze core` or
 * `score` removes the unpacked core (and gdb's scripts, for a Go program) and kills gdb; what
 * a SIGKILL leaves, the next daemon sweeps from `analyzer.tempDir` at its start.
 */
import { assert, assertEquals, withTempDir } from "./support/assert.ts";
import { agentArgs, DENO_DIR } from "./support/cli.ts";
import { haveCommand, haveGcc, sampleCores, skipNotice } from "./support/cores.ts";
import { startDaemon } from "./support/daemon.ts";
import { waitFor } from "./support/net.ts";

const skip = skipNotice("gcc", haveGcc()) || skipNotice("zstd", haveCommand("zstd"));

/** Names in `dir` the agent made. */
function leftovers(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith("agent-"));
}

/**
 * Starts `analyze core` (or `score`) on a zstd core with a "gdb" that only sleeps (its pid in
 * a file), so that the run is caught with its temporary directory present (the unpacked core;
 * gdb's scripts are written only for a Go program).
 */
async function startAnalysis(dir: string, command: "analyze" | "score" = "analyze") {
  const { segv } = await sampleCores();
  await Deno.mkdir(`${dir}/tmp`, { recursive: true });
  const core = `${dir}/core.1.zst`;
  await new Deno.Command("zstd", { args: ["-q", "-f", segv.core, "-o", core] }).output();
  const gdb = `${dir}/slow-gdb`;
  await Deno.writeTextFile(gdb, `#!/bin/sh\necho $$ > ${dir}/gdb.pid\nexec sleep 300\n`);
  await Deno.chmod(gdb, 0o755);
  const child = new Deno.Command(Deno.execPath(), {
    args: agentArgs(
      command === "analyze"
        ? ["analyze", "core", core, "--exe", segv.exe]
        : ["score", core, "--exe", segv.exe],
    ),
    env: {
      NO_COLOR: "1",
      DENO_DIR,
      AGENT_ANALYZER_GDB_PATH: gdb,
      AGENT_ANALYZER_TEMP_DIR: `${dir}/tmp`,
    },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  await waitFor(
    () => Promise.resolve(leftovers(`${dir}/tmp`).length === 1),
    "the unpacked core",
  );
  await waitFor(() => Deno.stat(`${dir}/gdb.pid`).then(() => true), "gdb started");
  return { child, stderr, gdbPid: Number(await Deno.readTextFile(`${dir}/gdb.pid`)) };
}

function alive(pid: number): boolean {
  return new Deno.Command("kill", { args: ["-0", String(pid)], stderr: "null" }).outputSync()
    .success;
}

Deno.test({
  name: "a SIGTERM during analyze core kills gdb and leaves no temporary file",
  ignore: skip,
  fn: () =>
    withTempDir(async (dir) => {
      const { child, stderr, gdbPid } = await startAnalysis(dir);
      child.kill("SIGTERM");
      const status = await child.status;
      await stderr;
      assertEquals(status.code, 143);
      assertEquals(leftovers(`${dir}/tmp`), []);
      await waitFor(() => Promise.resolve(!alive(gdbPid)), "gdb gone");
    }),
});

Deno.test({
  name: "a SIGINT during score kills gdb and leaves no temporary file",
  ignore: skip,
  fn: () =>
    withTempDir(async (dir) => {
      const { child, stderr, gdbPid } = await startAnalysis(dir, "score");
      child.kill("SIGINT");
      const status = await child.status;
      await stderr;
      assertEquals(status.code, 130);
      assertEquals(leftovers(`${dir}/tmp`), []);
      await waitFor(() => Promise.resolve(!alive(gdbPid)), "gdb gone");
    }),
});

Deno.test({
  name: "the daemon sweeps what a SIGKILLed analyze core left in analyzer.tempDir",
  ignore: skip,
  fn: () =>
    withTempDir(async (dir) => {
      const { child, stderr, gdbPid } = await startAnalysis(dir);
      child.kill("SIGKILL");
      await child.status;
      await stderr;
      // gdb was orphaned by the SIGKILL: stop it like a node's reaper would.
      if (alive(gdbPid)) Deno.kill(gdbPid, "SIGKILL");
      assertEquals(leftovers(`${dir}/tmp`).length, 1);
      // A live process's directory is never swept.
      const live = await Deno.makeTempDir({ dir: `${dir}/tmp`, prefix: "agent-core-1-" });
      const daemon = await startDaemon({
        dir,
        config: `kata: {enabled: false}
storage: {local: {path: ${dir}/store}}
analyzer: {tempDir: ${dir}/tmp}`,
      });
      let log = "";
      try {
        await waitFor(async () => (await fetch(`${daemon.base}/healthz`)).ok, "daemon");
        assertEquals(leftovers(`${dir}/tmp`), [live.slice(live.lastIndexOf("/") + 1)]);
      } finally {
        log = await daemon.stop();
      }
      assert(log.includes("removed temporary directories of stopped runs"), log);
    }),
});
