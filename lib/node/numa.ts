/**
 * `numa`: memory per NUMA node from `/sys/devices/system/node/nodeN/{meminfo,numastat}`
 * (node_exporter's meminfo_numa collector and its names, kept as it writes them:
 * `node_memory_numa_MemFree{node}` in bytes without a `_bytes` suffix, the allocation
 * counters as `node_memory_numa_numa_hit_total`). A node is skewed when one NUMA node runs
 * out while others have room, or when `numa_miss` climbs.
 *
 * @module
 */
import type { NodeCollector } from "./collector.ts";
import { Families, listDir, readTextNow, toNumber } from "./_read.ts";

/** node_memory_numa_*{node}. */
export const numaCollector: NodeCollector = {
  name: "numa",
  description: "memory and allocation hits and misses per NUMA node (/sys/devices/system/node)",
  capabilities: {
    reads: [
      "sys/devices/system/node/node*/meminfo",
      "sys/devices/system/node/node*/numastat",
    ],
  },
  async collect(context) {
    const root = `${context.paths.sys}/devices/system/node`;
    const nodes = (await listDir(root)).filter((e) => /^node\d+$/.test(e.name));
    if (nodes.length === 0) throw new Error(`no NUMA node in ${root}`);
    const out = new Families();
    for (const entry of nodes) {
      const node = entry.name.slice("node".length);
      const meminfoPath = `${root}/${entry.name}/meminfo`;
      const meminfo = readTextNow(context, meminfoPath);
      for (const line of meminfo?.split("\n") ?? []) {
        if (line.trim() === "") continue;
        // "Node 0 Active(anon):       1636 kB"
        const match = /^Node\s+\d+\s+([^:\s]+):\s+(\d+)(?:\s+(kB))?\s*$/.exec(line.trim());
        if (!match) {
          context.warn(meminfoPath, `malformed line "${line.trim().slice(0, 80)}"`);
          continue;
        }
        const field = match[1]!.replace(/\((.*)\)/, "_$1");
        out.add(
          `node_memory_numa_${field}`,
          `Memory information field ${field}.`,
          "gauge",
          Number(match[2]) * (match[3] === "kB" ? 1024 : 1),
          { node },
        );
      }
      const numastatPath = `${root}/${entry.name}/numastat`;
      const numastat = readTextNow(context, numastatPath);
      for (const line of numastat?.split("\n") ?? []) {
        if (line.trim() === "") continue;
        const [field, text, extra] = line.trim().split(/\s+/);
        const value = toNumber(text);
        if (field === undefined || value === undefined || extra !== undefined) {
          context.warn(numastatPath, `malformed line "${line.trim().slice(0, 80)}"`);
          continue;
        }
        out.add(
          `node_memory_numa_${field}_total`,
          `Memory information field ${field}_total.`,
          "counter",
          value,
          { node },
        );
      }
    }
    return out.list();
  },
};
