import { assert, assertEquals, assertStringIncludes } from "../../tests/support/assert.ts";
import { ConfigError, InputError } from "../errors.ts";
import {
  CADVISOR_FAMILIES,
  type CadvisorPod,
  deriveCadvisor,
  GUEST_INPUTS,
  SANDBOX_CONTAINER,
} from "./cadvisor.ts";
import type { Labels, MetricFamily, MetricType } from "../prom/mod.ts";
import { parsePrometheusText, serializePrometheusText } from "../prom/mod.ts";
import { renderShimMetrics } from "../../tests/support/kata_metrics.ts";

const POD: CadvisorPod = {
  namespace: "prod",
  pod: "web-0",
  container: "web",
  id: "/kubepods/burstable/pod1b2c3d4e-0000-4000-8000-000000000001",
  image: "docker.io/library/nginx:1.27",
  name: "5f0c".repeat(16),
};
const BASE = {
  container: "web",
  id: POD.id,
  image: POD.image!,
  name: POD.name!,
  namespace: "prod",
  pod: "web-0",
};
const KB = 1024;

function family(
  name: string,
  help: string,
  samples: [Labels, number][],
  type: MetricType = "gauge",
): MetricFamily {
  return { name, help, type, samples: samples.map(([labels, value]) => ({ name, labels, value })) };
}

/** `/proc/stat` times of one CPU line, in USER_HZ ticks, as the items the agent writes. */
function cpuLine(cpu: string, ticks: Record<string, number>): [Labels, number][] {
  const items = [
    "user",
    "nice",
    "system",
    "idle",
    "iowait",
    "irq",
    "softirq",
    "steal",
    "guest",
    "guest_nice",
  ];
  return items.map((item) => [{ cpu, item }, ticks[item] ?? 0]);
}

const CPU0 = { user: 61_000, nice: 12, system: 11_700, idle: 4_938_000, iowait: 600, softirq: 300 };
const CPU1 = { user: 62_456, system: 11_756, idle: 4_938_543, iowait: 634, softirq: 45, steal: 67 };
const CPU_TOTAL = {
  user: 123_456,
  nice: 12,
  system: 23_456,
  idle: 9_876_543,
  iowait: 1_234,
  softirq: 345,
  steal: 67,
};

function cpuTime(lines: [string, Record<string, number>][]): MetricFamily {
  return family(
    "kata_guest_cpu_time",
    "Guest CPU statistics.",
    lines.flatMap(([cpu, ticks]) => cpuLine(cpu, ticks)),
  );
}

/** A guest's `/proc/meminfo` as the agent reports it: snake_case items, in bytes. */
const MEMINFO: Record<string, number> = {
  mem_total: 2_010_736 * KB,
  mem_free: 1_460_224 * KB,
  mem_available: 1_780_032 * KB,
  buffers: 4_096 * KB,
  cached: 310_272 * KB,
  swap_cached: 0,
  active: 120_832 * KB,
  inactive: 254_976 * KB,
  active_anon: 2_048 * KB,
  inactive_anon: 100_448 * KB,
  active_file: 118_784 * KB,
  inactive_file: 150_528 * KB,
  unevictable: 0,
  mlocked: 0,
  swap_total: 0,
  swap_free: 0,
  dirty: 12 * KB,
  writeback: 0,
  anon_pages: 98_304 * KB,
  mapped: 51_200 * KB,
  shmem: 8_192 * KB,
  slab: 40_960 * KB,
  s_reclaimable: 20_480 * KB,
  s_unreclaim: 20_480 * KB,
  kernel_stack: 2_304 * KB,
  page_tables: 1_536 * KB,
  committed_as: 409_600 * KB,
  vmalloc_total: 34_359_738_367 * KB,
  vmalloc_used: 8_192 * KB,
  vmalloc_chunk: 0,
  hugepages_total: 0,
  hugepages_free: 0,
  hugepagesize: 2_048 * KB,
};

function meminfo(values: Record<string, number> = MEMINFO): MetricFamily {
  return family(
    "kata_guest_meminfo",
    "Statistics about memory usage in the system.",
    Object.entries(values).map(([item, value]) => [{ item }, value]),
  );
}

