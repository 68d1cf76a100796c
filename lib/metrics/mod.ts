/**
 * The agent's own metrics: one prom-client Registry per process (never the global one),
 * with every family declared here as data.
 *
 * @module
 */
import { Counter, Gauge, Registry } from "prom-client";

/** The agent's metric families. */
export interface AgentMetrics {
  registry: Registry;
  restartEvents: Counter<"namespace" | "instance" | "panic">;
  cleanups: Counter<"outcome">;
  cleanupsPending: Gauge;
  informerEvents: Counter;
  informerErrors: Counter;
  informerRelists: Counter;
  informerIdleReconnects: Counter;
  informerCachedObjects: Gauge;
  up: Gauge<"feature">;
}

/**
 * Creates the registry and the families.
 *
 * @example Usage
 * ```ts
 * const metrics = createMetrics();
 * metrics.cleanups.inc({ outcome: "uninstalled" });
 * ```
 */
export function createMetrics(): AgentMetrics {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    restartEvents: new Counter({
      name: "agent_restart_events_total",
      help: "Container restarts of Milvus pods seen, by whether they were judged a panic.",
      labelNames: ["namespace", "instance", "panic"] as const,
      registers,
    }),
    cleanups: new Counter({
      name: "agent_cleanups_total",
      help:
        "Crash-loop cleanups that came due, by outcome (uninstalled, dry-run, recovered, gone, failed).",
      labelNames: ["outcome"] as const,
      registers,
    }),
    cleanupsPending: new Gauge({
      name: "agent_cleanups_pending",
      help: "Crash-loop cleanups scheduled and not yet due.",
      registers,
    }),
    informerEvents: new Counter({
      name: "agent_pod_watch_events_total",
      help: "Pod changes the pod watch delivered.",
      registers,
    }),
    informerErrors: new Counter({
      name: "agent_pod_watch_errors_total",
      help: "Pod list or watch requests that failed and were retried.",
      registers,
    }),
    informerRelists: new Counter({
      name: "agent_pod_watch_relists_total",
      help: "Pod lists, the first one and those after 410 Gone.",
      registers,
    }),
    informerIdleReconnects: new Counter({
      name: "agent_pod_watch_idle_reconnects_total",
      help: "Pod watches replaced because they went silent.",
      registers,
    }),
    informerCachedObjects: new Gauge({
      name: "agent_pod_watch_cached_pods",
      help: "Pods held in the pod watch's cache.",
      registers,
    }),
    up: new Gauge({
      name: "agent_feature_up",
      help: "Whether a feature is running (1) or off or failing (0).",
      labelNames: ["feature"] as const,
      registers,
    }),
  };
}
