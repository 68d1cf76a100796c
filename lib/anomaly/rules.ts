/**
 * What the daemon watches by default, as data: the series its detectors score, the things
 * whose metrics one multi-metric detector scores together, and the resources whose filling it
 * forecasts. Each names metrics by the names `/metrics` serves (node_exporter's, cAdvisor's,
 * DCGM's, the agent's own), so a series is watched as soon as a collector serves it, and
 * simply absent while none does.
 *
 * @module
 */

/** A series to score: its name (the `series` label) and its expression (`series.ts`). */
export interface SeriesRule {
  name: string;
  expression: string;
}

/** Metrics of one thing scored together: one vector per value of the `by` labels. */
export interface VectorRule {
  name: string;
  by: string[];
  /** One expression per dimension, each giving a series per value of the `by` labels. */
  parts: string[];
}

/** A resource that fills: its free and total amounts, one forecast per value of `by`. */
export interface FillRule {
  resource: string;
  free: string;
  size: string;
  by: string[];
}

/** Filesystems that do not fill from the node's own writes, or are not disks. */
const VIRTUAL_FS = 'fstype!~"tmpfs|ramfs|devtmpfs|overlay|squashfs|nsfs|proc|sysfs|fuse\\\\..*"';

/** The series the daemon scores (`anomaly.series`: these by name, or `all`). */
export const SERIES_RULES: readonly SeriesRule[] = [
  {
    name: "node_cpu_busy",
    expression: 'sum(rate(node_cpu_seconds_total{mode!~"idle|iowait|steal"}))',
  },
  { name: "node_load1", expression: "node_load1" },
  { name: "node_memory_available", expression: "node_memory_MemAvailable_bytes" },
  {
    name: "node_pressure",
    expression: 'rate({__name__=~"node_pressure_(cpu|memory|io)_waiting_seconds_total"})',
  },
  {
    name: "node_disk_available",
    expression: `sum by (device, mountpoint) (node_filesystem_avail_bytes{${VIRTUAL_FS}})`,
  },
  {
    name: "node_network_errors",
    expression: 'sum by (device) (rate({__name__=~"node_network_(receive|transmit)_errs_total"}))',
  },
  {
    name: "pod_restarts_per_hour",
    expression: "sum by (namespace, instance) (rate(agent_restart_events_total)) * 3600",
  },
  { name: "cores_per_hour", expression: "sum(rate(agent_cores_total)) * 3600" },
  {
    name: "sandbox_cpu",
    expression: "sum by (namespace, pod) (rate(container_cpu_usage_seconds_total))",
  },
  {
    name: "sandbox_memory",
    expression: "sum by (namespace, pod) (container_memory_working_set_bytes)",
  },
  { name: "gpu_temperature", expression: "sum by (gpu) (DCGM_FI_DEV_GPU_TEMP)" },
  { name: "gpu_power", expression: "sum by (gpu) (DCGM_FI_DEV_POWER_USAGE)" },
];

/** The things scored as vectors (an isolation forest each). */
export const VECTOR_RULES: readonly VectorRule[] = [
  {
    name: "gpu",
    by: ["gpu"],
    parts: [
      "sum by (gpu) (DCGM_FI_DEV_GPU_TEMP)",
      "sum by (gpu) (DCGM_FI_DEV_POWER_USAGE)",
      "sum by (gpu) (DCGM_FI_DEV_GPU_UTIL)",
    ],
  },
  {
    name: "sandbox",
    by: ["namespace", "pod"],
    parts: [
      "sum by (namespace, pod) (rate(container_cpu_usage_seconds_total))",
      "sum by (namespace, pod) (container_memory_working_set_bytes)",
      "sum by (namespace, pod) (container_threads)",
    ],
  },
];

/** The resources whose time to full is forecast. */
export const FILL_RULES: readonly FillRule[] = [
  {
    resource: "filesystem",
    free: `node_filesystem_avail_bytes{${VIRTUAL_FS}}`,
    size: `node_filesystem_size_bytes{${VIRTUAL_FS}}`,
    by: ["device", "mountpoint"],
  },
  {
    resource: "inodes",
    free: `node_filesystem_files_free{${VIRTUAL_FS}}`,
    size: `node_filesystem_files{${VIRTUAL_FS}}`,
    by: ["device", "mountpoint"],
  },
  {
    resource: "memory",
    free: "node_memory_MemAvailable_bytes",
    size: "node_memory_MemTotal_bytes",
    by: [],
  },
];

/** The names of {@linkcode SERIES_RULES}. */
export const SERIES_RULE_NAMES: readonly string[] = SERIES_RULES.map((r) => r.name);