const NETDEV_ITEMS = [
  "recv_bytes",
  "recv_packets",
  "recv_errs",
  "recv_drop",
  "recv_fifo",
  "recv_frame",
  "recv_compressed",
  "recv_multicast",
  "sent_bytes",
  "sent_packets",
  "sent_errs",
  "sent_drop",
  "sent_fifo",
  "sent_colls",
  "sent_carrier",
  "sent_compressed",
];

function netdev(name: string, interfaces: Record<string, Record<string, number>>): MetricFamily {
  return family(
    name,
    "Guest net devices statistics.",
    Object.entries(interfaces).flatMap(([iface, values]) =>
      NETDEV_ITEMS.filter((item) => item in values || !("only" in values)).map((
        item,
      ): [Labels, number] => [{ interface: iface, item }, values[item] ?? 0])
    ),
  );
}

const ETH0 = {
  recv_bytes: 1_048_576,
  recv_packets: 2_048,
  recv_errs: 1,
  recv_drop: 3,
  recv_multicast: 9,
  sent_bytes: 524_288,
  sent_packets: 1_024,
  sent_errs: 0,
  sent_drop: 2,
};
const LO = { recv_bytes: 77_000, recv_packets: 700, sent_bytes: 77_000, sent_packets: 700 };

const DISKSTAT_ITEMS = [
  "reads",
  "merged",
  "sectors_read",
  "time_reading",
  "writes",
  "writes_merged",
  "sectors_written",
  "time_writing",
  "in_progress",
  "time_in_progress",
  "weighted_time_in_progress",
  "discards",
  "discards_merged",
  "sectors_discarded",
  "time_discarding",
  "flushes",
  "time_flushing",
];

function diskstat(disks: Record<string, Record<string, number>>): MetricFamily {
  return family(
    "kata_guest_diskstat",
    "Disks statistics in system.",
    Object.entries(disks).flatMap(([disk, values]) =>
      DISKSTAT_ITEMS.map((item): [Labels, number] => [{ disk, item }, values[item] ?? 0])
    ),
  );
}

const DISKS = {
  loop0: { reads: 5, sectors_read: 40 },
  pmem0: { reads: 1_200, sectors_read: 52_000, time_reading: 310 },
  pmem0p1: { reads: 1_190, sectors_read: 51_900 },
  ram0: {},
  vda: { reads: 4_321, sectors_read: 86_420, writes: 1_234, sectors_written: 24_680 },
  vda1: { reads: 4_300, sectors_read: 86_000, writes: 1_230, sectors_written: 24_600 },
};

const TASKS = family("kata_guest_tasks", "Guest system load.", [
  [{ item: "cur" }, 2],
  [{ item: "max" }, 187],
]);

/** Families a shim answers besides the guest ones: they must not leak into the result. */
const HOST_SIDE: MetricFamily[] = [
  family("kata_hypervisor_proc_stat", "Hypervisor process statistics.", [
    [{ item: "utime" }, 98_765],
    [{ item: "stime" }, 4_321],
  ]),
  netdev("kata_hypervisor_netdev", { tap0_kata: { recv_bytes: 1, only: 1 } }),
  family("kata_hypervisor_threads", "Hypervisor process threads.", [[{}, 9]]),
  family("kata_shim_threads", "Kata containerd shim v2 process threads.", [[{}, 14]]),
  family("kata_agent_threads", "Agent process threads", [[{}, 6]]),
  family("kata_guest_load", "Guest system load.", [
    [{ item: "load1" }, 0.08],
    [{ item: "load5" }, 0.03],
    [{ item: "load15" }, 0.01],
  ]),
];

function shimOutput(): MetricFamily[] {
  return [
    ...HOST_SIDE,
    cpuTime([["total", CPU_TOTAL], ["0", CPU0], ["1", CPU1]]),
    meminfo(),
    netdev("kata_guest_netdev_stat", { eth0: ETH0, lo: LO }),
    diskstat(DISKS),
    TASKS,
  ];
}

