/**
 * Derives cAdvisor-named series (`container_*`) for one Kata sandbox from its shim's
 * metrics, so that dashboards and `kubectl top`-style queries written for cAdvisor work for
 * Kata pods, whose processes run inside a VM where the host's cAdvisor cannot see them.
 *
 * Only the guest families (`kata_guest_*`, read by the kata-agent inside the VM) feed the
 * series: they describe what the pod's workload does, as cAdvisor describes a container.
 * The hypervisor and shim families measure the host-side cost of the VM (the pod overhead)
 * and are left out on purpose: mixing them in would make a series change meaning, and a
 * counter jump, whenever one source is missing from a scrape.
 *
 * ## Labels
 *
 * Every series has cAdvisor's label set, names sorted as cAdvisor prints them:
 * `container`, `id`, `image`, `name`, `namespace`, `pod` (plus `cpu`, `interface` or
 * `device` where cAdvisor has them). The sandbox is the pod-level cgroup of a Kata pod: one
 * VM holds all of the pod's containers, and the guest metrics cannot be split per container.
 *
 * - `id`: the caller's pod-level cgroup path as cAdvisor prints it, `/kubepods/<qos>/pod<uid>`
 *   (cgroupfs driver) or `/kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice`
 *   (systemd driver): what is measured is the pod's sandbox, not one container.
 * - `container`: the caller's container name, else {@linkcode SANDBOX_CONTAINER}; never
 *   empty. cAdvisor prints `container=""` for the pod-level cgroup (and `"POD"` for the pause
 *   container under dockershim), and the usual queries drop both to avoid counting a pod
 *   twice: `sum by (pod) (rate(container_cpu_usage_seconds_total{container!=""}[5m]))`,
 *   `container!="POD"`. Pod-level labels would hide Kata pods from exactly the dashboards this
 *   exists for, and nothing double-counts: the host's cAdvisor sees no process of a Kata
 *   container. Pass the application container's name when the pod has one, so that joins on
 *   `container` with kube-state-metrics (limits, requests) work too.
 * - `image`: the caller's, else `""`. The kubernetes-mixin recording rules select
 *   `image!=""`; pass the application container's image to be counted by them.
 * - `name`: the caller's (the sandbox id is a good choice: cAdvisor prints the runtime's
 *   container id there), else `""`.
 *
 * ## Mapping
 *
 * | cAdvisor series | Type | Extra labels | From (guest metrics of the sandbox) |
 * | --- | --- | --- | --- |
 * | `container_cpu_usage_seconds_total` | counter | `cpu="total"` | `kata_guest_cpu_time{cpu="total"}` items `user + nice + system + irq + softirq`, in seconds |
 * | `container_cpu_user_seconds_total` | counter | | `cpu_time` items `user + nice`, in seconds |
 * | `container_cpu_system_seconds_total` | counter | | `cpu_time` items `system + irq + softirq`, in seconds |
 * | `container_memory_usage_bytes` | gauge | | `kata_guest_meminfo` items `mem_total - mem_free` |
 * | `container_memory_working_set_bytes` | gauge | | usage `- inactive_file`, at least 0 |
 * | `container_memory_cache` | gauge | | `meminfo` items `cached + buffers` |
 * | `container_memory_rss` | gauge | | `meminfo` item `anon_pages` |
 * | `container_memory_swap` | gauge | | `meminfo` items `swap_total - swap_free` |
 * | `container_spec_memory_limit_bytes` | gauge | | `meminfo` item `mem_total` |
 * | `container_network_receive_bytes_total` | counter | `interface` | `kata_guest_netdev_stat` item `recv_bytes` |
 * | `container_network_receive_packets_total` | counter | `interface` | `netdev_stat` item `recv_packets` |
 * | `container_network_receive_errors_total` | counter | `interface` | `netdev_stat` item `recv_errs` |
 * | `container_network_receive_packets_dropped_total` | counter | `interface` | `netdev_stat` item `recv_drop` |
 * | `container_network_transmit_bytes_total` | counter | `interface` | `netdev_stat` item `sent_bytes` |
 * | `container_network_transmit_packets_total` | counter | `interface` | `netdev_stat` item `sent_packets` |
 * | `container_network_transmit_errors_total` | counter | `interface` | `netdev_stat` item `sent_errs` |
 * | `container_network_transmit_packets_dropped_total` | counter | `interface` | `netdev_stat` item `sent_drop` |
 * | `container_fs_reads_total` | counter | `device` | `kata_guest_diskstat` item `reads` |
 * | `container_fs_writes_total` | counter | `device` | `diskstat` item `writes` |
 * | `container_fs_reads_bytes_total` | counter | `device` | `diskstat` item `sectors_read` × 512 |
 * | `container_fs_writes_bytes_total` | counter | `device` | `diskstat` item `sectors_written` × 512 |
 * | `container_threads` | gauge | | `kata_guest_tasks` item `max` |
 * | `container_processes` | - | | not derived: no shim family counts the guest's processes |
 * | `container_last_seen` | gauge | | the scrape time passed in, whole seconds since the epoch |
 *
 * Semantics, and where they differ from cAdvisor on a runc container:
 *
 * - CPU follows the kernel's cgroup accounting (`cpuacct.stat`, `cpu.stat`): user time is
 *   `user + nice`, system time is `system + irq + softirq`, usage is their sum. `idle` and
 *   `iowait` are idle; `steal` is time the vCPU wanted but the host gave to someone else, so
 *   the pod did not consume it; `guest`/`guest_nice` are already inside `user`/`nice`. The
 *   kernel's `total` line is used rather than a sum over `cpu="0"`, `"1"`...: it keeps the time
 *   of vCPUs that were hot-unplugged, so the counter never goes back (the per-CPU lines are
 *   summed only when `total` is missing). The guest kernel and the kata-agent are counted
 *   too: they run for the pod. `user` and `system` are required; `nice`, `irq` and `softirq`
 *   add to them when present. The unit of `cpu_time` depends on the agent's release
 *   ({@linkcode CpuTimeUnit}); the default reads USER_HZ ticks.
 * - Memory is the whole guest's: `mem_total - mem_free` is what the root memory cgroup of the
 *   guest would charge (anonymous, page cache, kernel), the closest match to a cgroup's
 *   `memory.usage_in_bytes`/`memory.current`; working set subtracts `inactive_file` as
 *   cAdvisor does. `cache` is the memory cgroup's `file` (page cache and buffers), `rss` its
 *   `anon`. The kata-agent reports meminfo in bytes (the `procfs` crate converts from kB).
 *   The limit is the guest's RAM (`mem_total`), which grows as Kata hot-plugs memory for
 *   containers' limits, not the pod's `resources.limits`.
 * - Network counts the guest's interfaces, without those cAdvisor ignores (`lo`, `veth*`,
 *   `docker*`, `nerdctl*`).
 * - Disk I/O counts the guest's whole disks as `/dev/<name>`, as cAdvisor names devices, and
 *   leaves out partitions (their I/O is already in their disk's) and loop, RAM and optical
 *   devices. `/proc/diskstats` counts 512-byte sectors whatever the device's block size.
 * - Threads are all scheduling entities of the guest (`/proc/loadavg`), guest kernel threads
 *   included, so more than cAdvisor would count for the same workload under runc.
 *
 * Missing inputs leave a series out, never a made-up zero: a family that is absent, an item
 * that is missing or not a finite number, takes out every series that needs it and only
 * those.
 *
 * @module
 */
