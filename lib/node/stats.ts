/**
 * What `agent stats` reports: rates and shares computed from two collections of the node
 * collectors (vmstat's, iostat's and top's figures from node_exporter's series), as plain
 * data for a table or JSON. Pure: the caller collects, times and renders.
 *
 * A counter that went back between the two collections either wrapped (the kernel keeps
 * some in 32 bits: a disk's busy time wraps after 49.7 days of I/O) or was reset (a device
 * re-created): a wrap is assumed when the earlier value was in the top half of the 32-bit
 * range, a reset otherwise. A device, mount or process present in only one of the two is
 * left out of the rates until the next report.
 *
 * @module
 */
import type { MetricFamily } from "../prom/mod.ts";

/** One collection: its families, and when it started (`performance.now()`, milliseconds). */
export interface Snapshot {
  at: number;
  families: MetricFamily[];
}

/** CPU time by mode, in percent of all CPUs' time over the interval. */
export interface CpuReport {
  cpus: number;
  percent: Record<string, number>;
}

/** Load and run queue. */
export interface LoadReport {
  load1: number | null;
  load5: number | null;
  load15: number | null;
  running: number | null;
  blocked: number | null;
  contextSwitchesPerSecond: number | null;
  interruptsPerSecond: number | null;
  forksPerSecond: number | null;
}

/** Memory, from meminfo and vmstat. */
export interface MemoryReport {
  totalBytes: number | null;
  /** Total less available: what the kernel cannot give back without swapping. */
  usedBytes: number | null;
  availableBytes: number | null;
  swapTotalBytes: number | null;
  swapUsedBytes: number | null;
  majorFaultsPerSecond: number | null;
  swapInPagesPerSecond: number | null;
  swapOutPagesPerSecond: number | null;
}

/** One disk over the interval, as iostat -x shows it. */
export interface DiskReport {
  device: string;
  readsPerSecond: number;
  writesPerSecond: number;
  readBytesPerSecond: number;
  writeBytesPerSecond: number;
  /** Average time a read took, queue included; null without reads. */
  readAwaitMs: number | null;
  writeAwaitMs: number | null;
  /** Average number of requests in flight (iostat's aqu-sz). */
  queueSize: number;
  /** Share of the interval the device was busy. */
  utilizationPercent: number;
}

/** One network device over the interval. */
export interface NetworkReport {
  device: string;
  /** The kernel's operational state: `up`, `down`, `unknown` (loopback, tunnels)... */
  operstate: string | null;
  receiveBytesPerSecond: number;
  transmitBytesPerSecond: number;
  receivePacketsPerSecond: number;
  transmitPacketsPerSecond: number;
  errorsPerSecond: number;
  dropsPerSecond: number;
}

/** One mounted filesystem, as df shows it. */
export interface FilesystemReport {
  mountpoint: string;
  device: string;
  fstype: string;
  sizeBytes: number;
  usedBytes: number;
  availableBytes: number;
  /** Used of what users may use (used + available), as df rounds it up. */
  usePercent: number;
  inodesUsePercent: number | null;
  readonly: boolean;
}

/** One process among the top ones. */
export interface ProcessReport {
  pid: number;
  comm: string;
  /** CPU over the interval, 100 for one CPU (top's %CPU); null when first seen. */
  cpuPercent: number | null;
  residentBytes: number;
  namespace: string;
  pod: string;
  container: string;
  podUid: string;
}

/** The processes and threads by state, and the top ones. */
export interface ProcessesReport {
  total: number | null;
  threads: number | null;
  states: Record<string, number>;
  top: ProcessReport[];
}

/** TCP over the interval. */
export interface TcpReport {
  states: Record<string, number>;
  retransmitsPerSecond: number | null;
  listenDropsPerSecond: number | null;
  inErrorsPerSecond: number | null;
}

/** Pressure stall information, in percent of the interval. */
export interface PressureReport {
  cpuSomePercent: number | null;
  memorySomePercent: number | null;
  memoryFullPercent: number | null;
  ioSomePercent: number | null;
  ioFullPercent: number | null;
}

/** One report of `agent stats`: only the sections its collectors gave. */
export interface StatsReport {
  /** When the second collection was made (ISO 8601). */
  time: string;
  /** Seconds between the two collections. */
  intervalSeconds: number;
  cpuModel?: { model: string; cpus: number; flags: string[] };
  cpu?: CpuReport;
  load?: LoadReport;
  memory?: MemoryReport;
  pressure?: PressureReport;
  disks?: DiskReport[];
  network?: NetworkReport[];
  tcp?: TcpReport;
  filesystems?: FilesystemReport[];
  numa?: { node: string; totalBytes: number | null; freeBytes: number | null }[];
  processes?: ProcessesReport;
}

