import { assert, assertEquals, withTempDir } from "../../tests/support/assert.ts";
import type { MetricFamily } from "../prom/mod.ts";
import { runCommand } from "../run.ts";
import {
  collectNode,
  type CollectServices,
  NODE_COLLECTORS,
  type NodePaths,
  selectCollectors,
} from "./mod.ts";

/** A host tree captured from a real machine (this project's CI host). */
const HOST = new URL("./testdata/host/", import.meta.url).pathname;

/**
 * What the daemon hands the collectors that read more than files: a quiet kernel log, and
 * the stand-in `nvidia-smi` replaying an A100 node.
 */
const SERVICES: CollectServices = {
  run: (command, options) =>
    runCommand(command, {
      ...options,
      env: {
        PATH: `${new URL("../../tests/support/bin", import.meta.url).pathname}:${
          Deno.env.get("PATH") ?? ""
        }`,
        NVIDIA_SMI_FIXTURE: new URL("./testdata/nvidia-smi/a100", import.meta.url).pathname,
      },
    }),
  kernelLog: {
    stats: () => ({
      records: 0,
      lost: 0,
      overruns: 0,
      oomKills: { none: 0, cpuset: 0, memory_policy: 0, memcg: 0 },
      segfaults: 0,
      hungTasks: 0,
    }),
    unavailable: () => undefined,
  },
};

function pathsAt(root: string): NodePaths {
  return { proc: `${root}proc`, sys: `${root}sys`, dev: `${root}dev`, rootfs: root };
}

function value(families: MetricFamily[], name: string, labels: Record<string, string> = {}) {
  const family = families.find((f) => f.name === name);
  return family?.samples.find((s) =>
    Object.entries(labels).every(([key, v]) => s.labels[key] === v)
  )?.value;
}

/** Copies the captured tree to `dir` and lets `edit` change it. */
async function hostCopy(dir: string, edit: (root: string) => Promise<void>): Promise<string> {
  const copy = async (from: string, to: string) => {
    await Deno.mkdir(to, { recursive: true });
    for await (const entry of Deno.readDir(from)) {
      if (entry.isDirectory) await copy(`${from}/${entry.name}`, `${to}/${entry.name}`);
      else await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
    }
  };
  await copy(HOST, dir);
  await edit(`${dir}/`);
  return `${dir}/`;
}

Deno.test("collectNode() reads a real host's files with node_exporter's names", async () => {
  const { families, problems } = await collectNode(NODE_COLLECTORS, pathsAt(HOST), SERVICES);
  assertEquals(value(families, "node_load1"), 3.18);
  assertEquals(value(families, "node_load15"), 3.13);
  // cpu0's user ticks are 295258: 2952.58 s at USER_HZ 100.
  assertEquals(value(families, "node_cpu_seconds_total", { cpu: "0", mode: "user" }), 2952.58);
  assertEquals(
    families.find((f) => f.name === "node_cpu_seconds_total")?.samples.length,
    2 * 8,
  );
  assertEquals(value(families, "node_memory_MemTotal_bytes"), 24684084 * 1024);
  assertEquals(value(families, "node_memory_HugePages_Total"), 0);
  assert(value(families, "node_memory_Active_anon_bytes") !== undefined, "Active(anon)");
  assert(value(families, "node_vmstat_pgfault")! > 0, "pgfault");
  assertEquals(value(families, "node_boot_time_seconds"), 1796133689);
  assert(value(families, "node_context_switches_total")! > 0, "ctxt");
  assert(value(families, "node_pressure_io_stalled_seconds_total")! > 0, "io stalled");
  assert(value(families, "node_filefd_maximum")! > 0, "filefd");
  for (const collector of NODE_COLLECTORS) {
    assertEquals(
      value(families, "node_scrape_collector_success", { collector: collector.name }),
      1,
      collector.name,
    );
  }
  // No cpufreq on this host: optional, not a problem.
  assertEquals([...problems], []);
});

Deno.test("a malformed line costs only its own value, with one warning naming the file", () =>
  withTempDir(async (dir) => {
    const root = await hostCopy(dir, async (root) => {
      const stat = await Deno.readTextFile(`${root}proc/stat`);
      await Deno.writeTextFile(
        `${root}proc/stat`,
        stat.replace(/^intr .*$/m, "intr garbage ###").replace(/^cpu1 .*$/m, "cpu1 x y"),
      );
      await Deno.writeTextFile(
        `${root}proc/meminfo`,
        "MemTotal:       1000 kB\nthis is not meminfo\nMemFree:         500 kB\n",
      );
      await Deno.remove(`${root}proc/pressure`, { recursive: true });
    });
    const { families, problems } = await collectNode(NODE_COLLECTORS, pathsAt(root), SERVICES);
    assertEquals(value(families, "node_intr_total"), undefined);
    assertEquals(value(families, "node_boot_time_seconds"), 1796133689);
    assert(value(families, "node_context_switches_total")! > 0, "ctxt kept");
    assertEquals(value(families, "node_cpu_seconds_total", { cpu: "1", mode: "user" }), undefined);
    assertEquals(value(families, "node_cpu_seconds_total", { cpu: "0", mode: "user" }), 2952.58);
    assertEquals(value(families, "node_memory_MemFree_bytes"), 500 * 1024);
    assertEquals(value(families, "node_scrape_collector_success", { collector: "pressure" }), 0);
    assertEquals(value(families, "node_scrape_collector_success", { collector: "system" }), 1);
    assertEquals([...problems.keys()].sort(), [
      `${root}proc/meminfo`,
      `${root}proc/pressure/cpu`,
      `${root}proc/pressure/io`,
      `${root}proc/pressure/memory`,
      `${root}proc/stat`,
      "collector pressure",
    ]);
    assertEquals(problems.get(`${root}proc/stat`), 'malformed line "cpu1 x y"');
  }));

Deno.test("selectCollectors() picks by name, all for every one", () => {
  assertEquals(selectCollectors(["load", "nope"]).map((c) => c.name), ["load"]);
  assertEquals(selectCollectors(["all"]).length, NODE_COLLECTORS.length);
});
