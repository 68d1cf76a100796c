/**
 * The node's own performance, node_exporter's way: one collector per source of the host
 * (`/proc`, `/sys`), each read when asked, with node_exporter's names, and the scrape's own
 * `node_scrape_collector_duration_seconds` and `node_scrape_collector_success` per collector.
 * A failing collector never fails the others.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import type { MetricFamily } from "../prom/mod.ts";
import { runCommand } from "../run.ts";
import type {
  CollectContext,
  CollectServices,
  NodeCollector,
  NodeOptions,
  NodePaths,
} from "./collector.ts";
import { cgroupsCollector } from "./cgroups.ts";
import { cpuCollector } from "./cpu.ts";
import { cpuinfoCollector, DEFAULT_CPU_FLAGS } from "./cpuinfo.ts";
import { diskCollector } from "./disk.ts";
import { createFilesystemCollector } from "./filesystem.ts";
import { gpuCollector } from "./gpu.ts";
import { kmsgCollector } from "./kmsg.ts";
import { loadCollector } from "./load.ts";
import { memoryCollector } from "./memory.ts";
import { createNetstatCollector } from "./netstat.ts";
import { networkCollector } from "./network.ts";
import { numaCollector } from "./numa.ts";
import { pressureCollector } from "./pressure.ts";
import { createProcessesCollector } from "./processes.ts";
import { systemCollector } from "./system.ts";
import { Families } from "./_read.ts";

export { createFilesystemCollector, FS_TYPES_EXCLUDE, MOUNT_POINTS_EXCLUDE } from "./filesystem.ts";
export { createProcessesCollector } from "./processes.ts";
export { DEFAULT_CPU_FLAGS } from "./cpuinfo.ts";
export { buildReport, type Snapshot, type StatsReport } from "./stats.ts";
export { DISK_DEVICE_EXCLUDE } from "./disk.ts";
export { createNetstatCollector, NETSTAT_FIELDS } from "./netstat.ts";
export {
  type KernelEvent,
  KernelLog,
  type KernelLogOptions,
  type KmsgFs,
  type KmsgSource,
  openKmsg,
} from "./kmsg.ts";
export type {
  Capabilities,
  CollectContext,
  CollectServices,
  ContainerDirectory,
  ContainerIdentity,
  KernelLogStats,
  NodeCollector,
  NodeOptions,
  NodePaths,
} from "./collector.ts";

/** The options' defaults (`node.topProcesses`, `node.cpuFlags` in the configuration). */
export const DEFAULT_NODE_OPTIONS: NodeOptions = {
  topProcesses: 10,
  cpuFlags: DEFAULT_CPU_FLAGS,
};

/**
 * Every collector, in the order `agent stats` shows them. The filesystem, netstat and
 * processes collectors keep state between collections: these are this process's instances (one daemon
 * or one `agent stats` per process); tests make their own with the factories.
 */
export const NODE_COLLECTORS: readonly NodeCollector[] = [
  loadCollector,
  cpuCollector,
  memoryCollector,
  systemCollector,
  pressureCollector,
  cpuinfoCollector,
  numaCollector,
  diskCollector,
  createFilesystemCollector(),
  networkCollector,
  createNetstatCollector(),
  createProcessesCollector(),
  cgroupsCollector,
  kmsgCollector,
  gpuCollector,
];

/** The collectors' names. */
export const NODE_COLLECTOR_NAMES: readonly string[] = NODE_COLLECTORS.map((c) => c.name);

/** What one collection gave: the families, and each collector's problems. */
export interface NodeCollection {
  families: MetricFamily[];
  /** Problems by source (a file), one entry per distinct problem. */
  problems: Map<string, string>;
}

/**
 * Runs `collectors` at once over the host at `paths`, tuned by `settings` (`node.*`) and with
 * the daemon's services (CRI metadata, the kernel log, the program runner), adding the
 * scrape's own families.
 *
 * @example Usage
 * ```ts ignore
 * const { families } = await collectNode(NODE_COLLECTORS, { proc: "/proc", sys: "/sys", dev: "/dev", rootfs: "/" });
 * ```
 */
export async function collectNode(
  collectors: readonly NodeCollector[],
  paths: NodePaths,
  settings: Partial<NodeOptions> & CollectServices = {},
): Promise<NodeCollection> {
  const { topProcesses, cpuFlags, run = runCommand, ...services } = settings;
  const options: NodeOptions = {
    topProcesses: topProcesses ?? DEFAULT_NODE_OPTIONS.topProcesses,
    cpuFlags: cpuFlags ?? DEFAULT_NODE_OPTIONS.cpuFlags,
  };
  const results = await Promise.all(collectors.map(async (collector) => {
    // Each collector's own problems, merged in the collectors' order below: two collectors
    // reading one file report in a set order, whichever finishes first.
    const problems = new Map<string, string>();
    const context: CollectContext = {
      ...services,
      paths,
      options,
      run,
      warn: (source, reason) => {
        if (!problems.has(source)) problems.set(source, reason);
      },
    };
    const started = performance.now();
    let families: MetricFamily[] = [];
    let success = 1;
    try {
      families = await collector.collect(context);
    } catch (error) {
      success = 0;
      context.warn(`collector ${collector.name}`, errorMessage(error));
    }
    return { families, problems, success, seconds: (performance.now() - started) / 1000 };
  }));
  const problems = new Map<string, string>();
  const scrape = new Families();
  results.forEach((result, index) => {
    for (const [source, reason] of result.problems) {
      if (!problems.has(source)) problems.set(source, reason);
    }
    const labels = { collector: collectors[index]!.name };
    scrape.add(
      "node_scrape_collector_duration_seconds",
      "node_exporter: Duration of a collector scrape.",
      "gauge",
      result.seconds,
      labels,
    );
    scrape.add(
      "node_scrape_collector_success",
      "node_exporter: Whether a collector succeeded.",
      "gauge",
      result.success,
      labels,
    );
  });
  return { families: [...results.flatMap((r) => r.families), ...scrape.list()], problems };
}

/** The collectors named in `names` (every one when `names` holds `all`). */
export function selectCollectors(names: readonly string[]): NodeCollector[] {
  if (names.includes("all")) return [...NODE_COLLECTORS];
  return NODE_COLLECTORS.filter((collector) => names.includes(collector.name));
}