import { ConfigError, InputError } from "../errors.ts";
import type { Labels, MetricFamily, MetricType, Sample } from "../prom/mod.ts";

/**
 * The guest families and `item` values read, in one place to adjust if an agent names them
 * differently. Values are the kata-agent's (`src/agent/src/metrics.rs`).
 */
export const GUEST_INPUTS = {
  cpu: {
    family: "kata_guest_cpu_time",
    /** The `cpu` label value of the all-CPU line. */
    total: "total",
    /**
     * Summed into user time, as the kernel's cgroup accounting does. The first item is
     * required, the others count when present (`/proc/stat` gained columns over the years).
     */
    user: ["user", "nice"],
    /** Summed into system time, as `user` is. */
    system: ["system", "irq", "softirq"],
  },
  memory: {
    family: "kata_guest_meminfo",
    total: "mem_total",
    free: "mem_free",
    inactiveFile: "inactive_file",
    /** Summed into the page cache. */
    cache: ["cached", "buffers"],
    anon: "anon_pages",
    swapTotal: "swap_total",
    swapFree: "swap_free",
  },
  network: {
    family: "kata_guest_netdev_stat",
    receiveBytes: "recv_bytes",
    receivePackets: "recv_packets",
    receiveErrors: "recv_errs",
    receiveDropped: "recv_drop",
    transmitBytes: "sent_bytes",
    transmitPackets: "sent_packets",
    transmitErrors: "sent_errs",
    transmitDropped: "sent_drop",
  },
  disk: {
    family: "kata_guest_diskstat",
    reads: "reads",
    writes: "writes",
    sectorsRead: "sectors_read",
    sectorsWritten: "sectors_written",
  },
  tasks: {
    family: "kata_guest_tasks",
    /** `/proc/loadavg`'s count of existing scheduling entities (`cur`: the runnable ones). */
    threads: "max",
  },
} as const;

