/**
 * The node collectors against the real node_exporter (Debian's `prometheus-node-exporter`
 * 1.5.0) on this host at the same moment: every family the peer exports we export too, with
 * the same type; for every family both export, the label sets match, values that do not move
 * (memory size, boot time, filesystem sizes, MTUs, the CPUs) are equal, counters agree within
 * 2% once the time between the two reads is accounted for, and our counters never go back.
 *
 * The peer is given our filters where its defaults differ from node_exporter's own (Debian
 * patches some) or from its latest release (ours): the mount points, disks, network devices,
 * netstat fields and CPU flags to report.
 */
import { assert, assertEquals } from "./support/assert.ts";
import { haveCommand, skipNotice } from "./support/cores.ts";
import { freePort, waitFor } from "./support/net.ts";
import {
  collectNode,
  DEFAULT_CPU_FLAGS,
  DISK_DEVICE_EXCLUDE,
  FS_TYPES_EXCLUDE,
  MOUNT_POINTS_EXCLUDE,
  NETSTAT_FIELDS,
  NODE_COLLECTORS,
} from "../lib/node/mod.ts";
import { type MetricFamily, parsePrometheusText } from "../lib/prom/mod.ts";

const skip = skipNotice(
  "prometheus-node-exporter (Debian package)",
  haveCommand("prometheus-node-exporter"),
);

/** node_exporter's collectors that ours cover, with the flags that make it filter as ours. */
const PEER_ARGS = [
  "--collector.loadavg",
  "--collector.cpu",
  "--collector.cpu.info",
  `--collector.cpu.info.flags-include=^(${DEFAULT_CPU_FLAGS.join("|")})$`,
  "--collector.cpufreq",
  "--collector.meminfo",
  "--collector.vmstat",
  "--collector.stat",
  "--collector.filefd",
  "--collector.pressure",
  "--collector.meminfo_numa",
  "--collector.diskstats",
  // node_exporter 1.12's default: 1.5.0's lacks `z?` and reports zram devices.
  `--collector.diskstats.device-exclude=${DISK_DEVICE_EXCLUDE.source}`,
  "--collector.filesystem",
  // node_exporter's default: Debian's also leaves out /run, /mnt and /media.
  `--collector.filesystem.mount-points-exclude=${MOUNT_POINTS_EXCLUDE.source}`,
  `--collector.filesystem.fs-types-exclude=${FS_TYPES_EXCLUDE.source}`,
  "--collector.netdev",
  // node_exporter's default is none: Debian's leaves out lo.
  "--collector.netdev.device-exclude=^$",
  "--collector.netclass",
  "--collector.netstat",
  // node_exporter 1.12's default: 1.5.0's lacks TcpExt_TCPOFOQueue and TcpExt_TCPRcvQDrop.
  `--collector.netstat.fields=${NETSTAT_FIELDS.source}`,
  "--collector.sockstat",
  "--collector.tcpstat",
  "--collector.processes",
];

/** Families whose value must be the same in both at any moment. */
const STABLE = [
  "node_memory_MemTotal_bytes",
  "node_memory_SwapTotal_bytes",
  "node_memory_Hugepagesize_bytes",
  "node_boot_time_seconds",
  "node_filefd_maximum",
  "node_cpu_info",
  "node_cpu_flag_info",
  "node_memory_numa_MemTotal",
  "node_disk_info",
  "node_filesystem_size_bytes",
  "node_filesystem_files",
  "node_filesystem_readonly",
  "node_filesystem_device_error",
  "node_network_mtu_bytes",
  "node_network_speed_bytes",
  "node_network_flags",
  "node_network_iface_id",
  "node_network_protocol_type",
  "node_network_info",
  "node_processes_max_processes",
  "node_processes_max_threads",
];

/**
 * Labels node_exporter added after 1.5.0, which ours have (its latest release's label sets):
 * taken off ours before comparing.
 */
const NEWER_LABELS: Record<string, string[]> = {
  // node_exporter 1.12: /sys/block/DEV/queue/rotational.
  node_disk_info: ["rotational"],
  // node_exporter 1.8: IFF_UP of the device's flags.
  node_network_info: ["adminstate"],
};

/**
 * Families whose label values are states that come and go from one moment to the next (a
 * TCP connection in SYN_SENT, a process in D): only the label names are compared. The
 * peer also counts SYN_RECV request sockets differently (inet_diag leaves them out, and
 * adds each listener's backlog limit to tx_queued_bytes, see lib/node/netstat.ts).
 */
const VOLATILE = [
  "node_tcp_connection_states",
  "node_processes_state",
  "node_processes_threads_state",
];

/**
 * Families of things that come and go (mounts, network devices, disks): other tests on this
 * host mount tmpfs and start containerd's sandboxes while this one runs. For these, a sample
 * is compared where it is in both of the peer's reads and both of ours; ours must have every
 * one the peer had both times, and may have others only if they were gone by our second read
 * or the peer saw them once.
 */
const TRANSIENT = /^node_(filesystem|network|disk)_/;

/** Untyped families that are counters all the same (node_exporter exports netstat untyped). */
const UNTYPED_COUNTERS = /^node_netstat_(?!Ip_Forwarding$|Tcp_CurrEstab$)/;

/** Families of ours the peer has no equivalent of. */
const OURS_ONLY = /^agent_process_/;

