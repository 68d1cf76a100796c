/**
 * The node collectors' cost, in one run on this host:
 *
 * 1. CPU time (user + system, the process's and its waited-for children's, from
 *    `/proc/PID/stat`) of one collection by ours against node_exporter's matching collectors,
 *    each a server scraped SCRAPES times over HTTP, the two scraped in turn, after 10 warm-up
 *    scrapes each: for every collector (group) alone and for all of them. Ours is
 *    bench/_node_server.ts (the daemon's node feature without its one-second cache); the peer
 *    is Debian's prometheus-node-exporter, given our filters. Goal: ours ≤ node_exporter's.
 * 2. The daemon's resident memory (VmRSS) with every node collector on and with none, after
 *    10 scrapes of `/metrics` a second apart (the feature collects at most once a second),
 *    RUNS daemons each. Goal: at most 10 MB more.
 *
 * Run: deno task bench:node [--scrapes N] [--runs N] [--only cpu|rss]
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { parseArgs } from "node:util";
import {
  DEFAULT_CPU_FLAGS,
  DISK_DEVICE_EXCLUDE,
  FS_TYPES_EXCLUDE,
  MOUNT_POINTS_EXCLUDE,
  NETSTAT_FIELDS,
} from "../lib/node/mod.ts";
import { agentArgs, DENO_DIR } from "../tests/support/cli.ts";
import { freePort, waitFor } from "../tests/support/net.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    scrapes: { type: "string", default: "100" },
    runs: { type: "string", default: "2" },
    only: { type: "string", default: "cpu,rss" },
  },
});
const SCRAPES = Number(values.scrapes);
const RUNS = Number(values.runs);
const ONLY = values.only!.split(",");

/** USER_HZ: /proc counts CPU time in hundredths of a second on every Linux architecture. */
const TICK_MS = 10;

/** Our collectors and node_exporter's that do the same work. */
const GROUPS: { name: string; ours: string[]; peer: string[] }[] = [
  { name: "load", ours: ["load"], peer: ["--collector.loadavg"] },
  {
    name: "cpu + cpuinfo",
    ours: ["cpu", "cpuinfo"],
    peer: [
      "--collector.cpu",
      "--collector.cpufreq",
      "--collector.cpu.info",
      `--collector.cpu.info.flags-include=^(${DEFAULT_CPU_FLAGS.join("|")})$`,
    ],
  },
  { name: "memory", ours: ["memory"], peer: ["--collector.meminfo", "--collector.vmstat"] },
  { name: "system", ours: ["system"], peer: ["--collector.stat", "--collector.filefd"] },
  { name: "pressure", ours: ["pressure"], peer: ["--collector.pressure"] },
  { name: "numa", ours: ["numa"], peer: ["--collector.meminfo_numa"] },
  {
    name: "disk",
    ours: ["disk"],
    peer: [
      "--collector.diskstats",
      `--collector.diskstats.device-exclude=${DISK_DEVICE_EXCLUDE.source}`,
    ],
  },
  {
    name: "filesystem",
    ours: ["filesystem"],
    peer: [
      "--collector.filesystem",
      `--collector.filesystem.mount-points-exclude=${MOUNT_POINTS_EXCLUDE.source}`,
      `--collector.filesystem.fs-types-exclude=${FS_TYPES_EXCLUDE.source}`,
    ],
  },
  {
    name: "network",
    ours: ["network"],
    peer: ["--collector.netdev", "--collector.netdev.device-exclude=^$", "--collector.netclass"],
  },
  {
    name: "netstat",
    ours: ["netstat"],
    peer: [
      "--collector.netstat",
      `--collector.netstat.fields=${NETSTAT_FIELDS.source}`,
      "--collector.sockstat",
      "--collector.tcpstat",
    ],
  },
  { name: "processes", ours: ["processes"], peer: ["--collector.processes"] },
];

/** CPU ticks (user + system, with waited-for children's) of a process so far. */
function cpuTicks(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
}

function rssMb(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

async function scrape(port: number, path = "/metrics"): Promise<number> {
  const started = performance.now();
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`scrape of ${port} answered ${response.status}`);
  return performance.now() - started;
}

