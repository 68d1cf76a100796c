/**
 * Several collectors over one core directory and one state database: `agent collect` runs
 * started together, and the daemon with `agent collect` runs beside it. Each core is claimed
 * in the index by one of them at a time, so every core is stored exactly once, none is lost
 * and no collector fails on another's work.
 */
import { assert, assertEquals, withTempDir } from "./support/assert.ts";
import { type CliRun, json, runAgent } from "./support/cli.ts";
import { haveGcc, sampleCores, skipNotice } from "./support/cores.ts";
import { startDaemon, type TestDaemon } from "./support/daemon.ts";
import { filesUnder } from "./support/files.ts";
import { waitFor } from "./support/net.ts";
import type { CollectResult } from "../cli/collect.ts";
import type { CoreRecord } from "../lib/store/core_index.ts";

const noGcc = skipNotice("gcc", haveGcc());

/** The number of cores each run races over. */
const CORES = 150;

async function setUp(dir: string, cores = CORES): Promise<string> {
  const { segv } = await sampleCores();
  await Deno.mkdir(`${dir}/in`, { recursive: true });
  for (let i = 0; i < cores; i++) await Deno.copyFile(segv.core, `${dir}/in/core.${1000 + i}`);
  const config = `${dir}/agent.yaml`;
  // Every core is kept (maxPerGroup 0): identical crashes would otherwise be trimmed.
  await Deno.writeTextFile(
    config,
    `stateDir: ${dir}/state
collector:
  paths: [${dir}/in]
  settleInterval: 200ms
  rescanInterval: 500ms
storage:
  local: {path: ${dir}/store}
  maxPerGroup: 0
  retention: {interval: 1h}
kata:
  enabled: false
analyzer:
  useGdb: false
  valueThreshold: 5
`,
  );
  return config;
}

/** Checks the store holds each of the cores once, with its metadata, and nothing else. */
function assertStoredOnce(dir: string): void {
  assertEquals(filesUnder(`${dir}/in`), [], "every original is removed after it is stored");
  const stored = filesUnder(`${dir}/store`);
  const cores = stored.filter((f) => f.endsWith(".core.gz"));
  assertEquals(cores.length, CORES, `stored: ${stored.slice(0, 5).join(", ")}…`);
  assertEquals(stored.length, 2 * CORES, "one .json beside each core, no temporary files");
  for (const core of cores) assert(stored.includes(`${core}.json`), `${core} has no metadata`);
}

Deno.test({
  name: "three agent collect runs over the same cores store every core exactly once",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const config = await setUp(dir);
      const runs = await Promise.all(
        [1, 2, 3].map(() =>
          runAgent(["--config", config, "collect", "-o", "json"], { timeoutMs: 180_000 })
        ),
      );
      for (const run of runs) {
        assertEquals(run.code, 0, run.stderr);
        assert(!run.stderr.includes("Internal error"), run.stderr);
      }
      const results = runs.flatMap((run) => json<CollectResult[]>(run));
      const stored = results.filter((r) => r.outcome === "stored").map((r) => r.path);
      assertEquals(stored.length, CORES, "each core is stored by exactly one run");
      assertEquals(new Set(stored).size, CORES);
      assertStoredOnce(dir);
      const again = await runAgent(["--config", config, "collect", "-o", "json"]);
      assertEquals(json<CollectResult[]>(again), []);
    }),
});

/** Waits until the daemon's `/cores` lists `count` cores, all stored, originals removed. */
async function storedAll(daemon: TestDaemon, count: number): Promise<void> {
  await waitFor(
    async () => {
      const response = await fetch(`${daemon.base}/cores?limit=1000`).catch(() => undefined);
      const cores: CoreRecord[] = response?.ok ? await response.json() : [];
      return cores.length === count &&
        cores.every((c) => c.state === "stored" && c.originalDeleted);
    },
    `${count} stored cores on /cores`,
    120_000,
  );
}

Deno.test({
  name: "the daemon and two agent collect runs over the same cores store every core once",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const config = await setUp(dir);
      const daemon = await startDaemon({ dir, configFile: config });
      let runs: CliRun[] = [];
      let log = "";
      try {
        runs = await Promise.all(
          [1, 2].map(() =>
            runAgent(["--config", config, "collect", "-o", "json"], { timeoutMs: 180_000 })
          ),
        );
        await storedAll(daemon, CORES);
      } finally {
        log = await daemon.stop();
      }
      for (const run of runs) assertEquals(run.code, 0, run.stderr);
      assert(!/Uncaught|Internal error|core failed/.test(log), log);
      assertStoredOnce(dir);
    }),
});

Deno.test({
  name: "the daemon and 20 core_pattern pipe helpers at once store every piped core once",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const config = await setUp(dir, 0);
      const { segv } = await sampleCores();
      const daemon = await startDaemon({ dir, configFile: config });
      let runs: CliRun[] = [];
      let log = "";
      try {
        // What the kernel runs for 20 crashes at once: %P %s %t %e %h, the core on stdin.
        runs = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            runAgent([
              "--config",
              config,
              "collect",
              "--from-stdin",
              `${5000 + i}`,
              "11",
              "1763773400",
              "segv",
              `q-${i}`,
            ], { stdinFile: segv.core, timeoutMs: 180_000 })),
        );
        await storedAll(daemon, 20);
      } finally {
        log = await daemon.stop();
      }
      for (const run of runs) assertEquals(run.code, 0, run.stderr);
      assert(!/Uncaught|Internal error|core failed/.test(log), log);
      assertEquals(
        filesUnder(`${dir}/state/spool`),
        [],
        "the spool is empty, no partial file left",
      );
      const stored = filesUnder(`${dir}/store`);
      assertEquals(stored.filter((f) => f.endsWith(".core.gz")).length, 20, stored.join("\n"));
      assertEquals(stored.length, 40);
    }),
});
