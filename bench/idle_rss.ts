/**
 * Idle memory of `agent daemon` next to its peers, in one run: node_exporter (Debian's
 * `prometheus-node-exporter`, default collectors) and a bare `Deno.serve` (bench/_bare_serve.ts,
 * with the daemon's V8 flags: those of deno.json's start task). Each is started alone, in turn (the
 * order rotates from run to run), asked for `/metrics` once when it answers (`/readyz` for the
 * daemon), left SETTLE seconds, and its VmHWM and VmRSS read from `/proc/PID/status`. The daemon
 * runs twice: with the default configuration (no file), and with the ConfigMap's `config.yaml` from
 * manifests/ (as the DaemonSet runs it). Neither has Kubernetes, Kata sandboxes or cores to work
 * on. Medians over RUNS, and the ratios to each peer.
 *
 * With `--minutes M`, all four then run side by side for M minutes, each scraped every
 * `--interval` seconds (Prometheus' usual 15 s), and the growth of VmRSS from the first scrape
 * to the last is printed: idle memory should be flat.
 *
 * With `--flood S`, each is then started alone again and flooded with
 * `wrk -t2 -c64 -dSs /metrics` (the issue's "request flood, idle node" row); the table shows
 * VmRSS before, VmHWM at the end of the flood, VmRSS 30 s after it, and wrk's requests/s.
 *
 * With `--baseline DIR` (a checkout or `git archive` of another commit), its daemon runs in the
 * same rounds, both configurations, for a before/after in one run.
 *
 * Goals (issue 16): the daemon's idle RSS ≤ 80 MB (stretch 64); ≤ 128 MB during and after
 * the flood.
 *
 * Run: deno task bench:idle [--runs N] [--settle S] [--minutes M] [--interval S] [--flood S]
 *   [--baseline DIR]
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { agentArgs, DENO_DIR, startV8Flags } from "../tests/support/cli.ts";
import { freePort, waitFor } from "../tests/support/net.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "3" },
    settle: { type: "string", default: "10" },
    minutes: { type: "string", default: "0" },
    interval: { type: "string", default: "15" },
    flood: { type: "string", default: "0" },
    baseline: { type: "string" },
  },
});
const RUNS = Number(values.runs);
const SETTLE_MS = Number(values.settle) * 1000;
const MINUTES = Number(values.minutes);
const INTERVAL_MS = Number(values.interval) * 1000;
const FLOOD_S = Number(values.flood);
interface Subject {
  name: string;
  /** The command and its arguments for a port and a scratch directory. */
  command(
    port: number,
    dir: string,
  ): Promise<{ cmd: string; args: string[]; env?: Record<string, string> }>;
  /** The path that answers once it is ready. */
  ready: string;
}

/** `agent ARGS` run from the checkout at `root` (this one by default). */
function agentFrom(root: string | undefined, args: string[]): string[] {
  if (root === undefined) return agentArgs(args);
  return ["run", "-q", "-P=agent", "--config", `${root}/deno.json`, `${root}/main.ts`, ...args];
}

function daemon(name: string, configFile: boolean, root?: string): Subject {
  return {
    name,
    ready: "/readyz",
    async command(port, dir) {
      const args = [
        "daemon",
        "--listen-address",
        `127.0.0.1:${port}`,
        "--state-dir",
        `${dir}/state`,
      ];
      if (configFile) {
        const manifest = parseYaml(
          await Deno.readTextFile(new URL("../manifests/configmap.yaml", import.meta.url)),
        ) as { data: Record<string, string> };
        await Deno.writeTextFile(`${dir}/config.yaml`, manifest.data["config.yaml"]!);
        args.unshift("--config", `${dir}/config.yaml`);
      }
      const [run, ...rest] = agentFrom(root, args);
      return {
        cmd: Deno.execPath(),
        args: [run!, startV8Flags(root), ...rest],
        // No Kubernetes; Deno's cache where it is, whatever HOME says; cores stored nowhere real.
        env: {
          HOME: dir,
          KUBECONFIG: "",
          DENO_DIR,
          AGENT_STORAGE_LOCAL_PATH: `${dir}/cores`,
        },
      };
    },
  };
}

const SUBJECTS: Subject[] = [
  {
    name: "node_exporter",
    ready: "/metrics",
    command: (port) =>
      Promise.resolve({
        cmd: "prometheus-node-exporter",
        args: [`--web.listen-address=127.0.0.1:${port}`],
      }),
  },
  {
    name: "bare Deno.serve",
    ready: "/",
    command: (port) =>
      Promise.resolve({
        cmd: Deno.execPath(),
        args: [
          "run",
          "-q",
          startV8Flags(),
          "--allow-net=127.0.0.1",
          new URL("./_bare_serve.ts", import.meta.url).pathname,
          String(port),
        ],
      }),
  },
  daemon("agent daemon, default configuration", false),
  daemon("agent daemon, the ConfigMap's config.yaml", true),
  ...(values.baseline === undefined ? [] : [
    daemon("agent daemon (baseline), default configuration", false, values.baseline),
    daemon("agent daemon (baseline), the ConfigMap's config.yaml", true, values.baseline),
  ]),
];

interface Running {
  subject: Subject;
  pid: number;
  port: number;
  stop(): Promise<void>;
}

