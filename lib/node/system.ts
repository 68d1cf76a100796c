/**
 * `system`: the kernel's counters and states of `/proc/stat` (context switches, interrupts,
 * forks, running and blocked processes, boot time) and the file handles of
 * `/proc/sys/fs/file-nr` (node_exporter's stat and filefd collectors). A malformed line
 * costs only its own value: one bad `intr` line does not lose `ctxt` and `btime`.
 *
 * @module
 */
import type { NodeCollector } from "./collector.ts";
import { Families, readText, toNumber } from "./_read.ts";

/** The `/proc/stat` lines exported, with their metric. */
const STAT_LINES: Record<string, [name: string, help: string, type: "counter" | "gauge"]> = {
  ctxt: ["node_context_switches_total", "Total number of context switches.", "counter"],
  intr: ["node_intr_total", "Total number of interrupts serviced.", "counter"],
  processes: ["node_forks_total", "Total number of forks.", "counter"],
  procs_running: ["node_procs_running", "Number of processes in runnable state.", "gauge"],
  procs_blocked: [
    "node_procs_blocked",
    "Number of processes blocked waiting for I/O to complete.",
    "gauge",
  ],
  btime: ["node_boot_time_seconds", "Node boot time, in unixtime.", "gauge"],
};

/** node_context_switches_total, node_intr_total, node_forks_total, node_procs_*, ... */
export const systemCollector: NodeCollector = {
  name: "system",
  description: "context switches, interrupts, forks, processes, boot time, file handles",
  capabilities: { reads: ["proc/stat", "proc/sys/fs/file-nr"] },
  async collect(context) {
    const out = new Families();
    const statPath = `${context.paths.proc}/stat`;
    const stat = await readText(context, statPath);
    for (const line of stat?.split("\n") ?? []) {
      const [key, first] = line.split(/\s+/, 2);
      const metric = key === undefined ? undefined : STAT_LINES[key];
      if (!metric) continue;
      const value = toNumber(first);
      if (value === undefined) {
        context.warn(statPath, `malformed ${key} line "${line.slice(0, 80)}"`);
        continue;
      }
      out.add(metric[0], metric[1], metric[2], value);
    }
    const fileNrPath = `${context.paths.proc}/sys/fs/file-nr`;
    const fileNr = await readText(context, fileNrPath);
    if (fileNr !== undefined) {
      const [allocated, , maximum] = fileNr.trim().split(/\s+/).map(toNumber);
      if (allocated === undefined || maximum === undefined) {
        context.warn(fileNrPath, `malformed "${fileNr.trim().slice(0, 80)}"`);
      } else {
        out.add(
          "node_filefd_allocated",
          "File descriptor statistics: allocated.",
          "gauge",
          allocated,
        );
        out.add("node_filefd_maximum", "File descriptor statistics: maximum.", "gauge", maximum);
      }
    }
    if (stat === undefined && fileNr === undefined) {
      throw new Error(`cannot read ${statPath} nor ${fileNrPath}`);
    }
    return out.list();
  },
};
