/**
 * Corrupt compressed cores (a flipped byte in gzip, zstd and lz4 data, garbage inside a
 * zstd frame) and broken plain ones: `analyze core` names the file and the problem (exit 2,
 * no temporary file left), and the daemon quarantines each one and goes on serving and
 * collecting, then and after a restart.
 */
import {
  assert,
  assertEquals,
  assertStringIncludes,
  withSmallDisk,
  withTempDir,
} from "./support/assert.ts";
import { runAgent } from "./support/cli.ts";
import { haveCommand, haveGcc, haveGdb, sampleCores, skipNotice } from "./support/cores.ts";
import { startDaemon } from "./support/daemon.ts";
import { waitFor } from "./support/net.ts";
import type { CoreRecord } from "../lib/store/core_index.ts";

const skip = skipNotice("gcc", haveGcc()) || skipNotice("zstd", haveCommand("zstd")) ||
  skipNotice("lz4", haveCommand("lz4")) || skipNotice("gzip", haveCommand("gzip"));

async function compress(tool: "zstd" | "lz4", input: string, output: string) {
  const args = tool === "zstd" ? ["-q", "-f", input, "-o", output] : ["-q", "-f", input, output];
  const out = await new Deno.Command(tool, { args }).output();
  if (!out.success) throw new Error(`${tool} failed: ${new TextDecoder().decode(out.stderr)}`);
}

/** Flips the byte `fromEnd` bytes before the end (1: the last one). */
async function flip(path: string, fromEnd: number): Promise<void> {
  const bytes = await Deno.readFile(path);
  bytes[bytes.length - fromEnd]! ^= 0xff;
  await Deno.writeFile(path, bytes);
}

/** Corrupt cores by name, made from a real one in `dir`. */
async function corruptCores(dir: string): Promise<string[]> {
  const { segv } = await sampleCores();
  const made = `${dir}/made`;
  await Deno.mkdir(made, { recursive: true });
  // A content checksum that does not match: found at the end of the frame.
  await compress("zstd", segv.core, `${made}/core.1.zst`);
  await flip(`${made}/core.1.zst`, 1);
  // Garbage inside the frame.
  await compress("zstd", segv.core, `${made}/core.2.zst`);
  const zst = await Deno.readFile(`${made}/core.2.zst`);
  zst.fill(0xff, 20, 60);
  await Deno.writeFile(`${made}/core.2.zst`, zst);
  const gz = await new Deno.Command("gzip", { args: ["-c", segv.core], stdout: "piped" }).output();
  await Deno.writeFile(`${made}/core.3.gz`, gz.stdout);
  await flip(`${made}/core.3.gz`, 5);
  await compress("lz4", segv.core, `${made}/core.4.lz4`);
  await flip(`${made}/core.4.lz4`, 2);
  const plain = await Deno.readFile(segv.core);
  await Deno.writeFile(`${made}/core.5`, plain.subarray(0, plain.length >> 1));
  await Deno.writeTextFile(`${made}/core.6`, "not a core at all");
  return [...Deno.readDirSync(made)].map((e) => `${made}/${e.name}`).sort();
}

function agentTemporaries(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith("agent-"));
}

Deno.test({
  name: "analyze core names a corrupt compressed core, exit 2, and leaves no temporary file",
  ignore: skip || skipNotice("gdb", haveGdb()),
  fn: () =>
    withTempDir(async (dir) => {
      const [zstdChecksum, zstdGarbage, gzipCrc, lz4Checksum] = await corruptCores(dir);
      const { segv } = await sampleCores();
      await Deno.mkdir(`${dir}/tmp`);
      for (const core of [zstdChecksum!, zstdGarbage!, gzipCrc!, lz4Checksum!]) {
        const run = await runAgent(["analyze", "core", core, "--exe", segv.exe], {
          env: { TMPDIR: `${dir}/tmp` },
        });
        assertEquals(run.code, 2, run.stderr);
        assertEquals(run.stderr.trim().split("\n").length, 1, run.stderr);
        assertStringIncludes(run.stderr, `"${core}"`);
        assert(!run.stderr.includes("Uncaught"), run.stderr);
        assertEquals(agentTemporaries(`${dir}/tmp`), []);
      }
    }),
});

