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
import type { CollectContext, CollectServices, NodeCollector, NodePaths } from "./collector.ts";
import { cgroupsCollector } from "./cgroups.ts";
import { cpuCollector } from "./cpu.ts";
import { gpuCollector } from "./gpu.ts";
import { kmsgCollector } from "./kmsg.ts";
import { loadCollector } from "./load.ts";
import { memoryCollector } from "./memory.ts";
import { pressureCollector } from "./pressure.ts";
import { systemCollector } from "./system.ts";
import { Families } from "./_read.ts";

export {
  type KernelEvent,
  KernelLog,
  type KernelLogOptions,
  type KernelLogStats,
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
  NodeCollector,
  NodePaths,
} from "./collector.ts";

/** Every collector, in the order `agent stats` shows them. */
export const NODE_COLLECTORS: readonly NodeCollector[] = [
  loadCollector,
  cpuCollector,
  memoryCollector,
  systemCollector,
  pressureCollector,
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
 * Runs `collectors` at once over the host at `paths`, with the daemon's `services` (CRI
 * metadata, the program runner), adding the scrape's own families.
 *
 * @example Usage
 * ```ts ignore
 * const { families } = await collectNode(NODE_COLLECTORS, { proc: "/proc", sys: "/sys", dev: "/dev", rootfs: "/" });
 * ```
 */
export async function collectNode(
  collectors: readonly NodeCollector[],
  paths: NodePaths,
  services: CollectServices = {},
): Promise<NodeCollection> {
  // Each collector's problems apart, merged in the collectors' order afterwards: two that
  // read the same file must not race for whose reason is told.
  const perCollector = collectors.map(() => new Map<string, string>());
  const scrape = new Families();
  const results = await Promise.all(collectors.map(async (collector, index) => {
    const own = perCollector[index]!;
    const context: CollectContext = {
      ...services,
      paths,
      warn: (source, reason) => {
        if (!own.has(source)) own.set(source, reason);
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
    const labels = { collector: collector.name };
    scrape.add(
      "node_scrape_collector_duration_seconds",
      "node_exporter: Duration of a collector scrape.",
      "gauge",
      (performance.now() - started) / 1000,
      labels,
    );
    scrape.add(
      "node_scrape_collector_success",
      "node_exporter: Whether a collector succeeded.",
      "gauge",
      success,
      labels,
    );
    return families;
  }));
  const problems = new Map<string, string>();
  for (const own of perCollector) {
    for (const [source, reason] of own) if (!problems.has(source)) problems.set(source, reason);
  }
  return { families: [...results.flat(), ...scrape.list()], problems };
}

/** The collectors named in `names` (every one when `names` holds `all`). */
export function selectCollectors(names: readonly string[]): NodeCollector[] {
  if (names.includes("all")) return [...NODE_COLLECTORS];
  return NODE_COLLECTORS.filter((collector) => names.includes(collector.name));
}
