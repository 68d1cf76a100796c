import { assert, assertEquals, withTempDir } from "../../tests/support/assert.ts";
import { serializePrometheusText } from "../prom/mod.ts";
import { collectNode, NODE_COLLECTORS, selectCollectors } from "./mod.ts";
import {
  freshCollectors,
  HOST,
  hostCopy,
  hostServices,
  pathsAt,
  samples,
  value,
} from "./_testing.ts";
import { pageSize } from "./_read.ts";

const GOLDEN = new URL("./testdata/host.prom", import.meta.url);

Deno.test("collectNode() reads a real host's files with node_exporter's names", async () => {
  const { families, problems } = await collectNode(
    freshCollectors(),
    pathsAt(HOST),
    hostServices(HOST),
  );
  assertEquals(value(families, "node_load1"), 3.18);
  assertEquals(value(families, "node_load15"), 3.13);
  // cpu0's user ticks are 295258: 2952.58 s at USER_HZ 100.
  assertEquals(value(families, "node_cpu_seconds_total", { cpu: "0", mode: "user" }), 2952.58);
  assertEquals(
    samples(families, "node_cpu_seconds_total").length,
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

/** The collectors of the framework's first commit, whose fixture files this test edits. */
const OLD = ["load", "cpu", "memory", "system", "pressure"];

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
    const { families, problems } = await collectNode(selectCollectors(OLD), pathsAt(root));
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

Deno.test({
  name: "collectNode() renders the captured host as testdata/host.prom (UPDATE_GOLDEN=1 writes it)",
  // The sockets' and processes' memory is counted in pages: the golden file has 4 KiB ones.
  ignore: pageSize() !== 4096,
  fn: async () => {
    const { families } = await collectNode(freshCollectors(), pathsAt(HOST), hostServices(HOST));
    const text = serializePrometheusText(
      families.filter((f) => f.name !== "node_scrape_collector_duration_seconds"),
    ).replaceAll(HOST, "/HOST/");
    if (Deno.env.get("UPDATE_GOLDEN") === "1") await Deno.writeTextFile(GOLDEN, text);
    assertEquals(text, await Deno.readTextFile(GOLDEN));
  },
});