interface Server {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

async function start(command: string, args: (port: number) => string[]): Promise<Server> {
  const port = freePort();
  const child = new Deno.Command(command, { args: args(port), stdout: "null", stderr: "null" })
    .spawn();
  await waitFor(async () => (await scrape(port)) >= 0, `${command} on ${port}`);
  return {
    pid: child.pid,
    port,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** CPU milliseconds and median wall milliseconds per scrape of ours and the peer, in turn. */
async function measure(group: { ours: string[]; peer: string[] }) {
  const ours = await start(Deno.execPath(), (port) => [
    "run",
    "-q",
    "-A",
    new URL("./_node_server.ts", import.meta.url).pathname,
    String(port),
    group.ours.join(","),
  ]);
  const peer = await start("prometheus-node-exporter", (port) => [
    `--web.listen-address=127.0.0.1:${port}`,
    "--collector.disable-defaults",
    ...group.peer,
  ]);
  try {
    for (let i = 0; i < 10; i++) {
      await scrape(ours.port);
      await scrape(peer.port);
    }
    const walls = { ours: [] as number[], peer: [] as number[] };
    const before = { ours: cpuTicks(ours.pid), peer: cpuTicks(peer.pid) };
    for (let i = 0; i < SCRAPES; i++) {
      walls.ours.push(await scrape(ours.port));
      walls.peer.push(await scrape(peer.port));
    }
    const per = (server: Server, start: number) =>
      ((cpuTicks(server.pid) - start) * TICK_MS) / SCRAPES;
    return {
      ours: { cpu: per(ours, before.ours), wall: median(walls.ours) },
      peer: { cpu: per(peer, before.peer), wall: median(walls.peer) },
    };
  } finally {
    await ours.stop();
    await peer.stop();
  }
}

async function daemonRss(collectors: string[]): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "agent-bench-node-" });
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/config.yaml`,
    `node:\n  collectors: [${collectors.join(", ")}]\n`,
  );
  const daemon = new Deno.Command(Deno.execPath(), {
    args: agentArgs([
      "--config",
      `${dir}/config.yaml`,
      "daemon",
      "--listen-address",
      `127.0.0.1:${port}`,
      "--state-dir",
      `${dir}/state`,
    ]),
    // Deno's cache where it is, whatever HOME says.
    env: { HOME: dir, KUBECONFIG: "", DENO_DIR },
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitFor(async () => (await scrape(port, "/readyz")) >= 0, "the daemon");
    for (let i = 0; i < 10; i++) {
      await scrape(port);
      await new Promise((resolve) => setTimeout(resolve, 1100));
    }
    return rssMb(daemon.pid);
  } finally {
    daemon.kill("SIGTERM");
    await daemon.status;
    await Deno.remove(dir, { recursive: true });
  }
}

const pids = [...Deno.readDirSync("/proc")].filter((e) => /^\d+$/.test(e.name));
const threads = pids.reduce((sum, e) => {
  try {
    return sum + [...Deno.readDirSync(`/proc/${e.name}/task`)].length;
  } catch {
    return sum;
  }
}, 0);
console.log(
  `host: ${navigator.hardwareConcurrency} CPUs, ${pids.length} processes, ${threads} threads; ` +
    `${SCRAPES} scrapes each`,
);
if (ONLY.includes("cpu")) {
  console.log(
    "\n| collectors | ours: CPU/scrape | node_exporter: CPU/scrape | ours/peer | ours: wall (median) | node_exporter: wall (median) |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
  const all = {
    name: "**all of them**",
    ours: GROUPS.flatMap((g) => g.ours),
    peer: GROUPS.flatMap((g) => g.peer),
  };
  for (const group of [...GROUPS, all]) {
    const result = await measure(group);
    console.log(
      `| ${group.name} | ${result.ours.cpu.toFixed(2)} ms | ${result.peer.cpu.toFixed(2)} ms | ${
        (result.ours.cpu / Math.max(result.peer.cpu, 0.01)).toFixed(2)
      }× | ${result.ours.wall.toFixed(2)} ms | ${result.peer.wall.toFixed(2)} ms |`,
    );
  }
}
if (ONLY.includes("rss")) {
  const off: number[] = [];
  const on: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    off.push(await daemonRss([]));
    on.push(await daemonRss(["all"]));
  }
  const list = (values: number[]) =>
    `${values.map((v) => v.toFixed(1)).join(", ")} (median ${median(values).toFixed(1)}) MB`;
  console.log("\n| daemon | RSS after 10 scrapes, each run |");
  console.log("| --- | ---: |");
  console.log(`| node collectors off (\`node.collectors: []\`) | ${list(off)} |`);
  console.log(`| every node collector on | ${list(on)} |`);
  console.log(`| difference of the medians | ${(median(on) - median(off)).toFixed(1)} MB |`);
}
