/**
 * Kata benchmark: `agent daemon` as kata-monitor over N fake shims (each serving about 150
 * realistic series whose values change on every request) run by `bench/_fake_shims.ts` in a
 * process of its own. For each N it measures one full scrape cycle's wall time, `GET
 * /metrics` latency with `wrk` (plain and gzip), the response size, and the daemon's peak
 * RSS (VmHWM); the same peak is measured once idle, with no sandbox.
 *
 * How a cycle is timed, from outside and without a log: `metricsInterval` is long enough
 * that cycles are bursts of requests separated by quiet. The shims' process reports each
 * burst (its request count and when its first request arrived); the benchmark then reads
 * `/sandboxes` (JSON) from the daemon, whose `lastScrape` is when each sandbox's scrape
 * finished. Both clocks are the machine's wall clock, so the cycle is the last `lastScrape`
 * minus the first arrival: it misses only the first connect before it and the bookkeeping
 * after the last scrape, well under a millisecond each. The first burst (the start-up
 * scrapes of new sandboxes) is not counted.
 *
 * Memory is read after `--cycles` cycles nobody asked `/metrics` of, then after as many
 * cycles each followed by one gzip `GET /metrics` (a Prometheus scraping once per cycle:
 * that request is the first after new data, and its time is reported), then after the wrk
 * rows, which run while cycles go on.
 *
 * Run: deno task bench:kata [N...] [--cycles 4] [--interval 5] [--duration 10]
 *   [--connections 1,8] [--v8-flags FLAGS] [--no-peer]
 *
 * The peer: node_exporter (Debian's `prometheus-node-exporter`, default collectors) answers the
 * same wrk rows in the same run, and each row prints the daemon's p99 over node_exporter's (the
 * issue's goal: p99 under 250 ms at 1,000 sandboxes, where node_exporter's is ~50 ms).
 *
 * `--v8-flags` defaults to the flags of `deno task start`, which the released binary is compiled
 * with; `--v8-flags ""` runs the daemon without them.
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { startV8Flags } from "../tests/support/cli.ts";
import { withSocketDir } from "../tests/support/fake_shim.ts";
import { type Burst, cpuMs, machine, memory, run, startDaemon, startShims } from "./_kata_node.ts";

interface Options {
  sizes: number[];
  cycles: number;
  intervalS: number;
  durationS: number;
  connections: number[];
  /** `--v8-flags` for the daemon's `deno run`, to try heap limits. */
  v8Flags: string | undefined;
  /** Whether node_exporter's `/metrics` is measured with the same wrk rows (`--no-peer`: not). */
  peer: boolean;
}

function parseOptions(args: string[]): Options {
  const options: Options = {
    sizes: [],
    cycles: 4,
    intervalS: 5,
    durationS: 10,
    connections: [1, 8],
    // As the released binary runs (`deno compile --v8-flags=...` in deno.json and release.yml).
    v8Flags: startV8Flags().slice("--v8-flags=".length),
    peer: true,
  };
  for (let i = 0; i < args.length; i++) {
    // `--name=value` or `--name value`.
    const [arg, inline] = args[i]!.startsWith("--") && args[i]!.includes("=")
      ? [args[i]!.slice(0, args[i]!.indexOf("=")), args[i]!.slice(args[i]!.indexOf("=") + 1)]
      : [args[i]!, undefined];
    const value = () => {
      const next = inline ?? args[++i];
      if (next === undefined) throw new Error(`Missing value after "${arg}"`);
      return next;
    };
    const positive = (text: string) => {
      const n = Number(text);
      if (!Number.isInteger(n) || n < 1) {
        throw new Error(`Invalid value "${text}" for "${arg}": expected a positive integer`);
      }
      return n;
    };
    if (arg === "--cycles") options.cycles = positive(value());
    else if (arg === "--interval") options.intervalS = positive(value());
    else if (arg === "--duration") options.durationS = positive(value());
    else if (arg === "--connections") options.connections = value().split(",").map(positive);
    else if (arg === "--v8-flags") options.v8Flags = value();
    else if (arg === "--no-peer") options.peer = false;
    else if (arg.startsWith("-")) throw new Error(`Unknown option "${arg}"`);
    else options.sizes.push(positive(arg));
  }
  if (options.sizes.length === 0) options.sizes = [200, 1000];
  return options;
}

interface SandboxView {
  lastScrape: string | null;
  lastError: string | null;
}

async function sandboxes(base: string): Promise<SandboxView[]> {
  const response = await fetch(`${base}/sandboxes`, { headers: { accept: "application/json" } });
  return await response.json() as SandboxView[];
}