/** The derived samples of one family, as `labels → value` with the base labels left out. */
function values(families: MetricFamily[], name: string): [Labels, number][] | undefined {
  const found = families.find((f) => f.name === name);
  return found?.samples.map((s) => {
    const extra = Object.fromEntries(
      Object.entries(s.labels).filter(([k]) => !(k in BASE)),
    );
    return [extra, s.value];
  });
}

function value(families: MetricFamily[], name: string): number | undefined {
  const found = values(families, name);
  assert(found === undefined || found.length === 1, `${name}: ${found?.length} samples`);
  return found?.[0]?.[1];
}

Deno.test("deriveCadvisor() turns USER_HZ ticks into cgroup-style user, system and usage seconds", () => {
  const out = deriveCadvisor(shimOutput(), POD);
  // user = user + nice; system = system + irq + softirq; idle, iowait and steal are left out.
  assertEquals(value(out, "container_cpu_user_seconds_total"), 1234.68);
  assertEquals(value(out, "container_cpu_system_seconds_total"), 238.01);
  assertEquals(values(out, "container_cpu_usage_seconds_total"), [[{ cpu: "total" }, 1472.69]]);
  const hz250 = deriveCadvisor(shimOutput(), POD, { userHz: 250 });
  assertEquals(value(hz250, "container_cpu_user_seconds_total"), 493.872);
});

Deno.test("deriveCadvisor() reads cpu_time in milliseconds or seconds when told so", () => {
  const ms = deriveCadvisor([cpuTime([["total", { user: 1_234_560, system: 20_000 }]])], POD, {
    cpuTimeUnit: "milliseconds",
  });
  assertEquals(value(ms, "container_cpu_user_seconds_total"), 1234.56);
  assertEquals(value(ms, "container_cpu_usage_seconds_total"), 1254.56);
  const s = deriveCadvisor([cpuTime([["total", { user: 12.5, system: 2.25 }]])], POD, {
    cpuTimeUnit: "seconds",
    userHz: 1000,
  });
  assertEquals(value(s, "container_cpu_usage_seconds_total"), 14.75);
});

Deno.test("deriveCadvisor() sums the per-CPU lines when the total line is missing", () => {
  const out = deriveCadvisor([cpuTime([["0", CPU0], ["1", CPU1]])], POD);
  assertEquals(value(out, "container_cpu_user_seconds_total"), 1234.68);
  assertEquals(value(out, "container_cpu_system_seconds_total"), 238.01);
  // A CPU without `user` must not make a short sum: the series that need it go.
  const noUser = cpuTime([["0", CPU0], ["1", CPU1]]);
  noUser.samples = noUser.samples.filter((s) =>
    !(s.labels.cpu === "1" && s.labels.item === "user")
  );
  const without = deriveCadvisor([noUser], POD);
  assertEquals(value(without, "container_cpu_user_seconds_total"), undefined);
  assertEquals(value(without, "container_cpu_usage_seconds_total"), undefined);
  assertEquals(value(without, "container_cpu_system_seconds_total"), 238.01);
  // An optional item (nice) missing on one CPU is left out for all of them.
  const noNice = cpuTime([["0", CPU0], ["1", CPU1]]);
  noNice.samples = noNice.samples.filter((s) =>
    !(s.labels.cpu === "1" && s.labels.item === "nice")
  );
  assertEquals(value(deriveCadvisor([noNice], POD), "container_cpu_user_seconds_total"), 1234.56);
});

Deno.test("deriveCadvisor() derives memory usage, working set, cache, rss, swap and limit in bytes", () => {
  const out = deriveCadvisor(shimOutput(), POD);
  assertEquals(value(out, "container_memory_usage_bytes"), (2_010_736 - 1_460_224) * KB);
  assertEquals(
    value(out, "container_memory_working_set_bytes"),
    (2_010_736 - 1_460_224 - 150_528) * KB,
  );
  assertEquals(value(out, "container_memory_cache"), (310_272 + 4_096) * KB);
  assertEquals(value(out, "container_memory_rss"), 98_304 * KB);
  assertEquals(value(out, "container_memory_swap"), 0);
  assertEquals(value(out, "container_spec_memory_limit_bytes"), 2_010_736 * KB);

  const swapping = deriveCadvisor(
    [meminfo({ ...MEMINFO, swap_total: 1_048_576 * KB, swap_free: 1_000_000 * KB })],
    POD,
  );
  assertEquals(value(swapping, "container_memory_swap"), 48_576 * KB);
});