const WRAP = 2 ** 32;

/**
 * How much a counter grew from `before` to `after`: `after - before`, or across a 32-bit wrap
 * of `modulus` (the wrap point in the counter's exported unit), or `after` when it was reset.
 *
 * @example Usage
 * ```ts
 * counterDelta(4294967290, 5); // 11
 * counterDelta(1000, 5); // 5: a reset
 * ```
 */
export function counterDelta(before: number, after: number, modulus = WRAP): number {
  if (after >= before) return after - before;
  if (before >= modulus / 2 && before < modulus) return after + modulus - before;
  return after;
}

type Samples = Map<string, { labels: Record<string, string>; value: number }>;

/** The samples of each family, by a key of their labels. */
function index(families: MetricFamily[]): Map<string, Samples> {
  const out = new Map<string, Samples>();
  for (const family of families) {
    const samples: Samples = out.get(family.name) ?? new Map();
    for (const sample of family.samples) {
      samples.set(JSON.stringify(sample.labels), { labels: sample.labels, value: sample.value });
    }
    out.set(family.name, samples);
  }
  return out;
}

/**
 * The report from two collections, `before` then `after`.
 *
 * @example Usage
 * ```ts ignore
 * const report = buildReport(first, second, { topProcesses: 10 });
 * ```
 */
export function buildReport(
  before: Snapshot,
  after: Snapshot,
  options: { topProcesses: number; time?: Date },
): StatsReport {
  const seconds = Math.max((after.at - before.at) / 1000, 1e-3);
  const a = index(before.families);
  const b = index(after.families);
  const gauge = (name: string, labels: Record<string, string> = {}) => {
    const sample = b.get(name)?.get(JSON.stringify(labels));
    return sample === undefined ? null : sample.value;
  };
  /** Growth per second of one series; null when either collection lacks it. */
  const rate = (name: string, key = "{}", modulus = WRAP) => {
    const x = a.get(name)?.get(key)?.value;
    const y = b.get(name)?.get(key)?.value;
    return x === undefined || y === undefined ? null : counterDelta(x, y, modulus) / seconds;
  };
  const has = (name: string) => b.has(name);
  const report: StatsReport = {
    time: (options.time ?? new Date()).toISOString(),
    intervalSeconds: Number(seconds.toFixed(3)),
  };
  if (has("node_cpu_info")) report.cpuModel = cpuModel(b);
  if (has("node_cpu_seconds_total")) report.cpu = cpu(a, b);
  if (has("node_load1") || has("node_context_switches_total")) {
    report.load = {
      load1: gauge("node_load1"),
      load5: gauge("node_load5"),
      load15: gauge("node_load15"),
      running: gauge("node_procs_running"),
      blocked: gauge("node_procs_blocked"),
      contextSwitchesPerSecond: rate("node_context_switches_total"),
      interruptsPerSecond: rate("node_intr_total"),
      forksPerSecond: rate("node_forks_total"),
    };
  }
  if (has("node_memory_MemTotal_bytes")) {
    const total = gauge("node_memory_MemTotal_bytes");
    const available = gauge("node_memory_MemAvailable_bytes");
    const swapTotal = gauge("node_memory_SwapTotal_bytes");
    const swapFree = gauge("node_memory_SwapFree_bytes");
    report.memory = {
      totalBytes: total,
      usedBytes: total !== null && available !== null ? total - available : null,
      availableBytes: available,
      swapTotalBytes: swapTotal,
      swapUsedBytes: swapTotal !== null && swapFree !== null ? swapTotal - swapFree : null,
      majorFaultsPerSecond: rate("node_vmstat_pgmajfault"),
      swapInPagesPerSecond: rate("node_vmstat_pswpin"),
      swapOutPagesPerSecond: rate("node_vmstat_pswpout"),
    };
  }
  if (has("node_pressure_cpu_waiting_seconds_total")) {
    const share = (name: string) => {
      const r = rate(name);
      return r === null ? null : Math.min(100, r * 100);
    };
    report.pressure = {
      cpuSomePercent: share("node_pressure_cpu_waiting_seconds_total"),
      memorySomePercent: share("node_pressure_memory_waiting_seconds_total"),
      memoryFullPercent: share("node_pressure_memory_stalled_seconds_total"),
      ioSomePercent: share("node_pressure_io_waiting_seconds_total"),
      ioFullPercent: share("node_pressure_io_stalled_seconds_total"),
    };
  }
  if (has("node_disk_reads_completed_total")) report.disks = disks(a, b, seconds);
  if (has("node_network_receive_bytes_total")) report.network = network(a, b, seconds);
  if (has("node_tcp_connection_states") || has("node_netstat_Tcp_RetransSegs")) {
    const states: Record<string, number> = {};
    for (const { labels, value } of b.get("node_tcp_connection_states")?.values() ?? []) {
      if (!labels.state!.endsWith("_bytes")) states[labels.state!] = value;
    }
    report.tcp = {
      states,
      retransmitsPerSecond: rate("node_netstat_Tcp_RetransSegs"),
      listenDropsPerSecond: rate("node_netstat_TcpExt_ListenDrops"),
      inErrorsPerSecond: rate("node_netstat_Tcp_InErrs"),
    };
  }
  if (has("node_filesystem_device_error")) report.filesystems = filesystems(b);
  if (has("node_memory_numa_MemTotal")) {
    report.numa = [...b.get("node_memory_numa_MemTotal")!.values()].map(({ labels, value }) => ({
      node: labels.node!,
      totalBytes: value,
      freeBytes: gauge("node_memory_numa_MemFree", { node: labels.node! }),
    }));
  }
  if (has("node_processes_pids") || has("agent_process_cpu_seconds_total")) {
    const states: Record<string, number> = {};
    for (const { labels, value } of b.get("node_processes_state")?.values() ?? []) {
      states[labels.state!] = value;
    }
    report.processes = {
      total: gauge("node_processes_pids"),
      threads: gauge("node_processes_threads"),
      states,
      top: topProcesses(a, b, seconds, options.topProcesses),
    };
  }
  return report;
}

