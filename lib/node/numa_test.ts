import { assertEquals } from "../../tests/support/assert.ts";
import { collectNode } from "./mod.ts";
import { numaCollector } from "./numa.ts";
import { HOST, pathsAt, samples, value, withHost } from "./_testing.ts";

Deno.test("numaCollector reads meminfo and numastat per node with node_exporter's names", async () => {
  const { families, problems } = await collectNode([numaCollector], pathsAt(HOST));
  assertEquals(value(families, "node_memory_numa_MemTotal", { node: "0" }), 8480972 * 1024);
  assertEquals(value(families, "node_memory_numa_Active_anon", { node: "0" })! > 0, true);
  assertEquals(value(families, "node_memory_numa_HugePages_Total", { node: "0" }), 0);
  assertEquals(value(families, "node_memory_numa_numa_hit_total", { node: "0" })! > 0, true);
  assertEquals(
    families.find((f) => f.name === "node_memory_numa_numa_miss_total")?.type,
    "counter",
  );
  assertEquals([...problems], []);
});

Deno.test("numaCollector reads a second node, and skips a malformed line with one warning", () =>
  withHost(async (root) => {
    const node1 = `${root}sys/devices/system/node/node1`;
    await Deno.mkdir(node1);
    await Deno.writeTextFile(
      `${node1}/meminfo`,
      "Node 1 MemTotal:   \t 1024 kB\nNode 1 MemFree: lots\n\nNode 1 HugePages_Free:     3\n",
    );
    await Deno.writeTextFile(`${node1}/numastat`, "numa_hit 5\nnuma_miss 1 2\n");
    await Deno.writeTextFile(`${root}sys/devices/system/node/possible`, "0-1\n");
    const { families, problems } = await collectNode([numaCollector], pathsAt(root));
    assertEquals(value(families, "node_memory_numa_MemTotal", { node: "1" }), 1024 * 1024);
    assertEquals(value(families, "node_memory_numa_HugePages_Free", { node: "1" }), 3);
    assertEquals(value(families, "node_memory_numa_MemFree", { node: "1" }), undefined);
    assertEquals(value(families, "node_memory_numa_numa_hit_total", { node: "1" }), 5);
    assertEquals(samples(families, "node_memory_numa_MemTotal").length, 2);
    assertEquals([...problems], [
      [`${node1}/meminfo`, 'malformed line "Node 1 MemFree: lots"'],
      [`${node1}/numastat`, 'malformed line "numa_miss 1 2"'],
    ]);
  }));

Deno.test("numaCollector fails where the kernel has no NUMA nodes", () =>
  withHost(async (root) => {
    await Deno.remove(`${root}sys/devices/system/node`, { recursive: true });
    const { families } = await collectNode([numaCollector], pathsAt(root));
    assertEquals(value(families, "node_scrape_collector_success", { collector: "numa" }), 0);
  }));
