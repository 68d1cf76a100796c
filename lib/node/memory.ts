/**
 * `memory`: every field of `/proc/meminfo` (node_exporter's meminfo collector, the same
 * names: `Active(anon)` becomes `node_memory_Active_anon_bytes`) and the fault, paging,
 * swapping and OOM-kill counters of `/proc/vmstat` (its vmstat collector's default fields).
 *
 * @module
 */
import type { NodeCollector } from "./collector.ts";
import { Families, readText, toNumber } from "./_read.ts";

/** The `/proc/vmstat` fields exported, node_exporter's default `--collector.vmstat.fields`. */
export const VMSTAT_FIELDS = /^(oom_kill|pgpg|pswp|pg.*fault)/;

/** node_memory_*_bytes (and the page counts), node_vmstat_*. */
export const memoryCollector: NodeCollector = {
  name: "memory",
  description: "memory use (/proc/meminfo) and paging counters (/proc/vmstat)",
  capabilities: { reads: ["proc/meminfo", "proc/vmstat"] },
  async collect(context) {
    const out = new Families();
    const meminfoPath = `${context.paths.proc}/meminfo`;
    const meminfo = await readText(context, meminfoPath);
    for (const line of meminfo?.split("\n") ?? []) {
      if (line.trim() === "") continue;
      const match = /^([^:]+):\s+(\d+)(?:\s+(kB))?\s*$/.exec(line);
      if (!match) {
        context.warn(meminfoPath, `malformed line "${line.slice(0, 80)}"`);
        continue;
      }
      const field = match[1]!.replace(/\((.*)\)/, "_$1");
      const kib = match[3] === "kB";
      const name = `node_memory_${field}${kib ? "_bytes" : ""}`;
      out.add(
        name,
        `Memory information field ${field}${kib ? "_bytes" : ""}.`,
        "gauge",
        Number(match[2]) * (kib ? 1024 : 1),
      );
    }
    const vmstatPath = `${context.paths.proc}/vmstat`;
    const vmstat = await readText(context, vmstatPath);
    for (const line of vmstat?.split("\n") ?? []) {
      const [field, text] = line.trim().split(/\s+/);
      if (!field || !VMSTAT_FIELDS.test(field)) continue;
      const value = toNumber(text);
      if (value === undefined) {
        context.warn(vmstatPath, `malformed line "${line.slice(0, 80)}"`);
        continue;
      }
      out.add(
        `node_vmstat_${field}`,
        `/proc/vmstat information field ${field}.`,
        "untyped",
        value,
      );
    }
    if (meminfo === undefined && vmstat === undefined) {
      throw new Error(`cannot read ${meminfoPath} nor ${vmstatPath}`);
    }
    return out.list();
  },
};
