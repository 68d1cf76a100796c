/**
 * The node's own performance on `/metrics`: the enabled collectors of `lib/node` (node
 * `node.collectors`), read over the host's trees (`node.procPath`...) when `/metrics` is
 * rendered, node_exporter's way, at most once a second whatever the number of scrapes. A
 * problem with a source (a missing file, a malformed line) is logged once.
 *
 * The cgroups collector's `container_*` families go out through {@linkcode Feature.families},
 * merged with the Kata sandboxes' series of the same names; the pods' and containers' names
 * come from the CRI runtime (`kata.runtimeEndpoint`), asked when a container appears.
 *
 * The kmsg collector's kernel log is read continuously (a supervised stage): each crash it
 * logs goes to `kernelCrashes` for core correlation, with the pod and container of the
 * process's cgroup; OOM kills and hung tasks are logged.
 *
 * @module
 */
import { type KernelCrashes, parseCgroup } from "../../lib/collect/mod.ts";
import { ContainerMetadataCache, CriClient } from "../../lib/cri/mod.ts";
import {
  collectNode,
  type CollectServices,
  type KernelEvent,
  KernelLog,
  type NodeCollector,
  selectCollectors,
} from "../../lib/node/mod.ts";
import { type MetricFamily, serializePrometheusText } from "../../lib/prom/mod.ts";
import { type Feature, type FeatureContext, superviseStage } from "../feature.ts";

/** How long one collection serves the renderings that follow it. */
const MAX_AGE_MS = 1000;

/**
 * Distinct problems remembered so as to log each once; past this many (a host whose mounts
 * or devices come and go), the memory starts over and a problem may be logged again.
 */
const MAX_REPORTED = 1000;

/** One collection, split as `/metrics` takes it. */
interface Collected {
  /** `node_*` families, as text. */
  text: string;
  /** `container_*` families, merged by the route with the sandboxes'. */
  containers: MetricFamily[];
}

/** Creates the node feature; the kernel's crash lines go to `channels.kernelCrashes`. */
export function nodeFeature(
  context: FeatureContext,
  channels: { kernelCrashes: KernelCrashes },
): Feature {
  const { config, log, signal } = context;
  const collectors: NodeCollector[] = selectCollectors(config.node.collectors);
  const paths = {
    proc: config.node.procPath,
    sys: config.node.sysPath,
    dev: config.node.devPath,
    rootfs: config.node.rootfsPath,
  };
  const options = {
    topProcesses: config.node.topProcesses,
    cpuFlags: config.node.cpuFlags,
  };
  const reported = new Set<string>();
  let last: { at: number; collected: Promise<Collected> } | undefined;
  let cri: CriClient | undefined;
  let containers: ContainerMetadataCache | undefined;
  let kernelStage: Promise<void> | undefined;
  const services: CollectServices = {
    commandTimeoutMs: config.node.commandTimeout,
    nvidiaSmi: config.node.nvidiaSmiPath,
    // Kata's side serves its sandboxes' container_* series: the cgroups collector leaves
    // those sandboxes out.
    ...(config.kata.enabled ? { kataSandboxRoots: config.kata.sandboxRoots } : {}),
  };
  const collect = (): Promise<Collected> => {
    const now = Date.now();
    if (last === undefined || now - last.at >= MAX_AGE_MS) {
      const collected = collectNode(collectors, paths, { ...options, ...services }).then(
        ({ families, problems }) => {
          for (const [source, reason] of problems) {
            const key = `${source}: ${reason}`;
            if (reported.has(key)) continue;
            if (reported.size >= MAX_REPORTED) reported.clear();
            reported.add(key);
            log.warn("node collector problem", { source, reason });
          }
          const node = families.filter((f) => !f.name.startsWith("container_"));
          const containers = families.filter((f) => f.name.startsWith("container_"));
          return { text: serializePrometheusText(node), containers };
        },
      );
      last = { at: now, collected };
    }
    return last.collected;
  };
  return {
    name: "node",
    title: "node collectors",
    enabled: collectors.length > 0,
    start() {
      // Pods' and containers' names, for the cgroups' labels and the GPU processes'.
      if (collectors.some((c) => c.name === "cgroups" || c.name === "gpu")) {
        cri = new CriClient(config.kata.runtimeEndpoint);
        containers = new ContainerMetadataCache({
          client: cri,
          minIntervalMs: config.kata.criSyncInterval,
          logger: log,
          signal,
        });
        services.containers = containers;
      }
      if (collectors.some((c) => c.name === "kmsg")) {
        const kernelLog = new KernelLog({
          path: `${paths.dev}/kmsg`,
          proc: paths.proc,
          intervalMs: config.node.interval,
          bufferRecords: config.node.kmsgBufferRecords,
          log,
        });
        services.kernelLog = kernelLog;
        kernelLog.events.subscribe((event) => onKernelEvent(event, context, channels));
        kernelStage = superviseStage(context, "kernel-log", async (stageSignal) => {
          await kernelLog.run(stageSignal);
          // A log it may not read stays so: said once, not retried.
          if (kernelLog.unavailable() !== undefined) await aborted(stageSignal);
        });
      }
      log.info("collecting node metrics", {
        collectors: collectors.map((c) => c.name).join(","),
        proc: paths.proc,
        sys: paths.sys,
      });
      return Promise.resolve();
    },
    async stop() {
      await kernelStage;
      await containers?.settled();
      await cri?.close();
    },
    ready: () => true,
    exposition: async () => (await collect()).text,
    families: async () => (await collect()).containers,
  };
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** Hands a crash to core correlation; logs OOM kills and hung tasks as they happen. */
function onKernelEvent(
  event: KernelEvent,
  context: FeatureContext,
  channels: { kernelCrashes: KernelCrashes },
): void {
  switch (event.kind) {
    case "crash": {
      const cgroup = event.cgroup ? parseCgroup(event.cgroup) : {};
      channels.kernelCrashes.record({
        time: event.time,
        pid: event.pid,
        comm: event.comm,
        what: event.what,
        ...(cgroup.podUid ? { cgroup } : {}),
        line: event.text,
      });
      return;
    }
    case "oom-kill": {
      if (!event.live) return;
      const cgroup = event.memcg ? parseCgroup(`0::${event.memcg}`) : {};
      context.log.info("the kernel killed a process for want of memory", {
        pid: event.pid,
        comm: event.comm,
        constraint: event.constraint,
        podUid: cgroup.podUid ?? "",
        containerId: cgroup.containerId ?? "",
      });
      return;
    }
    case "hung-task":
      if (event.live) {
        context.log.warn("the kernel reports a task blocked", {
          pid: event.pid,
          comm: event.comm,
          seconds: event.seconds,
        });
      }
      return;
  }
}