/** One cycle as seen from both sides. */
interface Cycle {
  /** First request arrival to the last scrape finished (the daemon's `lastScrape`). */
  wallMs: number;
  requests: number;
  /** Sandboxes whose last scrape finished in this burst. */
  scraped: number;
  errors: number;
}

async function measureCycle(base: string, burst: Burst): Promise<Cycle> {
  const list = await sandboxes(base);
  const done = list.map((s) => s.lastScrape === null ? NaN : Date.parse(s.lastScrape))
    .filter((t) => t >= burst.first);
  return {
    wallMs: Math.max(...done) - burst.first,
    requests: burst.requests,
    scraped: done.length,
    errors: list.filter((s) => s.lastError !== null).length,
  };
}

interface WrkResult {
  connections: number;
  gzip: boolean;
  p50: number;
  p99: number;
  max: number;
  requests: number;
  rps: number;
  errors: string;
  /** The daemon's VmHWM right after this row. */
  hwmAfter: number;
}

/** Milliseconds from wrk's `12.34ms`, `567.00us`, `1.20s`, `2.00m`. */
function wrkMs(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!match) throw new Error(`Cannot read wrk's time "${text}"`);
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[match[2] as "us" | "ms" | "s" | "m"];
  return Number(match[1]) * scale;
}

async function runWrk(
  url: string,
  connections: number,
  gzip: boolean,
  durationS: number,
): Promise<Omit<WrkResult, "hwmAfter">> {
  const out = await run("wrk", [
    `-t${Math.min(2, connections)}`,
    `-c${connections}`,
    `-d${durationS}s`,
    "--timeout",
    "60s",
    "--latency",
    ...(gzip ? ["-H", "Accept-Encoding: gzip"] : []),
    url,
  ]);
  const percentile = (p: string) => {
    const match = new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m").exec(out);
    if (!match) throw new Error(`No ${p}% in wrk's output:\n${out}`);
    return wrkMs(match[1]!);
  };
  const max = /^\s+Latency\s+\S+\s+\S+\s+(\S+)/m.exec(out)?.[1];
  const requests = /^\s+(\d+) requests in/m.exec(out)?.[1];
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out)?.[1];
  const errors = [
    /Socket errors: (.*)/.exec(out)?.[1],
    /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[0],
  ].filter(Boolean).join("; ");
  return {
    connections,
    gzip,
    p50: percentile("50"),
    p99: percentile("99"),
    max: max ? wrkMs(max) : NaN,
    requests: Number(requests),
    rps: Number(rps),
    errors: errors || "none",
  };
}

/** One `GET /metrics` by curl: the whole exchange's time and the bytes of the body as sent. */
async function getMetrics(url: string, gzip: boolean): Promise<{ ms: number; bytes: number }> {
  const out = await run("curl", [
    "-sS",
    "-o",
    "/dev/null",
    "-w",
    "%{time_total} %{size_download}",
    ...(gzip ? ["-H", "Accept-Encoding: gzip"] : []),
    url,
  ]);
  const [seconds, bytes] = out.trim().split(" ").map(Number);
  return { ms: seconds! * 1000, bytes: bytes! };
}

/** Samples in the plain `/metrics`, all and those of sandboxes. */
async function seriesCount(url: string): Promise<{ series: number; sandboxSeries: number }> {
  const text = await run("curl", ["-sS", url]);
  let series = 0;
  let sandboxSeries = 0;
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    series++;
    if (line.includes('sandbox_id="')) sandboxSeries++;
  }
  return { series, sandboxSeries };
}

interface SizeResult {
  sandboxes: number;
  startupMs: number;
  cycles: Cycle[];
  /** How long the first `GET /metrics` (gzip) after each cycle took. */
  firstScrapes: number[];
  /** The bursts of requests the shims saw while wrk ran. */
  loaded: Burst[];
  /** Shim requests while wrk ran, and how many were due (sandboxes × wrk time / interval). */
  underLoad: { got: number; due: number };
  /** Daemon CPU per interval, with no `/metrics` request, and with one after each cycle. */
  daemonCpuPerCycleMs: { scrapeOnly: number[]; scraped: number[] };
  /** Memory after the cycles nobody asked `/metrics` of. */
  scrapeOnly: { hwm: number; rss: number };
  shimsCpuPerCycleMs: number[];
  /** Memory after the cycles each followed by one `/metrics` request. */
  afterCycles: { hwm: number; rss: number };
  afterWrk: { hwm: number; rss: number };
  plainBytes: number;
  gzipBytes: number;
  series: number;
  sandboxSeries: number;
  wrk: WrkResult[];
}

