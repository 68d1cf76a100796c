/**
 * The agent's own metrics: one prom-client Registry per process (never the global one),
 * with every family declared here as data.
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "./_prom_client.ts";

export { type AiMetrics, createAiMetrics } from "./ai.ts";
export { Counter, Gauge, Histogram, Registry } from "./_prom_client.ts";

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
  cores: Counter<"outcome">;
  groupCores: Counter<"namespace" | "instance" | "group">;
  coreStageSeconds: Histogram<"stage">;
  coresIndexed: Gauge<"state">;
  coresPending: Gauge;
  storedBytes: Counter;
  pruned: Counter<"outcome">;
  stageRestarts: Counter<"stage">;
  uncaughtErrors: Counter;
  httpConnectionsShed: Counter<"reason">;
  httpRequestsShed: Counter;
  httpTimeouts: Counter<"phase">;
  httpConnections: Gauge;
  httpRequestsInFlight: Gauge;
  platformEventsSent: Counter<"kind">;
  platformEventsDropped: Counter<"kind" | "reason">;
  platformEventsRetried: Counter<"kind">;
  platformTokenRefreshes: Counter;
  platformLastSync: Gauge;
  platformLastSnapshot: Gauge;
  platformSnapshotSeconds: Histogram;
  platformBufferedEvents: Gauge;
  platformBufferCapacity: Gauge;
  platformLeader: Gauge;
  platformResources: Gauge<"kind">;
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
  const metrics: AgentMetrics = {
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
    cores: new Counter({
      name: "agent_cores_total",
      help: "Cores processed by the pipeline, by outcome (stored, skipped, failed).",
      labelNames: ["outcome"] as const,
      registers,
    }),
    groupCores: new Counter({
      name: "agent_crash_group_cores_stored_total",
      help:
        "Cores stored, by crash group (the fingerprint of the crashing stack) and Milvus instance.",
      labelNames: ["namespace", "instance", "group"] as const,
      registers,
    }),
    coreStageSeconds: new Histogram({
      name: "agent_core_stage_duration_seconds",
      help: "Time spent per core in each pipeline stage (analyze, store, verify).",
      labelNames: ["stage"] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    }),
    coresIndexed: new Gauge({
      name: "agent_cores_indexed",
      help:
        "Cores in the index, by state (seen, analyzed, storing, stored, skipped, pruned, failed).",
      labelNames: ["state"] as const,
      registers,
    }),
    coresPending: new Gauge({
      name: "agent_cores_pending",
      help: "Core files found and waiting to be complete or for a worker.",
      registers,
    }),
    storedBytes: new Counter({
      name: "agent_stored_bytes_total",
      help: "Compressed bytes of cores written to the store.",
      registers,
    }),
    pruned: new Counter({
      name: "agent_pruned_cores_total",
      help: "Stored cores removed by retention, by outcome (deleted, failed).",
      labelNames: ["outcome"] as const,
      registers,
    }),
    stageRestarts: new Counter({
      name: "agent_stage_restarts_total",
      help: "Times a daemon stage failed and was started again, by stage.",
      labelNames: ["stage"] as const,
      registers,
    }),
    uncaughtErrors: new Counter({
      name: "agent_uncaught_errors_total",
      help:
        "Errors no stage caught (a defect: each is logged); the daemon keeps running instead of exiting.",
      registers,
    }),
    httpConnectionsShed: new Counter({
      name: "agent_http_connections_shed_total",
      help:
        "HTTP connections refused or closed to make room, by reason (max_connections: over server.maxConnections; descriptors: out of file descriptors).",
      labelNames: ["reason"] as const,
      registers,
    }),
    httpRequestsShed: new Counter({
      name: "agent_http_requests_shed_total",
      help: "HTTP requests answered 503 because server.maxRequests were in flight.",
      registers,
    }),
    httpTimeouts: new Counter({
      name: "agent_http_connection_timeouts_total",
      help:
        "HTTP connections closed by a timeout, by phase (header: server.headerTimeout; idle, write: server.idleTimeout).",
      labelNames: ["phase"] as const,
      registers,
    }),
    httpConnections: new Gauge({
      name: "agent_http_open_connections",
      help: "HTTP connections open.",
      registers,
    }),
    httpRequestsInFlight: new Gauge({
      name: "agent_http_requests_in_flight",
      help: "HTTP requests being answered.",
      registers,
    }),
    platformEventsSent: new Counter({
      name: "agent_platform_events_sent_total",
      help: "Changes sent to the platform, by kind (Relationship for relationships).",
      labelNames: ["kind"] as const,
      registers,
    }),
    platformEventsDropped: new Counter({
      name: "agent_platform_events_dropped_total",
      help:
        "Changes not sent, by kind and reason (buffer_full: the buffer was full; rejected: the platform refused them; shutdown: still buffered at the end).",
      labelNames: ["kind", "reason"] as const,
      registers,
    }),
    platformEventsRetried: new Counter({
      name: "agent_platform_events_retried_total",
      help: "Changes sent again after a failed try, by kind.",
      labelNames: ["kind"] as const,
      registers,
    }),
    platformTokenRefreshes: new Counter({
      name: "agent_platform_token_refreshes_total",
      help: "Access tokens fetched from the platform with a JWT-bearer assertion.",
      registers,
    }),
    platformLastSync: new Gauge({
      name: "agent_platform_last_sync_timestamp_seconds",
      help: "When the platform last took a snapshot, events or a heartbeat (Unix time).",
      registers,
    }),
    platformLastSnapshot: new Gauge({
      name: "agent_platform_last_snapshot_timestamp_seconds",
      help: "When the platform last took a snapshot (Unix time).",
      registers,
    }),
    platformSnapshotSeconds: new Histogram({
      name: "agent_platform_snapshot_duration_seconds",
      help: "Time to read the graph and send a snapshot to the platform.",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    platformBufferedEvents: new Gauge({
      name: "agent_platform_buffered_events",
      help: "Changes waiting in the buffer to be sent.",
      registers,
    }),
    platformBufferCapacity: new Gauge({
      name: "agent_platform_buffer_capacity_events",
      help: "How many changes the buffer holds at most (platform.bufferSize).",
      registers,
    }),
    platformLeader: new Gauge({
      name: "agent_platform_leader",
      help: "Whether this agent holds the Lease and streams the cluster's metadata (1) or not (0).",
      registers,
    }),
    platformResources: new Gauge({
      name: "agent_platform_graph_resources",
      help: "Resources in the resource graph, by kind (only the leader keeps a graph).",
      labelNames: ["kind"] as const,
      registers,
    }),
    up: new Gauge({
      name: "agent_feature_up",
      help: "Whether a feature is running (1) or off or failing (0).",
      labelNames: ["feature"] as const,
      registers,
    }),
  };
  // Known label values are exposed from the start, so that rate() and alerts see a 0.
  for (const reason of ["max_connections", "descriptors"]) {
    metrics.httpConnectionsShed.inc({ reason }, 0);
  }
  for (const phase of ["header", "idle", "write"]) metrics.httpTimeouts.inc({ phase }, 0);
  return metrics;
}
