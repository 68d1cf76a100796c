/**
 * The process watch, on when `processWatch.enabled`: every `processWatch.interval` the node's
 * processes (under `node.procPath`) are checked against the built-in patterns (less
 * `processWatch.disable`) and those of `processWatch.patternsFile`; each finding is logged
 * once, with its pod and container, and counted in `agent_process_findings_total`. A pod is
 * named from the pod watch (Milvus pods, with their containers' names) or else from the CRI
 * runtime's sandboxes (any pod; the container by its id).
 *
 * @module
 */
import type { ClusterReader } from "../../lib/collect/mod.ts";
import { ConfigError, errorMessage } from "../../lib/errors.ts";
import { CriClient, type PodSandbox } from "../../lib/cri/mod.ts";
import { sleep } from "../../lib/pool.ts";
import {
  BUILTIN_PATTERNS,
  loadPatterns,
  type PodResolver,
  ProcessWatch,
} from "../../lib/procwatch/mod.ts";
import { serializePrometheusText } from "../../lib/prom/mod.ts";
import { type Feature, type FeatureContext, superviseStage } from "../feature.ts";

/** How long the runtime's list of sandboxes serves the lookups that follow it. */
const SANDBOXES_MAX_AGE_MS = 30_000;

/** Creates the process watch feature. */
export function processesFeature(
  context: FeatureContext,
  channels: { cluster: ClusterReader },
): Feature {
  const { config, log } = context;
  const settings = config.processWatch;
  let watch: ProcessWatch | undefined;
  let cri: CriClient | undefined;
  let running: Promise<unknown> = Promise.resolve();
  return {
    name: "processes",
    title: "process watch",
    enabled: settings.enabled,
    async start() {
      const unknown = settings.disable.filter((n) => !BUILTIN_PATTERNS.some((p) => p.name === n));
      if (unknown.length > 0) {
        throw new ConfigError(
          `Invalid configuration: processWatch.disable: no built-in pattern ${
            unknown.map((n) => JSON.stringify(n)).join(", ")
          } (they are ${BUILTIN_PATTERNS.map((p) => p.name).join(", ")})`,
        );
      }
      const patterns = [
        ...BUILTIN_PATTERNS.filter((p) => !settings.disable.includes(p.name)),
        ...(settings.patternsFile ? await loadPatterns(settings.patternsFile) : []),
      ];
      cri = new CriClient(config.kata.runtimeEndpoint, { timeoutMs: 2000 });
      const reported = new Set<string>();
      const current = new ProcessWatch({
        proc: config.node.procPath,
        patterns,
        pods: podResolver(channels.cluster, cri),
        warn: (source, reason) => {
          const key = `${source}: ${reason}`;
          if (reported.has(key)) return;
          reported.add(key);
          log.warn("process watch cannot read everything", { source, reason });
        },
      });
      watch = current;
      log.info("watching the node's processes", {
        patterns: patterns.map((p) => p.name).join(","),
        interval: `${settings.interval / 1000}s`,
      });
      running = superviseStage(context, "processes", async (signal) => {
        while (!signal.aborted) {
          try {
            for (const report of await current.scan()) {
              const { pattern, process, detail, pod } = report;
              log.warn("suspicious process", {
                pattern: pattern.name,
                what: pattern.description,
                detail,
                pid: process.pid,
                comm: process.comm,
                exe: process.exe,
                cmdline: process.cmdline.slice(0, 256),
                uid: process.realUid,
                euid: process.effectiveUid,
                namespace: pod?.namespace ?? "",
                pod: pod?.pod ?? "",
                container: pod?.container ?? "",
              });
            }
          } catch (error) {
            log.warn("process scan failed", { error: errorMessage(error) });
          }
          await sleep(settings.interval, signal);
        }
      }, "processes");
      context.metrics.up.set({ feature: "processes" }, 1);
    },
    async stop() {
      await running;
      await cri?.close();
    },
    ready: () => true,
    exposition: () => Promise.resolve(watch ? serializePrometheusText(watch.families()) : ""),
  };
}

/** Names pods from the pod watch, else from the runtime's sandboxes (listed at most every 30 s). */
function podResolver(cluster: ClusterReader, cri: CriClient): PodResolver {
  let sandboxes: { at: number; list: Promise<PodSandbox[]> } | undefined;
  return {
    async lookup(podUid, containerId) {
      const known = cluster.pods().find((p) => p.uid === podUid);
      if (known) {
        const container = known.containers.find((c) => c.id === containerId)?.name ??
          containerId?.slice(0, 12) ?? "";
        return { namespace: known.namespace, pod: known.name, container };
      }
      if (!sandboxes || Date.now() - sandboxes.at > SANDBOXES_MAX_AGE_MS) {
        sandboxes = { at: Date.now(), list: cri.listPodSandboxes() };
      }
      const sandbox = (await sandboxes.list).find((s) => s.uid === podUid);
      if (!sandbox) return undefined;
      return {
        namespace: sandbox.namespace,
        pod: sandbox.name,
        container: containerId?.slice(0, 12) ?? "",
      };
    },
  };
}
