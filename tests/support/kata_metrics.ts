/**
 * Realistic Kata shim metrics for tests, fake shims, benchmarks and the demo: what
 * `GET /metrics` on a shim's `shim-monitor.sock` returns, written the way the Go Prometheus
 * client writes it (families sorted by name, labels sorted, values in Go's `%g`, so
 * `1.6777216e+07`). About 150 series: the shim's own `go_*` and `process_*` families, and the
 * `kata_shim_*`, `kata_hypervisor_*`, `kata_agent_*` and `kata_guest_*` families of
 * reference-facts, among them the `kata_shim_rpc_durations_histogram_milliseconds` histogram.
 * Values are a pure function of the sandbox id and a `tick`: counters grow with it, gauges move.
 *
 * @module
 */
import type { Labels, MetricType } from "../../lib/prom/mod.ts";

/** Options of {@linkcode renderShimMetrics}. */
export interface ShimMetricsOptions {
  /** Labels written first in every sample, as kata-monitor adds them (`sandbox_id`, …). */
  labels?: Labels;
  /** Guest vCPUs, one `kata_guest_cpu_time` set each. Default 2. */
  cpus?: number;
}

/** A series of a family: its labels, and its value at a tick. */
interface Series {
  suffix?: string;
  labels: [string, string][];
  value: (tick: number) => number;
}

interface Family {
  name: string;
  help: string;
  type: MetricType;
  series: Series[];
}

const PROC_STATUS = [
  "vmpeak",
  "vmsize",
  "vmhwm",
  "vmrss",
  "voluntaryctxtswitches",
  "nonvoluntaryctxtswitches",
];
const PROC_STAT = ["utime", "stime", "cutime", "cstime"];
const IO_STAT = ["rchar", "wchar", "syscr", "syscw"];
const NETDEV = ["recv_bytes", "recv_packets", "sent_bytes", "sent_packets"];
const CPU_TIME = ["user", "system", "idle", "iowait"];
const VM_STAT = ["nr_free_pages", "nr_inactive_anon", "pgfault", "pgmajfault"];
const DISKSTAT = ["reads", "sectors_read", "writes", "sectors_written"];
const MEMINFO = [
  "mem_total",
  "mem_free",
  "mem_available",
  "buffers",
  "cached",
  "swap_total",
  "anon_pages",
  "inactive_file",
];
const RPC_ACTIONS = ["create", "start"];
const RPC_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/** A number from 0 to 1 drawn from a string, so each sandbox gets its own values. */
function seedOf(text: string): number {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  return (hash >>> 0) / 4294967296;
}

/** A float as Go's `strconv.FormatFloat(v, 'g', -1, 64)` writes it, as the Go client does. */
export function goFloat(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (value === 0) return "0";
  const [mantissa, exponentText] = value.toExponential().split("e") as [string, string];
  const exponent = Number(exponentText);
  if (exponent >= -4 && exponent < 6) return String(value);
  const digits = String(Math.abs(exponent)).padStart(2, "0");
  return `${mantissa}e${exponent < 0 ? "-" : "+"}${digits}`;
}