async function measureSize(count: number, options: Options): Promise<SizeResult> {
  return await withSocketDir(async (dir) => {
    const root = `${dir}/v`;
    await Deno.mkdir(root);
    const shims = await startShims(root, count);
    try {
      const daemon = await startDaemon(dir, root, options);
      try {
        const startup = await shims.burst();
        const first = await measureCycle(daemon.base, startup);
        const startupMs = first.wallMs + startup.first - daemon.spawnedAt;
        const cycles: Cycle[] = [];
        const daemonCpu = { scrapeOnly: [] as number[], scraped: [] as number[] };
        const shimsCpu: number[] = [];
        let cpu = { daemon: await cpuMs(daemon.pid), shims: await cpuMs(shims.pid) };
        const url = `${daemon.base}/metrics`;
        const firstScrapes: number[] = [];
        // First nobody asks for /metrics, then Prometheus asks once per cycle, in the quiet
        // after it: each such request is the first after a cycle, the one that pays for it.
        let scrapeOnly = { hwm: 0, rss: 0 };
        for (let i = 0; i < 2 * options.cycles; i++) {
          const scraped = i >= options.cycles;
          const burst = await shims.burst();
          cycles.push(await measureCycle(daemon.base, burst));
          if (scraped) firstScrapes.push((await getMetrics(url, true)).ms);
          const now = { daemon: await cpuMs(daemon.pid), shims: await cpuMs(shims.pid) };
          daemonCpu[scraped ? "scraped" : "scrapeOnly"].push(now.daemon - cpu.daemon);
          shimsCpu.push(now.shims - cpu.shims);
          cpu = now;
          if (i === options.cycles - 1) scrapeOnly = await memory(daemon.pid);
        }
        const afterCycles = await memory(daemon.pid);
        const plainBytes = (await getMetrics(url, false)).bytes;
        const gzipBytes = (await getMetrics(url, true)).bytes;
        const { series, sandboxSeries } = await seriesCount(url);
        const wrk: WrkResult[] = [];
        shims.drain();
        const before = { requests: await shims.requests(), at: Date.now() };
        for (const connections of options.connections) {
          for (const gzip of [false, true]) {
            const result = await runWrk(url, connections, gzip, options.durationS);
            wrk.push({ ...result, hwmAfter: (await memory(daemon.pid)).hwm });
          }
        }
        const loaded = shims.drain();
        // The count file lags by up to 100 ms: wait for it to be written once more.
        await new Promise((resolve) => setTimeout(resolve, 200));
        const underLoad = {
          got: await shims.requests() - before.requests,
          due: count * (Date.now() - 200 - before.at) / (options.intervalS * 1000),
        };
        const afterWrk = await memory(daemon.pid);
        await daemon.stop();
        return {
          sandboxes: count,
          startupMs,
          cycles,
          loaded,
          underLoad,
          firstScrapes,
          daemonCpuPerCycleMs: daemonCpu,
          scrapeOnly,
          shimsCpuPerCycleMs: shimsCpu,
          afterCycles,
          afterWrk,
          plainBytes,
          gzipBytes,
          series,
          sandboxSeries,
          wrk,
        };
      } catch (error) {
        await daemon.stop().catch(() => {});
        throw error;
      }
    } finally {
      await shims.close();
    }
  });
}

/** The daemon with no sandbox at all, after a few intervals and one `/metrics`. */
async function measureIdle(options: Options): Promise<{ hwm: number; rss: number }> {
  return await withSocketDir(async (dir) => {
    const root = `${dir}/v`;
    await Deno.mkdir(root);
    const daemon = await startDaemon(dir, root, options);
    try {
      await run("curl", ["-sS", "-o", "/dev/null", `${daemon.base}/metrics`]);
      await new Promise((r) => setTimeout(r, 2 * options.intervalS * 1000));
      return await memory(daemon.pid);
    } finally {
      await daemon.stop();
    }
  });
}