/** The families a set of families holds, by name, with each sample's labels as a key. */
function byName(families: MetricFamily[]): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const family of families) {
    if (
      family.name.startsWith("node_scrape_") || family.name.startsWith("node_exporter_") ||
      !(family.name.startsWith("node_") || OURS_ONLY.test(family.name))
    ) {
      continue;
    }
    const samples = out.get(family.name) ?? new Map<string, number>();
    for (const sample of family.samples) {
      const labels = Object.entries(sample.labels).filter(([label]) =>
        !NEWER_LABELS[family.name]?.includes(label)
      );
      samples.set(JSON.stringify(labels.sort()), sample.value);
    }
    out.set(family.name, samples);
  }
  return out;
}

/** The label names of a family's samples, each set once, as keys. */
function labelNames(samples: Map<string, number>): string[] {
  const names = [...samples.keys()].map((key) =>
    JSON.stringify((JSON.parse(key) as [string, string][]).map(([label]) => label))
  );
  return [...new Set(names)].sort();
}

async function scrapePeer(port: number): Promise<MetricFamily[]> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return parsePrometheusText(text, { lenient: true });
}

const PATHS = { proc: "/proc", sys: "/sys", dev: "/dev", rootfs: "/" };

/** The collectors node_exporter has a counterpart of: not cAdvisor's, the kernel log's, DCGM's. */
const COMPARED = NODE_COLLECTORS.filter((c) => !["cgroups", "kmsg", "gpu"].includes(c.name));

Deno.test({
  name: "the node collectors agree with node_exporter on this host",
  ignore: skip,
  fn: async () => {
    const port = freePort();
    const peer = new Deno.Command("prometheus-node-exporter", {
      args: [
        `--web.listen-address=127.0.0.1:${port}`,
        "--collector.disable-defaults",
        ...PEER_ARGS,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).ok, "peer");
      // Ours between two reads of the peer: a counter of ours lies between the peer's two
      // values, give or take 2%.
      const peerFamilies = await scrapePeer(port);
      const before = byName(peerFamilies);
      const first = await collectNode(COMPARED, PATHS);
      const ours = byName(first.families);
      const after = byName(await scrapePeer(port));
      const second = byName((await collectNode(COMPARED, PATHS)).families);
      const types = new Map(first.families.map((f) => [f.name, f.type]));
      const problems: string[] = [];
      for (const family of peerFamilies) {
        if (!before.has(family.name)) continue;
        if (!ours.has(family.name)) problems.push(`${family.name}: missing from ours`);
        else if (types.get(family.name) !== family.type) {
          problems.push(`${family.name}: type ${types.get(family.name)} vs ${family.type}`);
        }
      }
      for (const name of ours.keys()) {
        if (!before.has(name) && !OURS_ONLY.test(name)) problems.push(`${name}: not the peer's`);
      }
      const shared = [...ours.keys()].filter((name) => before.has(name));
      assert(shared.length >= 200, `only ${shared.length} families in common`);
      // Every CPU of this host, in both.
      assertEquals(ours.get("node_cpu_info")?.size, navigator.hardwareConcurrency);
      for (const name of shared) {
        const mine = ours.get(name)!;
        const low = before.get(name)!;
        const high = after.get(name)!;
        const labelsOf = VOLATILE.includes(name)
          ? labelNames
          : (samples: Map<string, number>) => [...samples.keys()].sort();
        const next = second.get(name) ?? new Map<string, number>();
        if (TRANSIENT.test(name)) {
          for (const key of low.keys()) {
            if (high.has(key) && !mine.has(key)) problems.push(`${name}${key}: missing from ours`);
          }
          for (const key of mine.keys()) {
            if (!low.has(key) && !high.has(key) && next.has(key)) {
              problems.push(`${name}${key}: not the peer's`);
            }
          }
        } else if (JSON.stringify(labelsOf(mine)) !== JSON.stringify(labelsOf(low))) {
          problems.push(`${name}: labels ${labelsOf(mine)} vs ${labelsOf(low)}`);
          continue;
        }
        if (VOLATILE.includes(name)) continue;
        const counter = types.get(name) === "counter" || UNTYPED_COUNTERS.test(name);
        for (const [labels, value] of mine) {
          if (!low.has(labels) || !high.has(labels) || !next.has(labels)) continue;
          const a = low.get(labels)!;
          const b = high.get(labels)!;
          if (STABLE.includes(name) && value !== a) {
            problems.push(`${name}${labels}: ${value} vs ${a}`);
          }
          if (counter) {
            const [min, max] = [Math.min(a, b), Math.max(a, b)];
            const slack = Math.max(0.02 * Math.abs(max), 0.05);
            if (value < min - slack || value > max + slack) {
              problems.push(`${name}${labels}: ${value} not within [${min}, ${max}] ± 2%`);
            }
            const later = next.get(labels)!;
            if (later < value) {
              problems.push(`${name}${labels}: went back from ${value} to ${later}`);
            }
          }
        }
      }
      assertEquals(problems, []);
      // A mount gone between reading the mount table and statfs (other tests' tmpfs) is one.
      assertEquals([...first.problems].filter(([, reason]) => !reason.startsWith("statfs:")), []);
    } finally {
      peer.kill("SIGTERM");
      await peer.status;
    }
  },
});