function cpuModel(b: Map<string, Samples>): StatsReport["cpuModel"] {
  const infos = [...b.get("node_cpu_info")!.values()];
  return {
    model: infos[0]?.labels.model_name ?? "",
    cpus: infos.length,
    flags: [...b.get("node_cpu_flag_info")?.values() ?? []].map((s) => s.labels.flag!),
  };
}

function cpu(a: Map<string, Samples>, b: Map<string, Samples>): CpuReport {
  const modes: Record<string, number> = {};
  const cpus = new Set<string>();
  for (const [key, { labels, value }] of b.get("node_cpu_seconds_total")!) {
    cpus.add(labels.cpu!);
    const earlier = a.get("node_cpu_seconds_total")?.get(key)?.value;
    if (earlier === undefined) continue;
    modes[labels.mode!] = (modes[labels.mode!] ?? 0) + counterDelta(earlier, value, Infinity);
  }
  // Shares of all the time counted, as top and vmstat: immune to the interval's jitter.
  const total = Object.values(modes).reduce((sum, v) => sum + v, 0);
  const percent: Record<string, number> = {};
  for (const [mode, value] of Object.entries(modes)) {
    percent[mode] = total > 0 ? (value / total) * 100 : 0;
  }
  return { cpus: cpus.size, percent };
}

/** The devices of `name` present in both collections, with their growth per second. */
function perDevice(
  a: Map<string, Samples>,
  b: Map<string, Samples>,
  seconds: number,
  label: string,
) {
  return (name: string, device: string, modulus = WRAP): number => {
    const key = JSON.stringify({ [label]: device });
    const x = a.get(name)?.get(key)?.value ?? 0;
    const y = b.get(name)?.get(key)?.value ?? 0;
    return counterDelta(x, y, modulus) / seconds;
  };
}

function devicesInBoth(a: Map<string, Samples>, b: Map<string, Samples>, name: string): string[] {
  const earlier = a.get(name) ?? new Map();
  return [...b.get(name)?.entries() ?? []].filter(([key]) => earlier.has(key))
    .map(([, sample]) => sample.labels.device!);
}

function disks(a: Map<string, Samples>, b: Map<string, Samples>, seconds: number): DiskReport[] {
  const per = perDevice(a, b, seconds, "device");
  // The kernel's 32-bit fields in the units exported: milliseconds as seconds, sectors as bytes.
  const MS_WRAP = WRAP / 1000;
  const SECTOR_WRAP = WRAP * 512;
  return devicesInBoth(a, b, "node_disk_reads_completed_total").map((device) => {
    const reads = per("node_disk_reads_completed_total", device);
    const writes = per("node_disk_writes_completed_total", device);
    const readTime = per("node_disk_read_time_seconds_total", device, MS_WRAP);
    const writeTime = per("node_disk_write_time_seconds_total", device, MS_WRAP);
    return {
      device,
      readsPerSecond: reads,
      writesPerSecond: writes,
      readBytesPerSecond: per("node_disk_read_bytes_total", device, SECTOR_WRAP),
      writeBytesPerSecond: per("node_disk_written_bytes_total", device, SECTOR_WRAP),
      readAwaitMs: reads > 0 ? (readTime / reads) * 1000 : null,
      writeAwaitMs: writes > 0 ? (writeTime / writes) * 1000 : null,
      queueSize: per("node_disk_io_time_weighted_seconds_total", device, MS_WRAP),
      utilizationPercent: Math.min(
        100,
        per("node_disk_io_time_seconds_total", device, MS_WRAP) * 100,
      ),
    };
  });
}