/** Which guest interfaces and disks are left out. */
export const GUEST_DEVICE_FILTERS = {
  /** cAdvisor's ignored interface prefixes (compared in lower case). */
  ignoredInterfacePrefixes: ["lo", "veth", "docker", "nerdctl"],
  /** Devices that are no disk of the pod: loop, RAM disks, zram, optical, floppy. */
  ignoredDisk: /^(?:loop|ram|zram|sr|fd)\d+$/,
  /** Partitions, whose I/O the whole disk already counts: vda1, sda2, nvme0n1p1, pmem0p1. */
  partition: /^(?:(?:[hsv]d|xvd)[a-z]+\d+|(?:nvme\d+n\d+|mmcblk\d+|pmem\d+|nbd\d+|md\d+)p\d+)$/,
} as const;

/** The size of a `/proc/diskstats` sector, whatever the device's block size. */
const SECTOR_BYTES = 512;

/** The `container` label when the caller names none: never empty, never `"POD"`. */
export const SANDBOX_CONTAINER = "kata-sandbox";

/** The derived families, with cAdvisor's help texts and types. */
export const CADVISOR_FAMILIES = {
  container_cpu_usage_seconds_total: ["counter", "Cumulative cpu time consumed in seconds."],
  container_cpu_user_seconds_total: ["counter", "Cumulative user cpu time consumed in seconds."],
  container_cpu_system_seconds_total: [
    "counter",
    "Cumulative system cpu time consumed in seconds.",
  ],
  container_memory_usage_bytes: [
    "gauge",
    "Current memory usage in bytes, including all memory regardless of when it was accessed",
  ],
  container_memory_working_set_bytes: ["gauge", "Current working set in bytes."],
  container_memory_cache: ["gauge", "Number of bytes of page cache memory."],
  container_memory_rss: ["gauge", "Size of RSS in bytes."],
  container_memory_swap: ["gauge", "Container swap usage in bytes."],
  container_spec_memory_limit_bytes: ["gauge", "Memory limit for the container."],
  container_network_receive_bytes_total: ["counter", "Cumulative count of bytes received"],
  container_network_receive_packets_total: ["counter", "Cumulative count of packets received"],
  container_network_receive_errors_total: [
    "counter",
    "Cumulative count of errors encountered while receiving",
  ],
  container_network_receive_packets_dropped_total: [
    "counter",
    "Cumulative count of packets dropped while receiving",
  ],
  container_network_transmit_bytes_total: ["counter", "Cumulative count of bytes transmitted"],
  container_network_transmit_packets_total: [
    "counter",
    "Cumulative count of packets transmitted",
  ],
  container_network_transmit_errors_total: [
    "counter",
    "Cumulative count of errors encountered while transmitting",
  ],
  container_network_transmit_packets_dropped_total: [
    "counter",
    "Cumulative count of packets dropped while transmitting",
  ],
  container_fs_reads_total: ["counter", "Cumulative count of reads completed"],
  container_fs_writes_total: ["counter", "Cumulative count of writes completed"],
  container_fs_reads_bytes_total: ["counter", "Cumulative count of bytes read"],
  container_fs_writes_bytes_total: ["counter", "Cumulative count of bytes written"],
  container_threads: ["gauge", "Number of threads running inside the container"],
  container_last_seen: ["gauge", "Last time a container was seen by the exporter"],
} as const satisfies Record<string, readonly [MetricType, string]>;