Deno.test("deriveCadvisor() floors the working set at zero, as cAdvisor does", () => {
  const out = deriveCadvisor(
    [meminfo({ ...MEMINFO, mem_free: 1_000_000 * KB, inactive_file: 1_500_000 * KB })],
    POD,
  );
  assertEquals(value(out, "container_memory_usage_bytes"), 1_010_736 * KB);
  assertEquals(value(out, "container_memory_working_set_bytes"), 0);
});

Deno.test("deriveCadvisor() gives one network series per guest interface, without lo", () => {
  const out = deriveCadvisor(shimOutput(), POD);
  const eth0 = { interface: "eth0" };
  assertEquals(values(out, "container_network_receive_bytes_total"), [[eth0, 1_048_576]]);
  assertEquals(values(out, "container_network_receive_packets_total"), [[eth0, 2_048]]);
  assertEquals(values(out, "container_network_receive_errors_total"), [[eth0, 1]]);
  assertEquals(values(out, "container_network_receive_packets_dropped_total"), [[eth0, 3]]);
  assertEquals(values(out, "container_network_transmit_bytes_total"), [[eth0, 524_288]]);
  assertEquals(values(out, "container_network_transmit_packets_total"), [[eth0, 1_024]]);
  assertEquals(values(out, "container_network_transmit_errors_total"), [[eth0, 0]]);
  assertEquals(values(out, "container_network_transmit_packets_dropped_total"), [[eth0, 2]]);

  const many = deriveCadvisor([
    netdev("kata_guest_netdev_stat", {
      lo: LO,
      eth1: { recv_bytes: 10 },
      eth0: { recv_bytes: 20 },
      veth5d2a: { recv_bytes: 30 },
      Docker0: { recv_bytes: 40 },
    }),
  ], POD);
  assertEquals(values(many, "container_network_receive_bytes_total"), [
    [{ interface: "eth0" }, 20],
    [{ interface: "eth1" }, 10],
  ]);
});

Deno.test("deriveCadvisor() gives fs I/O per whole guest disk, sectors as 512-byte units", () => {
  const out = deriveCadvisor(shimOutput(), POD);
  // Partitions (vda1, pmem0p1), loop and RAM devices are left out.
  assertEquals(values(out, "container_fs_reads_total"), [
    [{ device: "/dev/pmem0" }, 1_200],
    [{ device: "/dev/vda" }, 4_321],
  ]);
  assertEquals(values(out, "container_fs_writes_total"), [
    [{ device: "/dev/pmem0" }, 0],
    [{ device: "/dev/vda" }, 1_234],
  ]);
  assertEquals(values(out, "container_fs_reads_bytes_total"), [
    [{ device: "/dev/pmem0" }, 52_000 * 512],
    [{ device: "/dev/vda" }, 86_420 * 512],
  ]);
  assertEquals(values(out, "container_fs_writes_bytes_total"), [
    [{ device: "/dev/pmem0" }, 0],
    [{ device: "/dev/vda" }, 24_680 * 512],
  ]);
});

Deno.test("deriveCadvisor() counts guest threads, and no processes (no input for them)", () => {
  const out = deriveCadvisor(shimOutput(), POD);
  assertEquals(value(out, "container_threads"), 187);
  assertEquals(value(out, "container_processes"), undefined);
});

Deno.test("deriveCadvisor() sets container_last_seen from the scrape time, in whole seconds", () => {
  const at = new Date("2026-11-22T03:00:00.750Z");
  assertEquals(
    value(deriveCadvisor(shimOutput(), POD, { now: at }), "container_last_seen"),
    Math.floor(at.getTime() / 1000),
  );
  assertEquals(
    value(deriveCadvisor(shimOutput(), POD, { now: 1_700_000_000_999 }), "container_last_seen"),
    1_700_000_000,
  );
  assertEquals(value(deriveCadvisor(shimOutput(), POD), "container_last_seen"), undefined);
});

