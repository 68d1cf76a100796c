/**
 * The node collectors against the real node_exporter (Debian's `prometheus-node-exporter`)
 * on this host at the same moment: for every family both export, the label sets match,
 * values that do not move (memory size, boot time, file handle maximum) are equal,
 * counters agree within 2% once the time between the two reads is accounted for, and our
 * counters never go back.
 */
import { assert, assertEquals } from "./support/assert.ts";
import { haveCommand, skipNotice } from "./support/cores.ts";
import { freePort, waitFor } from "./support/net.ts";
import { collectNode, NODE_COLLECTORS } from "../lib/node/mod.ts";
import { type MetricFamily, parsePrometheusText } from "../lib/prom/mod.ts";

const skip = skipNotice(
  "prometheus-node-exporter (Debian package)",
  haveCommand("prometheus-node-exporter"),
);

/** node_exporter's collectors that ours cover. */
const PEER_COLLECTORS = [
  "loadavg",
  "cpu",
  "cpufreq",
  "meminfo",
  "vmstat",
  "stat",
  "filefd",
  "pressure",
];

/** Families whose value must be the same in both at any moment. */
const STABLE = [
  "node_memory_MemTotal_bytes",
  "node_memory_SwapTotal_bytes",
  "node_memory_Hugepagesize_bytes",
  "node_boot_time_seconds",
  "node_filefd_maximum",
];

/** The families a set of families holds, by name, with each sample's labels as a key. */
function byName(families: MetricFamily[]): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const family of families) {
    if (family.name.startsWith("node_scrape_") || family.name.startsWith("node_exporter_")) {
      continue;
    }
    const samples = out.get(family.name) ?? new Map<string, number>();
    for (const sample of family.samples) {
      const key = JSON.stringify(Object.entries(sample.labels).sort());
      samples.set(key, sample.value);
    }
    out.set(family.name, samples);
  }
  return out;
}

async function scrapePeer(port: number): Promise<MetricFamily[]> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return parsePrometheusText(text, { lenient: true });
}

const PATHS = { proc: "/proc", sys: "/sys", dev: "/dev", rootfs: "/" };

Deno.test({
  name: "the node collectors agree with node_exporter on this host",
  ignore: skip,
  fn: async () => {
    const port = freePort();
    const peer = new Deno.Command("prometheus-node-exporter", {
      args: [
        `--web.listen-address=127.0.0.1:${port}`,
        "--collector.disable-defaults",
        ...PEER_COLLECTORS.map((c) => `--collector.${c}`),
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).ok, "peer");
      // Ours between two reads of the peer: a counter of ours lies between the peer's two
      // values, give or take 2%.
      const before = byName(await scrapePeer(port));
      const first = await collectNode(NODE_COLLECTORS, PATHS);
      const ours = byName(first.families);
      const after = byName(await scrapePeer(port));
      const second = byName((await collectNode(NODE_COLLECTORS, PATHS)).families);
      const types = new Map(first.families.map((f) => [f.name, f.type]));
      const shared = [...ours.keys()].filter((name) => before.has(name));
      assert(shared.length >= 60, `only ${shared.length} families in common`);
      const problems: string[] = [];
      for (const name of shared) {
        const mine = ours.get(name)!;
        const low = before.get(name)!;
        const high = after.get(name)!;
        const labelsOf = (samples: Map<string, number>) => [...samples.keys()].sort();
        if (JSON.stringify(labelsOf(mine)) !== JSON.stringify(labelsOf(low))) {
          problems.push(`${name}: labels ${labelsOf(mine)} vs ${labelsOf(low)}`);
          continue;
        }
        for (const [labels, value] of mine) {
          const a = low.get(labels)!;
          const b = high.get(labels) ?? a;
          if (STABLE.includes(name) && value !== a) {
            problems.push(`${name}${labels}: ${value} vs ${a}`);
          }
          if (types.get(name) === "counter") {
            const [min, max] = [Math.min(a, b), Math.max(a, b)];
            const slack = Math.max(0.02 * Math.abs(max), 0.05);
            if (value < min - slack || value > max + slack) {
              problems.push(`${name}${labels}: ${value} not within [${min}, ${max}] ± 2%`);
            }
            const next = second.get(name)?.get(labels);
            if (next !== undefined && next < value) {
              problems.push(`${name}${labels}: went back from ${value} to ${next}`);
            }
          }
        }
      }
      assertEquals(problems, []);
    } finally {
      peer.kill("SIGTERM");
      await peer.status;
    }
  },
});