/** The name of a derived family. */
export type CadvisorFamilyName = keyof typeof CADVISOR_FAMILIES;

/**
 * The unit of `kata_guest_cpu_time` values. `/proc/stat` counts USER_HZ ticks ("jiffies"),
 * but the kata-agent converts them with the `procfs` crate before exporting: its current
 * `metrics.rs` sets `cpu_time.user_ms()` (milliseconds), older releases set `cpu_time.user`
 * from a `procfs` whose `CpuTime` fields were `f32` seconds. Choose the unit of the agent in
 * use; with the wrong one every CPU series is off by a constant factor (×10 for
 * milliseconds read as jiffies at USER_HZ 100).
 */
export type CpuTimeUnit = "jiffies" | "milliseconds" | "seconds";

/** The pod the sandbox belongs to, for the cAdvisor labels (see the module doc). */
export interface CadvisorPod {
  namespace: string;
  pod: string;
  /** The container the sandbox is shown as; default {@linkcode SANDBOX_CONTAINER}. */
  container?: string;
  /** The pod-level cgroup path, as cAdvisor prints it: `/kubepods/burstable/pod<uid>`. */
  id: string;
  /** The image to show; default `""`. */
  image?: string;
  /** The runtime name to show (the sandbox id is a good choice); default `""`. */
  name?: string;
}

/** Options of {@linkcode deriveCadvisor}. */
export interface DeriveCadvisorOptions {
  /** The unit of `kata_guest_cpu_time` values; default `"jiffies"`. */
  cpuTimeUnit?: CpuTimeUnit;
  /** Ticks per second (USER_HZ) when the unit is `"jiffies"`; default 100. */
  userHz?: number;
  /** The scrape time, for `container_last_seen` (left out when not given). */
  now?: Date | number;
}

/** Values of one guest family: by the grouping label (or `""`), then by `item`. */
type Table = Map<string, Map<string, number>>;

/**
 * Turns one sandbox's shim metrics into cAdvisor-named families (see the module doc for
 * the mapping), families sorted by name and samples by label, as cAdvisor prints them.
 * Families other than the guest ones are ignored, so the shim's whole output can be passed.
 *
 * @throws {InputError} when the input holds two samples of the same guest value (metrics of
 * more than one sandbox)
 * @throws {ConfigError} when `userHz` is not a positive number
 *
 * @example Usage
 * ```ts
 * const families = deriveCadvisor(parsePrometheusText(await fetchShimMetrics(socket, limits)), {
 *   namespace: "prod",
 *   pod: "web-0",
 *   container: "web",
 *   id: "/kubepods/burstable/pod1b2c3d4e-0000-4000-8000-000000000001",
 *   image: "nginx:1.27",
 *   name: sandboxId,
 * }, { now: new Date() });
 * ```
 */