Deno.test("deriveCadvisor() leaves out exactly the series whose inputs are missing", () => {
  assertEquals(deriveCadvisor(HOST_SIDE, POD), []);
  assertEquals(deriveCadvisor([], POD, { now: 0 }).map((f) => f.name), ["container_last_seen"]);

  const { inactive_file: _i, buffers: _b, swap_free: _s, ...partial } = MEMINFO;
  const mem = deriveCadvisor([meminfo(partial)], POD).map((f) => f.name);
  assertEquals(mem, [
    "container_memory_rss",
    "container_memory_usage_bytes",
    "container_spec_memory_limit_bytes",
  ]);

  const nanFree = meminfo({ ...MEMINFO, mem_free: NaN });
  const nan = deriveCadvisor([nanFree], POD).map((f) => f.name);
  assert(!nan.includes("container_memory_usage_bytes"));
  assert(!nan.includes("container_memory_working_set_bytes"));
  assert(nan.includes("container_spec_memory_limit_bytes"));

  const net = deriveCadvisor([
    netdev("kata_guest_netdev_stat", { eth0: { recv_bytes: 5, sent_bytes: 6, only: 1 } }),
  ], POD).map((f) => f.name);
  assertEquals(net, [
    "container_network_receive_bytes_total",
    "container_network_transmit_bytes_total",
  ]);

  const noSystem = cpuTime([["total", CPU_TOTAL]]);
  noSystem.samples = noSystem.samples.filter((s) => s.labels.item !== "system");
  assertEquals(deriveCadvisor([noSystem], POD).map((f) => f.name), [
    "container_cpu_user_seconds_total",
  ]);
  // nice, irq and softirq are columns /proc/stat gained over time: they add when present.
  const oldKernel = cpuTime([["total", CPU_TOTAL]]);
  oldKernel.samples = oldKernel.samples.filter((s) =>
    !["nice", "irq", "softirq"].includes(s.labels.item!)
  );
  const old = deriveCadvisor([oldKernel], POD);
  assertEquals(value(old, "container_cpu_user_seconds_total"), 1234.56);
  assertEquals(value(old, "container_cpu_system_seconds_total"), 234.56);
  assertEquals(value(old, "container_cpu_usage_seconds_total"), 1469.12);

  const tasksWithoutMax = family("kata_guest_tasks", "Guest system load.", [[{ item: "cur" }, 2]]);
  assertEquals(deriveCadvisor([tasksWithoutMax], POD), []);
});

Deno.test("deriveCadvisor() labels every series as cAdvisor does, names sorted", () => {
  const out = deriveCadvisor(shimOutput(), POD, { now: 0 });
  for (const f of out) {
    for (const s of f.samples) {
      const names = Object.keys(s.labels);
      assertEquals(names, [...names].sort(), f.name);
      assertEquals(
        Object.fromEntries(Object.entries(s.labels).filter(([k]) => k in BASE)),
        BASE,
        f.name,
      );
      assertEquals(s.name, f.name);
    }
  }
  assertEquals(out.find((f) => f.name === "container_fs_reads_total")!.samples[1]!.labels, {
    container: "web",
    device: "/dev/vda",
    id: POD.id,
    image: POD.image!,
    name: POD.name!,
    namespace: "prod",
    pod: "web-0",
  });

  const bare = deriveCadvisor([TASKS], { namespace: "n", pod: "p", id: "/kubepods/podx" });
  assertEquals(bare[0]!.samples[0]!.labels, {
    container: SANDBOX_CONTAINER,
    id: "/kubepods/podx",
    image: "",
    name: "",
    namespace: "n",
    pod: "p",
  });
  const empty = deriveCadvisor([TASKS], { namespace: "n", pod: "p", id: "i", container: "" });
  assertEquals(empty[0]!.samples[0]!.labels.container, SANDBOX_CONTAINER);
  assert(!["", "POD"].includes(SANDBOX_CONTAINER));
});