/** node_exporter answering the same wrk rows, or `undefined` when it is not installed. */
async function measurePeer(options: Options): Promise<WrkResult[] | undefined> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("prometheus-node-exporter", {
      args: [`--web.listen-address=127.0.0.1:${port}`],
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  try {
    const url = `http://127.0.0.1:${port}/metrics`;
    for (let i = 0;; i++) {
      const ready = await fetch(url).then(async (r) => (await r.body?.cancel(), r.ok), () => false);
      if (ready) break;
      if (i === 100) throw new Error(`node_exporter did not answer ${url} within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const rows: WrkResult[] = [];
    for (const connections of options.connections) {
      for (const gzip of [false, true]) {
        const result = await runWrk(url, connections, gzip, options.durationS);
        rows.push({ ...result, hwmAfter: (await memory(child.pid)).hwm });
      }
    }
    return rows;
  } finally {
    child.kill();
    await child.status;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const ms = (n: number) =>
  n >= 1000 ? `${(n / 1000).toFixed(2)} s` : n >= 10 ? `${Math.round(n)} ms` : `${n.toFixed(1)} ms`;
const mib = (n: number) => `${n.toFixed(1)} MiB`;
const size = (bytes: number) =>
  bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(0)} KiB`;
const range = (values: number[]) =>
  values.length === 0
    ? "-"
    : `${ms(median(values))} (${ms(Math.min(...values))}–${ms(Math.max(...values))})`;
const verdict = (ok: boolean) => ok ? "met" : "**NOT met**";

/** The machine line, with wrk's version. */
async function machineWithWrk(): Promise<string> {
  // `wrk -v` prints its version and exits 1.
  const wrk = await new Deno.Command("wrk", { args: ["-v"], stdout: "piped", stderr: "piped" })
    .output();
  const wrkVersion = /wrk \S+/.exec(new TextDecoder().decode(wrk.stdout))?.[0] ?? "wrk";
  return await machine(`, ${wrkVersion}`);
}

const options = parseOptions(Deno.args);
const header = await machineWithWrk();
console.error(`Measuring the idle daemon…`);
const idle = await measureIdle(options);
const results: SizeResult[] = [];
for (const count of options.sizes) {
  console.error(`Measuring ${count} sandboxes…`);
  results.push(await measureSize(count, options));
}
if (options.peer) console.error("Measuring node_exporter…");
const peer = options.peer ? await measurePeer(options) : undefined;

console.log(`\n${header}`);
console.log(
  `metricsInterval ${options.intervalS}s, scrapeConcurrency 8, scrapeTimeout 3s (defaults), ` +
    `2 × ${options.cycles} cycles measured after the start-up one, wrk ${options.durationS}s per row` +
    (options.v8Flags ? `, daemon run with --v8-flags=${options.v8Flags}` : "") + "\n",
);
console.log(
  "| sandboxes | series served | /metrics size (plain / gzip) | scrape cycle | first GET /metrics (gzip) after a cycle | daemon CPU per interval: cycle only / cycle + that GET | fake shims' CPU per interval | first full scrape after spawn | VmHWM: cycles only / cycles + a GET each / after wrk | VmRSS at the end |",
);
console.log("| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |");
console.log(`| 0 (idle) | - | - | - | - | - | - | - | ${mib(idle.hwm)} | ${mib(idle.rss)} |`);
for (const r of results) {
  const cells = [
    String(r.sandboxes),
    `${r.series} (${r.sandboxSeries} of sandboxes)`,
    `${size(r.plainBytes)} / ${size(r.gzipBytes)}`,
    range(r.cycles.map((c) => c.wallMs)),
    range(r.firstScrapes),
    `${ms(median(r.daemonCpuPerCycleMs.scrapeOnly))} / ${
      ms(median(r.daemonCpuPerCycleMs.scraped))
    }`,
    range(r.shimsCpuPerCycleMs),
    ms(r.startupMs),
    `${mib(r.scrapeOnly.hwm)} / ${mib(r.afterCycles.hwm)} / ${mib(r.afterWrk.hwm)}`,
    mib(r.afterWrk.rss),
  ];
  console.log(`| ${cells.join(" | ")} |`);
}
console.log(
  "\nRanges are median (min–max) over the cycles measured; CPU figures are medians.",
);
console.log(
  "\n| sandboxes | Accept-Encoding | wrk | p50 | p99 | p99 / node_exporter's | max | requests | req/s | errors | VmHWM after |",
);
console.log("| --: | --- | --- | --: | --: | --: | --: | --: | --: | --- | --: |");
/** node_exporter's row for the same connections and encoding. */
const peerOf = (w: WrkResult) =>
  peer?.find((p) => p.connections === w.connections && p.gzip === w.gzip);
const wrkRow = (who: string, w: WrkResult, ratio: string) =>
  `| ${who} | ${w.gzip ? "gzip" : "-"} | -t${Math.min(2, w.connections)} -c${w.connections} | ${
    ms(w.p50)
  } | ${ms(w.p99)} | ${ratio} | ${ms(w.max)} | ${w.requests} | ${
    w.rps.toFixed(1)
  } | ${w.errors} | ${mib(w.hwmAfter)} |`;
for (const r of results) {
  for (const w of r.wrk) {
    const p = peerOf(w);
    console.log(wrkRow(String(r.sandboxes), w, p ? `${(w.p99 / p.p99).toFixed(1)}×` : "-"));
  }
}
for (const w of peer ?? []) console.log(wrkRow("node_exporter", w, "1.0×"));
if (options.peer && peer === undefined) {
  console.log("\n(node_exporter is not installed: `apt-get install prometheus-node-exporter`.)");
}

const problems: string[] = [];
for (const r of results) {
  for (const c of r.cycles) {
    if (c.requests !== r.sandboxes || c.scraped !== r.sandboxes || c.errors !== 0) {
      problems.push(
        `${r.sandboxes} sandboxes: a burst of ${c.requests} requests, ${c.scraped} scraped, ${c.errors} errors (expected ${r.sandboxes}, ${r.sandboxes}, 0; cycles may run back to back: raise --interval)`,
      );
    }
  }
  for (const w of r.wrk) {
    if (w.errors !== "none" && !/^connect 0, read 0, write 0, timeout 0$/.test(w.errors)) {
      problems.push(`${r.sandboxes} sandboxes: wrk reported ${w.errors}`);
    }
  }
}
console.log(
  `\nBursts of shim requests while wrk ran (requests in first to last arrival; a cycle is one ` +
    `request per sandbox): ${
      results.map((r) =>
        `${r.sandboxes}: ${
          r.loaded.map((b) => `${b.requests} in ${ms(b.last - b.first)}`).join(", ") || "-"
        }`
      ).join("; ")
    }`,
);

console.log(
  `Shim scrapes while wrk ran, got of due (sandboxes × wrk time / interval): ${
    results.map((r) =>
      `${r.sandboxes}: ${r.underLoad.got} of ${Math.round(r.underLoad.due)} (${
        Math.round(100 * r.underLoad.got / r.underLoad.due)
      }%)`
    ).join("; ")
  }`,
);

/** Start-to-start times of the bursts that followed one another under load (the interval kept?). */
function starts(bursts: Burst[]): number[] {
  return bursts.slice(1).map((b, i) => b.first - bursts[i]!.first);
}
console.log(
  `Their start-to-start times (metricsInterval ${options.intervalS} s): ${
    results.map((r) => `${r.sandboxes}: ${starts(r.loaded).map(ms).join(", ") || "-"}`).join("; ")
  }`,
);

console.log("\nTargets:");
console.log(`- idle VmHWM < 80 MiB: ${mib(idle.hwm)}, ${verdict(idle.hwm < 80)}`);
for (const r of results) {
  const gaps = starts(r.loaded);
  const interval = options.intervalS * 1000;
  const worst = Math.max(0, ...gaps.map((g) => Math.abs(g - interval)));
  console.log(
    `- scrape interval kept within ±10% under wrk at ${r.sandboxes}: worst ${
      gaps.length === 0 ? "-" : ms(worst)
    } off ${ms(interval)} over ${gaps.length} gaps, ${
      verdict(gaps.length > 0 && worst <= interval / 10)
    }`,
  );
  if (r.sandboxes === 1000) {
    const cycle = median(r.cycles.map((c) => c.wallMs));
    console.log(`- scrape cycle at 1000 < 2 s: ${ms(cycle)}, ${verdict(cycle < 2000)}`);
    for (const w of r.wrk) {
      console.log(
        `- /metrics p99 at 1000 < 250 ms (${w.gzip ? "gzip" : "plain"}, -c${w.connections}): ${
          ms(w.p99)
        }, ${verdict(w.p99 < 250)}`,
      );
    }
    console.log(
      `- VmHWM at 1000 < 384 MB: ${mib(r.afterWrk.hwm)} after wrk, ${
        verdict(r.afterWrk.hwm * 2 ** 20 < 384e6)
      }`,
    );
  }
  if (r.sandboxes === 200) {
    console.log(
      `- VmHWM at 200 after several cycles < 128 MiB: ${
        mib(r.afterCycles.hwm)
      } with one GET /metrics per cycle, ${verdict(r.afterCycles.hwm < 128)}; ${
        mib(r.scrapeOnly.hwm)
      } with none, ${verdict(r.scrapeOnly.hwm < 128)}; after wrk: ${mib(r.afterWrk.hwm)}, ${
        verdict(r.afterWrk.hwm < 128)
      }`,
    );
    for (const w of r.wrk) {
      console.log(
        `- /metrics p99 at 200 < 100 ms (${w.gzip ? "gzip" : "plain"}, -c${w.connections}): ${
          ms(w.p99)
        }, ${verdict(w.p99 < 100)}`,
      );
    }
  }
}
if (problems.length > 0) console.log(`\nProblems:\n${problems.map((p) => `- ${p}`).join("\n")}`);