export function deriveCadvisor(
  families: readonly MetricFamily[],
  pod: CadvisorPod,
  options: DeriveCadvisorOptions = {},
): MetricFamily[] {
  const cpuUnits = cpuUnitsPerSecond(options);
  const base: Labels = {
    container: pod.container || SANDBOX_CONTAINER,
    id: pod.id,
    image: pod.image ?? "",
    name: pod.name ?? "",
    namespace: pod.namespace,
    pod: pod.pod,
  };
  const out = new Map<CadvisorFamilyName, Sample[]>();
  const put = (family: CadvisorFamilyName, value: number | undefined, extra: Labels = {}) => {
    if (value === undefined) return;
    const samples = out.get(family) ?? [];
    samples.push({ name: family, labels: sortLabels({ ...base, ...extra }), value });
    out.set(family, samples);
  };

  const cpuIn = GUEST_INPUTS.cpu;
  const cpu = cpuTimes(table(families, cpuIn.family, "cpu"));
  const user = sumFirstRequired(cpu, cpuIn.user);
  const system = sumFirstRequired(cpu, cpuIn.system);
  const total = { cpu: "total" };
  put("container_cpu_usage_seconds_total", divide(add(user, system), cpuUnits), total);
  put("container_cpu_user_seconds_total", divide(user, cpuUnits));
  put("container_cpu_system_seconds_total", divide(system, cpuUnits));

  const memIn = GUEST_INPUTS.memory;
  const mem = table(families, memIn.family).get("") ?? new Map<string, number>();
  const usage = subtract(mem.get(memIn.total), mem.get(memIn.free));
  put("container_memory_usage_bytes", usage);
  put("container_memory_working_set_bytes", subtract(usage, mem.get(memIn.inactiveFile)));
  put("container_memory_cache", sum(mem, memIn.cache));
  put("container_memory_rss", mem.get(memIn.anon));
  put("container_memory_swap", subtract(mem.get(memIn.swapTotal), mem.get(memIn.swapFree)));
  put("container_spec_memory_limit_bytes", mem.get(memIn.total));

  const netIn = GUEST_INPUTS.network;
  for (const [name, items] of sortedEntries(table(families, netIn.family, "interface"))) {
    if (ignoredInterface(name)) continue;
    const labels = { interface: name };
    put("container_network_receive_bytes_total", items.get(netIn.receiveBytes), labels);
    put("container_network_receive_packets_total", items.get(netIn.receivePackets), labels);
    put("container_network_receive_errors_total", items.get(netIn.receiveErrors), labels);
    put(
      "container_network_receive_packets_dropped_total",
      items.get(netIn.receiveDropped),
      labels,
    );
    put("container_network_transmit_bytes_total", items.get(netIn.transmitBytes), labels);
    put("container_network_transmit_packets_total", items.get(netIn.transmitPackets), labels);
    put("container_network_transmit_errors_total", items.get(netIn.transmitErrors), labels);
    put(
      "container_network_transmit_packets_dropped_total",
      items.get(netIn.transmitDropped),
      labels,
    );
  }

  const diskIn = GUEST_INPUTS.disk;
  for (const [name, items] of sortedEntries(table(families, diskIn.family, "disk"))) {
    if (GUEST_DEVICE_FILTERS.ignoredDisk.test(name)) continue;
    if (GUEST_DEVICE_FILTERS.partition.test(name)) continue;
    const labels = { device: `/dev/${name}` };
    put("container_fs_reads_total", items.get(diskIn.reads), labels);
    put("container_fs_writes_total", items.get(diskIn.writes), labels);
    put(
      "container_fs_reads_bytes_total",
      scale(items.get(diskIn.sectorsRead), SECTOR_BYTES),
      labels,
    );
    put(
      "container_fs_writes_bytes_total",
      scale(items.get(diskIn.sectorsWritten), SECTOR_BYTES),
      labels,
    );
  }

  const tasksIn = GUEST_INPUTS.tasks;
  put("container_threads", table(families, tasksIn.family).get("")?.get(tasksIn.threads));

  if (options.now !== undefined) {
    const ms = options.now instanceof Date ? options.now.getTime() : options.now;
    if (Number.isFinite(ms)) put("container_last_seen", Math.floor(ms / 1000));
  }

  return [...out.entries()]
    .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .map(([name, samples]) => {
      const [type, help] = CADVISOR_FAMILIES[name];
      return { name, help, type, samples };
    });
}