Deno.test("deriveCadvisor() declares every family with cAdvisor's help and type, sorted by name", () => {
  const out = deriveCadvisor(shimOutput(), POD, { now: 0 });
  const names = out.map((f) => f.name);
  assertEquals(names, [...names].sort());
  assertEquals(names, Object.keys(CADVISOR_FAMILIES).sort());
  for (const f of out) {
    const [type, help] = CADVISOR_FAMILIES[f.name as keyof typeof CADVISOR_FAMILIES];
    assertEquals([f.type, f.help], [type, help]);
    assert(f.type === "counter" ? f.name.endsWith("_total") : !f.name.endsWith("_total"), f.name);
  }
  assertEquals(
    out.find((f) => f.name === "container_memory_working_set_bytes")!.help,
    "Current working set in bytes.",
  );
});

Deno.test("deriveCadvisor() refuses the metrics of two sandboxes and a bad USER_HZ", () => {
  const twice = [cpuTime([["total", CPU_TOTAL]]), cpuTime([["total", CPU_TOTAL]])];
  let error: unknown;
  try {
    deriveCadvisor(twice, POD);
  } catch (e) {
    error = e;
  }
  assert(error instanceof InputError);
  assertEquals(
    error.message,
    'Cannot derive cAdvisor series: two samples of kata_guest_cpu_time cpu "total" item "user" (metrics of more than one sandbox?)',
  );
  for (const userHz of [0, -100, NaN]) {
    let bad: unknown;
    try {
      deriveCadvisor([], POD, { userHz });
    } catch (e) {
      bad = e;
    }
    assert(bad instanceof ConfigError, String(userHz));
  }
});

Deno.test("deriveCadvisor() ignores guest samples without the labels it groups by", () => {
  const odd = family(GUEST_INPUTS.memory.family, "x", [
    [{ item: "mem_total" }, 4096],
    [{ item: "mem_free" }, 1024],
    [{ unexpected_label: "mem_free" }, 999],
  ]);
  const netNoInterface = family(GUEST_INPUTS.network.family, "x", [[{ item: "recv_bytes" }, 1]]);
  const out = deriveCadvisor([odd, netNoInterface], POD);
  assertEquals(value(out, "container_memory_usage_bytes"), 3072);
  assertEquals(values(out, "container_network_receive_bytes_total"), undefined);
});