function network(
  a: Map<string, Samples>,
  b: Map<string, Samples>,
  seconds: number,
): NetworkReport[] {
  const per = perDevice(a, b, seconds, "device");
  const states = new Map(
    [...b.get("node_network_info")?.values() ?? []].map((s) => [
      s.labels.device,
      s.labels.operstate ?? null,
    ]),
  );
  return devicesInBoth(a, b, "node_network_receive_bytes_total").map((device) => {
    return {
      device,
      operstate: states.get(device) ?? null,
      receiveBytesPerSecond: per("node_network_receive_bytes_total", device),
      transmitBytesPerSecond: per("node_network_transmit_bytes_total", device),
      receivePacketsPerSecond: per("node_network_receive_packets_total", device),
      transmitPacketsPerSecond: per("node_network_transmit_packets_total", device),
      errorsPerSecond: per("node_network_receive_errs_total", device) +
        per("node_network_transmit_errs_total", device),
      dropsPerSecond: per("node_network_receive_drop_total", device) +
        per("node_network_transmit_drop_total", device),
    };
  });
}

function filesystems(b: Map<string, Samples>): FilesystemReport[] {
  const out: FilesystemReport[] = [];
  for (const [key, { labels }] of b.get("node_filesystem_size_bytes") ?? []) {
    const get = (name: string) => b.get(name)?.get(key)?.value;
    const size = get("node_filesystem_size_bytes")!;
    const free = get("node_filesystem_free_bytes") ?? 0;
    const avail = get("node_filesystem_avail_bytes") ?? 0;
    const files = get("node_filesystem_files") ?? 0;
    const filesFree = get("node_filesystem_files_free") ?? 0;
    const used = size - free;
    out.push({
      mountpoint: labels.mountpoint!,
      device: labels.device!,
      fstype: labels.fstype!,
      sizeBytes: size,
      usedBytes: used,
      availableBytes: avail,
      usePercent: used + avail > 0 ? Math.ceil((used / (used + avail)) * 100) : 0,
      inodesUsePercent: files > 0 ? Math.ceil(((files - filesFree) / files) * 100) : null,
      readonly: get("node_filesystem_readonly") === 1,
    });
  }
  return out;
}

function topProcesses(
  a: Map<string, Samples>,
  b: Map<string, Samples>,
  seconds: number,
  n: number,
): ProcessReport[] {
  const rss = b.get("agent_process_resident_memory_bytes");
  const earlier = new Map(
    [...a.get("agent_process_cpu_seconds_total")?.values() ?? []].map((s) => [s.labels.pid, s]),
  );
  const all = [...b.get("agent_process_cpu_seconds_total")?.entries() ?? []].map(
    ([key, { labels, value }]): ProcessReport => {
      const before = earlier.get(labels.pid);
      // Another process under a reused PID has another name, or less CPU time.
      const same = before && before.labels.comm === labels.comm && before.value <= value;
      return {
        pid: Number(labels.pid),
        comm: labels.comm ?? "",
        cpuPercent: same ? ((value - before.value) / seconds) * 100 : null,
        residentBytes: rss?.get(key)?.value ?? 0,
        namespace: labels.namespace ?? "",
        pod: labels.pod ?? "",
        container: labels.container ?? "",
        podUid: labels.pod_uid ?? "",
      };
    },
  );
  // Ties (idle processes) go to the most CPU time in all, as the collector ranks them.
  const total = new Map(
    [...b.get("agent_process_cpu_seconds_total")?.values() ?? []].map((s) => [
      Number(s.labels.pid),
      s.value,
    ]),
  );
  const byCpu = [...all].sort((x, y) =>
    (y.cpuPercent ?? -1) - (x.cpuPercent ?? -1) ||
    (total.get(y.pid) ?? 0) - (total.get(x.pid) ?? 0) || x.pid - y.pid
  ).slice(0, n);
  const chosen = new Set(byCpu.map((p) => p.pid));
  const byRss = all.filter((p) => !chosen.has(p.pid))
    .sort((x, y) => y.residentBytes - x.residentBytes || x.pid - y.pid).slice(0, n);
  return [...byCpu, ...byRss];
}