/** Units of `kata_guest_cpu_time` per second (dividing keeps `12345 / 100` exact to print). */
function cpuUnitsPerSecond(options: DeriveCadvisorOptions): number {
  switch (options.cpuTimeUnit ?? "jiffies") {
    case "seconds":
      return 1;
    case "milliseconds":
      return 1000;
    case "jiffies": {
      const hz = options.userHz ?? 100;
      if (!(Number.isFinite(hz) && hz > 0)) {
        throw new ConfigError(`Invalid USER_HZ "${hz}": expected a positive number`);
      }
      return hz;
    }
  }
}

/**
 * Collects a guest family's finite values by `groupBy` (or `""`) and `item`. Samples without
 * those labels are skipped; a second sample for the same pair means more than one sandbox.
 */
function table(families: readonly MetricFamily[], name: string, groupBy?: string): Table {
  const result: Table = new Map();
  for (const family of families) {
    if (family.name !== name) continue;
    for (const sample of family.samples) {
      const group = groupBy === undefined ? "" : sample.labels[groupBy];
      const item = sample.labels.item;
      if (group === undefined || item === undefined || !Number.isFinite(sample.value)) continue;
      const items = result.get(group) ?? new Map<string, number>();
      if (items.has(item)) {
        const where = groupBy === undefined ? "" : ` ${groupBy} "${group}"`;
        throw new InputError(
          `Cannot derive cAdvisor series: two samples of ${name}${where} item "${item}" ` +
            "(metrics of more than one sandbox?)",
        );
      }
      items.set(item, sample.value);
      result.set(group, items);
    }
  }
  return result;
}

/** The all-CPU times: the `total` line, else the sum of the per-CPU lines. */
function cpuTimes(byCpu: Table): Map<string, number> {
  const total = byCpu.get(GUEST_INPUTS.cpu.total);
  if (total) return total;
  const cpus = [...byCpu.values()];
  const summed = new Map<string, number>();
  if (cpus.length === 0) return summed;
  for (const item of new Set(cpus.flatMap((c) => [...c.keys()]))) {
    // A CPU without the item would make a sum that is too small: leave the item out.
    const values = cpus.map((c) => c.get(item));
    if (values.every((v) => v !== undefined)) summed.set(item, values.reduce((a, b) => a + b, 0));
  }
  return summed;
}

/** The sum of `items`, or undefined when the first one is missing. */
function sumFirstRequired(
  values: Map<string, number>,
  items: readonly string[],
): number | undefined {
  const [first, ...rest] = items;
  const required = first === undefined ? undefined : values.get(first);
  if (required === undefined) return undefined;
  return rest.reduce((total, item) => total + (values.get(item) ?? 0), required);
}

/** The sum of `items`, or undefined when any is missing. */
function sum(values: Map<string, number>, items: readonly string[]): number | undefined {
  let total = 0;
  for (const item of items) {
    const value = values.get(item);
    if (value === undefined) return undefined;
    total += value;
  }
  return total;
}

function add(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : a + b;
}

/** `a - b`, at least 0 (as cAdvisor floors the working set), or undefined. */
function subtract(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : Math.max(0, a - b);
}

function scale(value: number | undefined, factor: number): number | undefined {
  return value === undefined ? undefined : value * factor;
}

function divide(value: number | undefined, divisor: number): number | undefined {
  return value === undefined ? undefined : value / divisor;
}

function ignoredInterface(name: string): boolean {
  const lower = name.toLowerCase();
  return GUEST_DEVICE_FILTERS.ignoredInterfacePrefixes.some((prefix) => lower.startsWith(prefix));
}

function sortedEntries<V>(map: Map<string, V>): [string, V][] {
  return [...map.entries()].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
}

/** Labels with names in sorted order, as cAdvisor (client_golang) prints them. */
function sortLabels(labels: Labels): Labels {
  return Object.fromEntries(
    Object.entries(labels).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0),
  );
}