/** The values of a parsed family's samples that carry `match`. */
function guest(families: MetricFamily[], name: string, match: Labels): number[] {
  const found = families.find((f) => f.name === name);
  assert(found, `no family ${name}`);
  return found.samples
    .filter((s) => Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .map((s) => s.value);
}

const SANDBOX = "4f0c0b6a".repeat(8);

Deno.test("deriveCadvisor() derives the series of a generated shim's /metrics text", () => {
  const parsed = parsePrometheusText(renderShimMetrics(SANDBOX, 5, { cpus: 4 }));
  const out = deriveCadvisor(parsed, POD, { now: new Date("2026-11-22T03:00:00Z") });
  assertEquals(out.map((f) => f.name), [
    "container_cpu_system_seconds_total",
    "container_cpu_usage_seconds_total",
    "container_cpu_user_seconds_total",
    "container_fs_reads_bytes_total",
    "container_fs_reads_total",
    "container_fs_writes_bytes_total",
    "container_fs_writes_total",
    "container_last_seen",
    "container_memory_cache",
    "container_memory_rss",
    "container_memory_usage_bytes",
    "container_memory_working_set_bytes",
    "container_network_receive_bytes_total",
    "container_network_receive_packets_total",
    "container_network_transmit_bytes_total",
    "container_network_transmit_packets_total",
    "container_spec_memory_limit_bytes",
    "container_threads",
  ]);

  // Four CPUs without a total line: summed, in USER_HZ ticks.
  const ticks = (item: string) => {
    const perCpu = guest(parsed, "kata_guest_cpu_time", { item });
    assertEquals(perCpu.length, 4);
    return perCpu.reduce((a, b) => a + b, 0);
  };
  assertEquals(value(out, "container_cpu_user_seconds_total"), ticks("user") / 100);
  assertEquals(value(out, "container_cpu_system_seconds_total"), ticks("system") / 100);
  assertEquals(
    values(out, "container_cpu_usage_seconds_total"),
    [[{ cpu: "total" }, (ticks("user") + ticks("system")) / 100]],
  );

  const mem = (item: string) => guest(parsed, "kata_guest_meminfo", { item })[0]!;
  const usage = mem("mem_total") - mem("mem_free");
  assertEquals(value(out, "container_memory_usage_bytes"), usage);
  assertEquals(
    value(out, "container_memory_working_set_bytes"),
    Math.max(0, usage - mem("inactive_file")),
  );
  assertEquals(value(out, "container_memory_cache"), mem("cached") + mem("buffers"));
  assertEquals(value(out, "container_memory_rss"), mem("anon_pages"));
  assertEquals(value(out, "container_spec_memory_limit_bytes"), mem("mem_total"));

  // The guest's eth0 only: the hypervisor's tap0_kata is the host side of the same traffic.
  const net = (item: string) =>
    guest(parsed, "kata_guest_netdev_stat", { interface: "eth0", item })[0]!;
  assertEquals(values(out, "container_network_receive_bytes_total"), [
    [{ interface: "eth0" }, net("recv_bytes")],
  ]);
  assertEquals(values(out, "container_network_transmit_packets_total"), [
    [{ interface: "eth0" }, net("sent_packets")],
  ]);

  const disk = (item: string) => guest(parsed, "kata_guest_diskstat", { disk: "vda", item })[0]!;
  assertEquals(values(out, "container_fs_reads_total"), [[{ device: "/dev/vda" }, disk("reads")]]);
  assertEquals(values(out, "container_fs_writes_bytes_total"), [
    [{ device: "/dev/vda" }, disk("sectors_written") * 512],
  ]);
  assertEquals(
    value(out, "container_threads"),
    guest(parsed, "kata_guest_tasks", { item: "max" })[0],
  );
  assertEquals(value(out, "container_last_seen"), 1_795_316_400);
});

Deno.test("deriveCadvisor() gives the same series with kata-monitor's labels, counters never falling", () => {
  const monitor = {
    sandbox_id: SANDBOX,
    cri_uid: "1b2c3d4e-0000-4000-8000-000000000001",
    cri_name: "web-0",
    cri_namespace: "prod",
  };
  let previous: MetricFamily[] | undefined;
  for (let tick = 0; tick < 30; tick++) {
    const plain = deriveCadvisor(parsePrometheusText(renderShimMetrics(SANDBOX, tick)), POD);
    const labelled = deriveCadvisor(
      parsePrometheusText(renderShimMetrics(SANDBOX, tick, { labels: monitor })),
      POD,
    );
    assertEquals(labelled, plain);
    if (previous) {
      for (const family of plain.filter((f) => f.type === "counter")) {
        const before = previous.find((f) => f.name === family.name)!;
        family.samples.forEach((sample, i) => {
          assert(sample.value >= before.samples[i]!.value, `${family.name} fell at tick ${tick}`);
        });
      }
    }
    previous = plain;
  }
});

Deno.test("deriveCadvisor() output prints as kubelet's /metrics/cadvisor lines and parses back", () => {
  const out = deriveCadvisor(shimOutput(), POD, { now: 1_763_780_400_000 });
  const text = serializePrometheusText(out);
  const labels = `container="web",id="${POD.id}",image="${POD.image}",name="${POD.name}",` +
    `namespace="prod",pod="web-0"`;
  for (
    const line of [
      "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.\n" +
      "# TYPE container_cpu_usage_seconds_total counter\n" +
      `container_cpu_usage_seconds_total{container="web",cpu="total",id="${POD.id}",` +
      `image="${POD.image}",name="${POD.name}",namespace="prod",pod="web-0"} 1472.69\n`,
      "# TYPE container_memory_working_set_bytes gauge\n" +
      `container_memory_working_set_bytes{${labels}} ${409_583_616}\n`,
      `container_fs_reads_bytes_total{container="web",device="/dev/vda",id="${POD.id}",`,
      `container_last_seen{${labels}} 1763780400\n`,
    ]
  ) assertStringIncludes(text, line);
  assertEquals(parsePrometheusText(text), out);
});