function families(seed: number, cpus: number): Family[] {
  const counter = (base: number, rate: number) => (tick: number) =>
    Math.round(base * (1 + seed) + rate * (1 + seed) * tick);
  const gauge = (base: number, swing: number, period = 7) => (tick: number) =>
    Math.round(base * (1 + seed / 4) + swing * Math.sin(tick / period + seed * 6));
  const items = (
    names: string[],
    value: (item: string, index: number) => (tick: number) => number,
    more: [string, string][] = [],
  ): Series[] =>
    names.map((item, index) => ({ labels: [...more, ["item", item]], value: value(item, index) }));
  const one = (value: (tick: number) => number): Series[] => [{ labels: [], value }];
  const procStatus = (rss: number) => (item: string, index: number) =>
    item.endsWith("ctxtswitches")
      ? counter(rss / 1000 / index, 40 / index)
      : gauge(rss * (item === "vmsize" || item === "vmpeak" ? 8 : 1 - index / 20), rss / 50);
  const procStat = (item: string, index: number) =>
    counter(item.startsWith("c") ? index : 120 / (index + 1), 3 / (index + 1));
  const ioStat = (_item: string, index: number) => counter(4096 * (index + 1), 2048);
  const netdev = (_item: string, index: number) =>
    counter(index % 2 ? 1500 : 1500 * 900, index % 2 ? 12 : 12 * 900);

  const rpc: Series[] = [];
  for (const action of RPC_ACTIONS) {
    const scale = action === "create" ? 40 : 6;
    const count = (tick: number) => 1 + Math.floor(tick / 10);
    let below = 0;
    for (const bound of RPC_BUCKETS) {
      const share = Math.min(1, below + (bound >= scale ? 0.5 : 0.05));
      below = share;
      rpc.push({
        suffix: "_bucket",
        labels: [["action", action], ["le", String(bound)]],
        value: (tick) => Math.floor(count(tick) * share),
      });
    }
    rpc.push(
      { suffix: "_bucket", labels: [["action", action], ["le", "+Inf"]], value: count },
      { suffix: "_sum", labels: [["action", action]], value: (tick) => count(tick) * scale * 1.37 },
      { suffix: "_count", labels: [["action", action]], value: count },
    );
  }

  const cpuTime: Series[] = [];
  for (let cpu = 0; cpu < cpus; cpu++) {
    cpuTime.push(
      ...items(
        CPU_TIME,
        (item) => counter(item === "idle" ? 90_000 : 2_000, item === "idle" ? 95 : 5),
        [["cpu", String(cpu)]],
      ),
    );
  }
  const gc = [0, 0.25, 0.5, 0.75, 1].map((quantile): Series => ({
    labels: [["quantile", String(quantile)]],
    value: () => Number(((2e-5 + quantile * 3e-4) * (1 + seed)).toPrecision(5)),
  }));

  return [
    {
      name: "go_gc_duration_seconds",
      help: "A summary of the pause duration of garbage collection cycles.",
      type: "summary",
      series: [
        ...gc,
        {
          suffix: "_sum",
          labels: [],
          value: (tick) => Number((0.0123 * (1 + seed) + tick * 1e-4).toPrecision(6)),
        },
        { suffix: "_count", labels: [], value: (tick) => 20 + tick },
      ],
    },
    {
      name: "go_goroutines",
      help: "Number of goroutines that currently exist.",
      type: "gauge",
      series: one(gauge(38, 3)),
    },
    {
      name: "go_info",
      help: "Information about the Go environment.",
      type: "gauge",
      series: [{ labels: [["version", "go1.23.12"]], value: () => 1 }],
    },
    {
      name: "go_memstats_alloc_bytes",
      help: "Number of bytes allocated and still in use.",
      type: "gauge",
      series: one(gauge(4_123_456, 400_000)),
    },
    {
      name: "go_memstats_alloc_bytes_total",
      help: "Total number of bytes allocated, even if freed.",
      type: "counter",
      series: one(counter(2.1e7, 350_000)),
    },
    {
      name: "go_memstats_frees_total",
      help: "Total number of frees.",
      type: "counter",
      series: one(counter(160_000, 2_400)),
    },
    {
      name: "go_memstats_heap_idle_bytes",
      help: "Number of heap bytes waiting to be used.",
      type: "gauge",
      series: one(gauge(3_407_872, 200_000)),
    },
    {
      name: "go_memstats_heap_inuse_bytes",
      help: "Number of heap bytes that are in use.",
      type: "gauge",
      series: one(gauge(6_012_928, 300_000)),
    },
    {
      name: "go_memstats_heap_objects",
      help: "Number of allocated objects.",
      type: "gauge",
      series: one(gauge(21_345, 2_000)),
    },
    {
      name: "go_memstats_last_gc_time_seconds",
      help: "Number of seconds since 1970 of last garbage collection.",
      type: "gauge",
      series: one((tick) => 1_763_800_000.123456 + tick * 15),
    },
    {
      name: "go_memstats_mallocs_total",
      help: "Total number of mallocs.",
      type: "counter",
      series: one(counter(180_000, 2_500)),
    },
    {
      name: "go_memstats_next_gc_bytes",
      help: "Number of heap bytes when next garbage collection will take place.",
      type: "gauge",
      series: one(gauge(8_388_608, 0)),
    },
    {
      name: "go_memstats_sys_bytes",
      help: "Number of bytes obtained from system.",
      type: "gauge",
      series: one(gauge(1.6777216e7, 0)),
    },
    {
      name: "go_threads",
      help: "Number of OS threads created.",
      type: "gauge",
      series: one(gauge(11, 0)),
    },
    {
      name: "kata_agent_io_stat",
      help: "Agent process IO statistics.",
      type: "gauge",
      series: items(IO_STAT, ioStat),
    },
    {
      name: "kata_agent_proc_stat",
      help: "Agent process statistics.",
      type: "gauge",
      series: items(PROC_STAT, procStat),
    },
    {
      name: "kata_agent_proc_status",
      help: "Agent process status.",
      type: "gauge",
      series: items(PROC_STATUS.slice(2), procStatus(9_000)),
    },
    {
      name: "kata_agent_scrape_count",
      help: "Metrics scrape count",
      type: "counter",
      series: one((tick) => tick + 1),
    },
    {
      name: "kata_agent_threads",
      help: "Agent process threads.",
      type: "gauge",
      series: one(gauge(5, 1)),
    },
    {
      name: "kata_agent_total_rss",
      help: "Agent process total RSS size.",
      type: "gauge",
      series: one(gauge(9_216_000, 100_000)),
    },
    {
      name: "kata_agent_total_time",
      help: "Agent process total time.",
      type: "gauge",
      series: one(counter(40, 1)),
    },
    {
      name: "kata_agent_total_vm",
      help: "Agent process total VM size.",
      type: "gauge",
      series: one(gauge(1.2e9, 0)),
    },
    {
      name: "kata_guest_cpu_time",
      help: "Guest CPU statistics.",
      type: "gauge",
      series: cpuTime,
    },
    {
      name: "kata_guest_diskstat",
      help: "Disks statistics in system.",
      type: "gauge",
      series: items(DISKSTAT, (_item, index) => counter(800 * (index + 1), 9), [["disk", "vda"]]),
    },
    {
      name: "kata_guest_filesystem_bytes",
      help: "Guest filesystem size in bytes.",
      type: "gauge",
      series: ["total", "free", "avail"].map((item, index): Series => ({
        labels: [["device", "kataShared"], ["item", item], [
          "mount",
          "/run/kata-containers/shared",
        ]],
        value: gauge(index === 0 ? 1.07e11 : 4.2e10, index === 0 ? 0 : 1e6),
      })),
    },
    {
      name: "kata_guest_load",
      help: "Guest system load.",
      type: "gauge",
      series: ["load1", "load5", "load15"].map((item, index): Series => ({
        labels: [["item", item]],
        value: (tick) => Math.round((0.4 + 0.3 * Math.sin(tick / (3 + index)) + seed) * 100) / 100,
      })),
    },
    {
      name: "kata_guest_meminfo",
      help: "Statistics about memory usage in the system.",
      type: "gauge",
      series: items(
        MEMINFO,
        (item) =>
          item === "mem_total"
            ? () => 2_062_336_000
            : item === "swap_total"
            ? () => 0
            : gauge(item === "mem_free" ? 1.5e9 : 1.2e8, 2e6),
      ),
    },
    {
      name: "kata_guest_netdev_stat",
      help: "Guest net devices statistics.",
      type: "gauge",
      series: [
        ...items(NETDEV, netdev, [["interface", "eth0"]]),
        ...items(NETDEV, (_item, index) => counter(64 * (index + 1), 1), [["interface", "lo"]]),
      ],
    },
    {
      name: "kata_guest_tasks",
      help: "Guest system load.",
      type: "gauge",
      series: [
        { labels: [["item", "cur"]], value: gauge(120, 6) },
        { labels: [["item", "max"]], value: () => 4_194_304 },
      ],
    },
    {
      name: "kata_guest_vm_stat",
      help: "Guest virtual memory statistics.",
      type: "gauge",
      series: items(
        VM_STAT,
        (item) => item.startsWith("pg") ? counter(50_000, 300) : gauge(3e5, 5e3),
      ),
    },
    {
      name: "kata_hypervisor_fds",
      help: "Open FDs for hypervisor.",
      type: "gauge",
      series: one(gauge(93, 2)),
    },
    {
      name: "kata_hypervisor_io_stat",
      help: "Process IO statistics.",
      type: "gauge",
      series: items(IO_STAT, ioStat),
    },
    {
      name: "kata_hypervisor_netdev",
      help: "Net devices statistics.",
      type: "gauge",
      series: items(NETDEV, netdev, [["interface", "tap0_kata"]]),
    },
    {
      name: "kata_hypervisor_proc_stat",
      help: "Hypervisor process statistics.",
      type: "gauge",
      series: items(PROC_STAT, procStat),
    },
    {
      name: "kata_hypervisor_proc_status",
      help: "Hypervisor process status.",
      type: "gauge",
      series: items(PROC_STATUS, procStatus(2_300_000)),
    },
    {
      name: "kata_hypervisor_threads",
      help: "Hypervisor process threads.",
      type: "gauge",
      series: one(gauge(7 + cpus, 0)),
    },
    {
      name: "kata_shim_fds",
      help: "Kata containerd shim v2 open FDs.",
      type: "gauge",
      series: one(gauge(24, 1)),
    },
    {
      name: "kata_shim_io_stat",
      help: "Kata containerd shim v2 process IO statistics.",
      type: "gauge",
      series: items(IO_STAT, ioStat),
    },
    {
      name: "kata_shim_pod_overhead_cpu",
      help: "Kata Pod overhead for CPU resources(percent).",
      type: "gauge",
      series: one((tick) => Math.abs(0.35 + 0.2 * Math.sin(tick / 5 + seed * 6))),
    },
    {
      name: "kata_shim_pod_overhead_memory_in_bytes",
      help: "Kata Pod overhead for memory resources(bytes).",
      type: "gauge",
      series: one(gauge(4.1e7, 1e5)),
    },
    {
      name: "kata_shim_proc_stat",
      help: "Kata containerd shim v2 process statistics.",
      type: "gauge",
      series: items(PROC_STAT, procStat),
    },
    {
      name: "kata_shim_proc_status",
      help: "Kata containerd shim v2 process status.",
      type: "gauge",
      series: items(PROC_STATUS, procStatus(38_000)),
    },
    {
      name: "kata_shim_rpc_durations_histogram_milliseconds",
      help: "RPC latency distributions.",
      type: "histogram",
      series: rpc,
    },
    {
      name: "kata_shim_threads",
      help: "Kata containerd shim v2 process threads.",
      type: "gauge",
      series: one(gauge(14, 1)),
    },
    {
      name: "process_cpu_seconds_total",
      help: "Total user and system CPU time spent in seconds.",
      type: "counter",
      series: one((tick) => Math.round((0.42 + seed + tick * 0.03) * 100) / 100),
    },
    {
      name: "process_max_fds",
      help: "Maximum number of open file descriptors.",
      type: "gauge",
      series: one(() => 1_048_576),
    },
    {
      name: "process_network_receive_bytes_total",
      help: "Number of bytes received by the process over the network.",
      type: "counter",
      series: one(counter(52_000, 900)),
    },
    {
      name: "process_network_transmit_bytes_total",
      help: "Number of bytes sent by the process over the network.",
      type: "counter",
      series: one(counter(61_000, 1_100)),
    },
    {
      name: "process_open_fds",
      help: "Number of open file descriptors.",
      type: "gauge",
      series: one(gauge(24, 1)),
    },
    {
      name: "process_resident_memory_bytes",
      help: "Resident memory size in bytes.",
      type: "gauge",
      series: one(gauge(3.9e7, 5e5)),
    },
    {
      name: "process_start_time_seconds",
      help: "Start time of the process since unix epoch in seconds.",
      type: "gauge",
      series: one(() => 1_763_800_000.12 - Math.round(seed * 1e4)),
    },
    {
      name: "process_virtual_memory_bytes",
      help: "Virtual memory size in bytes.",
      type: "gauge",
      series: one(gauge(1.35e9, 1e6)),
    },
    {
      name: "process_virtual_memory_max_bytes",
      help: "Maximum amount of virtual memory available in bytes.",
      type: "gauge",
      series: one(() => 18446744073709551615),
    },
  ];
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/**
 * Renders one shim's `/metrics` text (Prometheus text format 0.0.4) for `sandboxId` at `tick`.
 * The same arguments give the same text; counters never decrease as `tick` grows.
 *
 * @example Usage
 * ```ts
 * const text = renderShimMetrics("4f0c0b6a", 3, { labels: { sandbox_id: "4f0c0b6a" } });
 * ```
 */
export function renderShimMetrics(
  sandboxId: string,
  tick = 0,
  options: ShimMetricsOptions = {},
): string {
  const extra = Object.entries(options.labels ?? {})
    .map(([name, value]) => `${name}="${escapeLabel(value)}"`).join(",");
  let out = "";
  for (const family of families(seedOf(sandboxId), options.cpus ?? 2)) {
    out += `# HELP ${family.name} ${family.help}\n# TYPE ${family.name} ${family.type}\n`;
    for (const series of family.series) {
      const own = series.labels.map(([name, value]) => `${name}="${escapeLabel(value)}"`);
      const labels = extra === "" ? own.join(",") : [extra, ...own].join(",");
      out += `${family.name}${series.suffix ?? ""}${labels === "" ? "" : `{${labels}}`} ${
        goFloat(series.value(tick))
      }\n`;
    }
  }
  return out;
}
