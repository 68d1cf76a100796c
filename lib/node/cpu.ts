/**
 * `cpu`: time per CPU and mode from `/proc/stat` (node_exporter's cpu collector), and the
 * frequencies and throttles of `/sys/devices/system/cpu` where the kernel has them (its
 * cpufreq and thermal_throttle parts).
 *
 * @module
 */
import type { NodeCollector } from "./collector.ts";
import { Families, listDir, readText, toNumber } from "./_read.ts";

/** `/proc/stat` counts time in USER_HZ ticks, 100 a second on every Linux architecture. */
export const USER_HZ = 100;

const MODES = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"] as const;
const GUEST_MODES = ["user", "nice"] as const;

/** node_cpu_seconds_total{cpu,mode}, node_cpu_guest_seconds_total, frequencies, throttles. */
export const cpuCollector: NodeCollector = {
  name: "cpu",
  description: "time per CPU and mode (/proc/stat), frequency and throttles (/sys)",
  capabilities: {
    reads: ["proc/stat", "sys/devices/system/cpu"],
    optional: [
      "sys/devices/system/cpu/cpu*/cpufreq",
      "sys/devices/system/cpu/cpu*/thermal_throttle",
    ],
  },
  async collect(context) {
    const path = `${context.paths.proc}/stat`;
    const text = await readText(context, path);
    if (text === undefined) throw new Error(`cannot read ${path}`);
    const out = new Families();
    for (const line of text.split("\n")) {
      const match = /^cpu(\d+)\s+(.*)$/.exec(line);
      if (!match) continue;
      const cpu = match[1]!;
      const ticks = match[2]!.trim().split(/\s+/).map(toNumber);
      if (ticks.length < 4 || ticks.slice(0, 4).some((t) => t === undefined)) {
        context.warn(path, `malformed line "${line.slice(0, 80)}"`);
        continue;
      }
      MODES.forEach((mode, index) => {
        const value = ticks[index];
        if (value === undefined) return;
        out.add(
          "node_cpu_seconds_total",
          "Seconds the CPUs spent in each mode.",
          "counter",
          value / USER_HZ,
          { cpu, mode },
        );
      });
      GUEST_MODES.forEach((mode, index) => {
        const value = ticks[8 + index];
        if (value === undefined) return;
        out.add(
          "node_cpu_guest_seconds_total",
          "Seconds the CPUs spent in guests (VMs) for each mode.",
          "counter",
          value / USER_HZ,
          { cpu, mode },
        );
      });
    }
    await cpufreq(context, out);
    return out.list();
  },
};

async function cpufreq(context: Parameters<NodeCollector["collect"]>[0], out: Families) {
  const root = `${context.paths.sys}/devices/system/cpu`;
  for (const entry of await listDir(root)) {
    const cpu = /^cpu(\d+)$/.exec(entry.name)?.[1];
    if (cpu === undefined) continue;
    const read = async (file: string) =>
      toNumber(await readText(context, `${root}/${entry.name}/${file}`, { optional: true }));
    for (
      const [file, name, help] of [
        [
          "cpufreq/scaling_cur_freq",
          "node_cpu_scaling_frequency_hertz",
          "Current scaled CPU thread frequency in hertz.",
        ],
        [
          "cpufreq/scaling_max_freq",
          "node_cpu_scaling_frequency_max_hertz",
          "Maximum scaled CPU thread frequency in hertz.",
        ],
        [
          "cpufreq/scaling_min_freq",
          "node_cpu_scaling_frequency_min_hertz",
          "Minimum scaled CPU thread frequency in hertz.",
        ],
      ] as const
    ) {
      const khz = await read(file);
      if (khz !== undefined) out.add(name, help, "gauge", khz * 1000, { cpu });
    }
    const throttles = await read("thermal_throttle/core_throttle_count");
    if (throttles !== undefined) {
      out.add(
        "node_cpu_core_throttles_total",
        "Number of times this CPU core has been throttled.",
        "counter",
        throttles,
        { cpu },
      );
    }
  }
}