Deno.test({
  name: "the daemon quarantines corrupt cores of every compression and goes on collecting",
  ignore: skip,
  fn: () =>
    withTempDir(async (dir) => {
      const corrupt = await corruptCores(dir);
      const { abort } = await sampleCores();
      await Deno.mkdir(`${dir}/in`);
      const config = `${dir}/agent.yaml`;
      await Deno.writeTextFile(
        config,
        `stateDir: ${dir}/state
collector:
  paths: [${dir}/in]
  settleInterval: 200ms
  rescanInterval: 500ms
storage:
  local: {path: ${dir}/store}
kata:
  enabled: false
analyzer:
  valueThreshold: 1
`,
      );
      for (const core of corrupt) {
        await Deno.copyFile(core, `${dir}/in/${core.slice(core.lastIndexOf("/") + 1)}`);
      }
      const start = () => startDaemon({ dir, configFile: config });
      const cores = async (base: string): Promise<CoreRecord[]> =>
        await (await fetch(`${base}/cores`)).json();

      const first = await start();
      try {
        await waitFor(
          async () => {
            const listed = await cores(first.base);
            return listed.length === corrupt.length &&
              listed.every((c) => c.state === "quarantined");
          },
          "every corrupt core quarantined",
          60_000,
        );
        for (const record of await cores(first.base)) {
          assertEquals(record.attempts, 1);
          assertStringIncludes(record.error ?? "", `"${record.path}"`);
        }
        assertEquals(await (await fetch(`${first.base}/healthz`)).text(), "ok\n");
        // Still collecting: a good core dropped now is stored.
        await Deno.copyFile(abort.core, `${dir}/in/core.77`);
        await waitFor(
          async () => (await cores(first.base)).some((c) => c.state === "stored"),
          "the good core stored",
          60_000,
        );
      } finally {
        const log = await first.stop();
        assert(!log.includes("Uncaught"), log);
      }

      // A restart leaves the quarantined cores alone: same attempts, files kept.
      const second = await start();
      try {
        await waitFor(async () => (await fetch(`${second.base}/readyz`)).ok, "readiness");
        await waitFor(async () => {
          const metrics = await (await fetch(`${second.base}/metrics`)).text();
          return /agent_cores_indexed\{state="quarantined"\} 6/.test(metrics);
        }, "the quarantined cores counted");
        const listed = await cores(second.base);
        assertEquals(
          listed.filter((c) => c.state === "quarantined").map((c) => c.attempts),
          corrupt.map(() => 1),
        );
      } finally {
        await second.stop();
      }
      const left = [...Deno.readDirSync(`${dir}/in`)].map((e) => e.name).sort();
      assertEquals(left, corrupt.map((c) => c.slice(c.lastIndexOf("/") + 1)).sort());
    }),
});

Deno.test({
  name: "a zstd bomb (a core followed by 3 GB of zeros) is unpacked no further than its headers",
  ignore: skip || skipNotice("gdb", haveGdb()),
  fn: () =>
    withTempDir(async (dir) => {
      const { segv } = await sampleCores();
      const bomb = `${dir}/core.9.zst`;
      const made = await new Deno.Command("bash", {
        args: ["-c", 'cat "$1"; head -c 3G /dev/zero', "bash", segv.core],
        stdout: "piped",
      }).spawn();
      const zstd = new Deno.Command("zstd", { args: ["-q", "-1", "-o", bomb], stdin: "piped" })
        .spawn();
      await made.stdout.pipeTo(zstd.stdin);
      assert((await zstd.status).success);
      assert((await Deno.stat(bomb)).size < 1 << 20, "the bomb is small");
      // Unpacked into a 64 MiB disk: the 3 GB would not fit.
      await withSmallDisk(`${dir}/tmp`, "64m", async () => {
        const run = await runAgent(["analyze", "core", bomb, "--exe", segv.exe, "-o", "json"], {
          env: { AGENT_ANALYZER_TEMP_DIR: `${dir}/tmp` },
        });
        assertEquals(run.code, 0, run.stderr);
        const analysis = JSON.parse(run.stdout);
        assertEquals(analysis.gdb.used, true);
        assertStringIncludes(analysis.crashReason, "in deref() at segv.c:5");
        assert(
          analysis.warnings.some((w: string) => w.includes("goes on past")),
          analysis.warnings.join("\n"),
        );
        assertEquals(agentTemporaries(`${dir}/tmp`), []);
      });
      // Stored as gzip, it would be unpacked to be compressed again: refused, kept, quarantined.
      await Deno.mkdir(`${dir}/in`);
      await Deno.rename(bomb, `${dir}/in/core.9.zst`);
      const config = `${dir}/agent.yaml`;
      await Deno.writeTextFile(
        config,
        `stateDir: ${dir}/state
collector: {paths: [${dir}/in]}
storage: {local: {path: ${dir}/store}, compression: gzip}
analyzer: {useGdb: false, valueThreshold: 1}
`,
      );
      const collect = await runAgent(["--config", config, "collect", "-o", "json"]);
      assertEquals(collect.code, 2, collect.stderr);
      const [result] = JSON.parse(collect.stdout);
      assertEquals(result.state, "quarantined");
      assertStringIncludes(result.error, "unpacks to more than");
      assertEquals([...Deno.readDirSync(`${dir}/in`)].map((e) => e.name), ["core.9.zst"]);
    }),
});
