import { assertEquals } from "../../tests/support/assert.ts";
import type { MetricFamily, MetricType } from "../prom/mod.ts";
import { collectNode } from "./mod.ts";
import { buildReport, counterDelta, type Snapshot } from "./stats.ts";
import { fakeStat, freshCollectors, HOST, hostStatfs, pathsAt } from "./_testing.ts";

/** Families from `[name, type, labels, value]` rows. */
function families(rows: [string, MetricType, Record<string, string>, number][]): MetricFamily[] {
  const out = new Map<string, MetricFamily>();
  for (const [name, type, labels, value] of rows) {
    const family = out.get(name) ?? { name, help: "", type, samples: [] };
    family.samples.push({ name, labels, value });
    out.set(name, family);
  }
  return [...out.values()];
}

const TIME = new Date("2026-12-01T12:00:00Z");

function disk(device: string, reads: number, readSeconds: number, ioSeconds: number) {
  return [
    ["node_disk_reads_completed_total", "counter", { device }, reads],
    ["node_disk_writes_completed_total", "counter", { device }, 0],
    ["node_disk_read_bytes_total", "counter", { device }, reads * 4096],
    ["node_disk_written_bytes_total", "counter", { device }, 0],
    ["node_disk_read_time_seconds_total", "counter", { device }, readSeconds],
    ["node_disk_write_time_seconds_total", "counter", { device }, 0],
    ["node_disk_io_time_seconds_total", "counter", { device }, ioSeconds],
    ["node_disk_io_time_weighted_seconds_total", "counter", { device }, readSeconds],
  ] as [string, MetricType, Record<string, string>, number][];
}

Deno.test("counterDelta() tells a 32-bit wrap from a reset", () => {
  assertEquals(counterDelta(10, 25), 15);
  assertEquals(counterDelta(2 ** 32 - 6, 5), 11);
  // Far from the top of the range: the counter started again from 0.
  assertEquals(counterDelta(1000, 5), 5);
  // A disk's busy time wraps at 2^32 ms, exported in seconds.
  assertEquals(counterDelta(4294967.2, 0.5, 2 ** 32 / 1000), 0.5 + 4294967.296 - 4294967.2);
});

Deno.test("buildReport() computes iostat's figures, across a wrapped busy time", () => {
  const before: Snapshot = { at: 0, families: families(disk("sda", 100, 1, 4294966.796)) };
  // 2 s later: 200 reads taking 0.5 s in all; the busy time wrapped at 2^32 ms.
  const after: Snapshot = { at: 2000, families: families(disk("sda", 300, 1.5, 0.5)) };
  const report = buildReport(before, after, { topProcesses: 5, time: TIME });
  assertEquals(report.intervalSeconds, 2);
  const sda = report.disks![0]!;
  assertEquals(sda.readsPerSecond, 100);
  assertEquals(sda.readBytesPerSecond, 100 * 4096);
  assertEquals(sda.readAwaitMs, 2.5);
  assertEquals(sda.writeAwaitMs, null);
  // 1 s busy of 2 (the 0.5 s before the wrap and the 0.5 s after).
  assertEquals(Math.round(sda.utilizationPercent), 50);
});

Deno.test("buildReport() leaves out a disk added between the two collections", () => {
  const before: Snapshot = { at: 0, families: families(disk("sda", 100, 1, 1)) };
  const after: Snapshot = {
    at: 1000,
    families: families([...disk("sda", 110, 1, 1), ...disk("sdb", 50, 1, 1)]),
  };
  const report = buildReport(before, after, { topProcesses: 5, time: TIME });
  assertEquals(report.disks!.map((d) => d.device), ["sda"]);
  // Only the sections of the collectors that ran.
  assertEquals(Object.keys(report), ["time", "intervalSeconds", "disks"]);
});

Deno.test("buildReport() computes CPU shares, df's use and top's %CPU", () => {
  const cpu = (user: number, idle: number) =>
    [
      ["node_cpu_seconds_total", "counter", { cpu: "0", mode: "user" }, user],
      ["node_cpu_seconds_total", "counter", { cpu: "0", mode: "idle" }, idle],
      ["node_cpu_seconds_total", "counter", { cpu: "1", mode: "user" }, user],
      ["node_cpu_seconds_total", "counter", { cpu: "1", mode: "idle" }, idle],
    ] as [string, MetricType, Record<string, string>, number][];
  const fs = { device: "/dev/sda1", mountpoint: "/data dir", fstype: "ext4" };
  const proc = (pid: string, comm: string, cpuSeconds: number, rss: number) =>
    [
      ["agent_process_cpu_seconds_total", "counter", { pid, comm }, cpuSeconds],
      ["agent_process_resident_memory_bytes", "gauge", { pid, comm }, rss],
    ] as [string, MetricType, Record<string, string>, number][];
  const before: Snapshot = {
    at: 0,
    families: families([...cpu(10, 90), ...proc("1", "init", 5, 100), ...proc("2", "a", 1, 5)]),
  };
  const after: Snapshot = {
    at: 1000,
    families: families([
      ...cpu(10.25, 90.75),
      ["node_filesystem_device_error", "gauge", fs, 0],
      ["node_filesystem_size_bytes", "gauge", fs, 1000],
      ["node_filesystem_free_bytes", "gauge", fs, 300],
      ["node_filesystem_avail_bytes", "gauge", fs, 200],
      ["node_filesystem_files", "gauge", fs, 10],
      ["node_filesystem_files_free", "gauge", fs, 9],
      ["node_filesystem_readonly", "gauge", fs, 0],
      ...proc("1", "init", 5.5, 100),
      // PID 2 reused by another program: no %CPU for it.
      ...proc("2", "b", 0.1, 50),
      ...proc("3", "new", 0.3, 500),
    ]),
  };
  const report = buildReport(before, after, { topProcesses: 1, time: TIME });
  assertEquals(report.cpu, { cpus: 2, percent: { user: 25, idle: 75 } });
  assertEquals(report.filesystems, [{
    mountpoint: "/data dir",
    device: "/dev/sda1",
    fstype: "ext4",
    sizeBytes: 1000,
    usedBytes: 700,
    availableBytes: 200,
    // 700 of 900, rounded up as df does.
    usePercent: 78,
    inodesUsePercent: 10,
    readonly: false,
  }]);
  assertEquals(
    report.processes!.top.map((p) => [p.pid, p.cpuPercent, p.residentBytes]),
    [[1, 50, 100], [3, null, 500]],
  );
});

Deno.test("buildReport() of two collections of the captured host has every section", async () => {
  const collectors = freshCollectors();
  const settings = { run: fakeStat(hostStatfs(HOST)), topProcesses: 1_000 };
  const first = await collectNode(collectors, pathsAt(HOST), settings);
  const second = await collectNode(collectors, pathsAt(HOST), settings);
  const report = buildReport(
    { at: 0, families: first.families },
    { at: 1000, families: second.families },
    { topProcesses: 2, time: TIME },
  );
  assertEquals(Object.keys(report), [
    "time",
    "intervalSeconds",
    "cpuModel",
    "cpu",
    "load",
    "memory",
    "pressure",
    "disks",
    "network",
    "tcp",
    "filesystems",
    "numa",
    "processes",
  ]);
  // Nothing moved between two reads of the same files.
  assertEquals(report.disks![0]!.readsPerSecond, 0);
  assertEquals(report.cpu!.percent.user, 0);
  assertEquals(report.processes!.top.map((p) => p.comm), [
    "milvus",
    "process_api",
    "etcd",
    "prometheus-node",
  ]);
  assertEquals(report.tcp!.states, { listen: 2 });
});