async function get(port: number, path: string): Promise<boolean> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  await response.arrayBuffer();
  return response.ok;
}

async function start(subject: Subject): Promise<Running> {
  const dir = await Deno.makeTempDir({ prefix: "agent-bench-idle-" });
  const port = freePort();
  const { cmd, args, env } = await subject.command(port, dir);
  const child = new Deno.Command(cmd, { args, env, stdout: "null", stderr: "null" }).spawn();
  const stop = async () => {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  };
  try {
    await waitFor(() => get(port, subject.ready), `${subject.name} on ${port}`, 60_000);
    if (!(await get(port, "/metrics"))) throw new Error(`${subject.name}: /metrics failed`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { subject, pid: child.pid, port, stop };
}

/** VmHWM and VmRSS in MiB. */
function memory(pid: number): { hwm: number; rss: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]);
  return { hwm: kib("VmHWM") / 1024, rss: kib("VmRSS") / 1024 };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (n: number) => `${n.toFixed(1)} MiB`;

const samples = new Map<string, { hwm: number[]; rss: number[] }>(
  SUBJECTS.map((s) => [s.name, { hwm: [], rss: [] }]),
);
for (let run = 0; run < RUNS; run++) {
  const order = [
    ...SUBJECTS.slice(run % SUBJECTS.length),
    ...SUBJECTS.slice(0, run % SUBJECTS.length),
  ];
  for (const subject of order) {
    const running = await start(subject);
    try {
      await sleep(SETTLE_MS);
      const { hwm, rss } = memory(running.pid);
      samples.get(subject.name)!.hwm.push(hwm);
      samples.get(subject.name)!.rss.push(rss);
    } finally {
      await running.stop();
    }
  }
}

const medians = new Map(
  [...samples].map(([name, s]) => [name, { hwm: median(s.hwm), rss: median(s.rss) }]),
);
const peerHwm = (name: string) => medians.get(name)!.hwm;
console.log(
  `\n${RUNS} runs, ${SETTLE_MS / 1000} s after the first /metrics; medians (range over the runs)\n`,
);
console.log("| process | VmHWM idle | VmRSS idle | HWM / node_exporter | HWM / bare Deno.serve |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const [name, s] of samples) {
  const m = medians.get(name)!;
  const range = (v: number[]) => `${Math.min(...v).toFixed(1)}–${Math.max(...v).toFixed(1)}`;
  console.log(
    `| ${name} | ${mib(m.hwm)} (${range(s.hwm)}) | ${mib(m.rss)} (${range(s.rss)}) | ` +
      `${(m.hwm / peerHwm("node_exporter")).toFixed(2)}× | ` +
      `${(m.hwm / peerHwm("bare Deno.serve")).toFixed(2)}× |`,
  );
}

if (MINUTES > 0) {
  const running: Running[] = [];
  try {
    for (const subject of SUBJECTS) running.push(await start(subject));
    const first = new Map(running.map((r) => [r.subject.name, memory(r.pid)]));
    const until = Date.now() + MINUTES * 60_000;
    let scrapes = 0;
    while (Date.now() < until) {
      await sleep(INTERVAL_MS);
      await Promise.all(running.map((r) => get(r.port, "/metrics")));
      scrapes++;
    }
    console.log(
      `\nSide by side, scraped every ${
        INTERVAL_MS / 1000
      } s for ${MINUTES} min (${scrapes} scrapes)\n`,
    );
    console.log(
      "| process | VmRSS after the first scrape | VmRSS after the last | growth | VmHWM |",
    );
    console.log("| --- | ---: | ---: | ---: | ---: |");
    for (const r of running) {
      const before = first.get(r.subject.name)!;
      const after = memory(r.pid);
      console.log(
        `| ${r.subject.name} | ${mib(before.rss)} | ${mib(after.rss)} | ` +
          `${(after.rss - before.rss).toFixed(1)} MiB | ${mib(after.hwm)} |`,
      );
    }
  } finally {
    for (const r of running) await r.stop();
  }
}

if (FLOOD_S > 0) {
  console.log(`\nFlooded alone: wrk -t2 -c64 -d${FLOOD_S}s /metrics\n`);
  console.log("| process | VmRSS before | VmHWM at the end | VmRSS 30 s after | requests/s |");
  console.log("| --- | ---: | ---: | ---: | ---: |");
  for (const subject of SUBJECTS) {
    const running = await start(subject);
    try {
      await sleep(SETTLE_MS);
      const before = memory(running.pid);
      const wrk = await new Deno.Command("wrk", {
        args: ["-t2", "-c64", `-d${FLOOD_S}s`, `http://127.0.0.1:${running.port}/metrics`],
        stderr: "null",
      }).output();
      const during = memory(running.pid);
      const rate = /Requests\/sec:\s+([\d.]+)/.exec(new TextDecoder().decode(wrk.stdout))?.[1];
      await sleep(30_000);
      const after = memory(running.pid);
      console.log(
        `| ${subject.name} | ${mib(before.rss)} | ${mib(during.hwm)} | ${mib(after.rss)} | ` +
          `${rate === undefined ? "wrk failed" : Math.round(Number(rate))} |`,
      );
    } finally {
      await running.stop();
    }
  }
}
