/**
 * Memory under load: `agent daemon` over N fake shims (default 200) takes ROUNDS rounds
 * (default 10) of CONCURRENCY (default 2,000) `GET /metrics` requests sent at once, then
 * rests; the daemon's RSS is sampled all along, and for IDLE seconds (default 60) after the
 * last round. Goals: peak under 256 MB, under 150 MB 60 s after the load.
 *
 * Each request is its own connection (`Connection: close`), opened, written and read by
 * this process with `Deno.connect`, every second one asking for gzip as Prometheus does;
 * answers are read to the end and counted by status. A request the daemon refuses (503, or
 * a connection it closes or resets) counts as shed, not as an error of the benchmark: bounding
 * the requests in flight is what keeps memory bounded.
 *
 * Run: deno task bench:load [--sandboxes 200] [--rounds 10] [--concurrency 2000] [--idle 60]
 *   [--interval 60]
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { withSocketDir } from "../tests/support/fake_shim.ts";
import { machine, memory, startDaemon, startShims } from "./_kata_node.ts";

interface Options {
  sandboxes: number;
  rounds: number;
  concurrency: number;
  idleS: number;
  intervalS: number;
}

function parseOptions(args: string[]): Options {
  const options: Options = {
    sandboxes: 200,
    rounds: 10,
    concurrency: 2000,
    idleS: 60,
    intervalS: 60,
  };
  const keys: Record<string, keyof Options> = {
    "--sandboxes": "sandboxes",
    "--rounds": "rounds",
    "--concurrency": "concurrency",
    "--idle": "idleS",
    "--interval": "intervalS",
  };
  for (let i = 0; i < args.length; i++) {
    const [arg, inline] = args[i]!.includes("=") ? args[i]!.split("=", 2) : [args[i]!, undefined];
    const key = keys[arg!];
    if (key === undefined) throw new Error(`Unknown option "${arg}"`);
    const text = inline ?? args[++i];
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) {
      throw new Error(`Invalid value "${text}" for "${arg}": expected a positive integer`);
    }
    options[key] = n;
  }
  return options;
}

/** How one request ended. */
type Outcome = "ok" | "shed" | "other" | "error";

const encoder = new TextEncoder();

/** One `GET /metrics` on a connection of its own, read to the end. */
async function request(port: number, gzip: boolean): Promise<{ outcome: Outcome; bytes: number }> {
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const head = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
      (gzip ? "Accept-Encoding: gzip\r\n" : "") + "\r\n";
    await conn.write(encoder.encode(head));
    const buffer = new Uint8Array(64 * 1024);
    let bytes = 0;
    let status = "";
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      if (bytes === 0) status = new TextDecoder().decode(buffer.subarray(9, 12));
      bytes += n;
    }
    if (status === "200") return { outcome: "ok", bytes };
    if (status === "503") return { outcome: "shed", bytes };
    return { outcome: bytes === 0 ? "shed" : "other", bytes };
  } catch (error) {
    // Refused, reset or closed before an answer: the daemon shed it.
    if (
      error instanceof Deno.errors.ConnectionReset ||
      error instanceof Deno.errors.ConnectionRefused ||
      error instanceof Deno.errors.BrokenPipe
    ) return { outcome: "shed", bytes: 0 };
    console.error(`request failed: ${error instanceof Error ? error.message : error}`);
    return { outcome: "error", bytes: 0 };
  } finally {
    try {
      conn?.close();
    } catch {
      // Already closed.
    }
  }
}

/** Samples the daemon's RSS every `everyMs` until stopped. */
function sampler(pid: number, everyMs: number) {
  const samples: { at: number; rss: number }[] = [];
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      samples.push({ at: Date.now(), rss: (await memory(pid)).rss });
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    samples,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

const options = parseOptions(Deno.args);
const header = await machine();
const result = await withSocketDir(async (dir) => {
  const root = `${dir}/v`;
  await Deno.mkdir(root);
  const shims = await startShims(root, options.sandboxes);
  try {
    const daemon = await startDaemon(dir, root, { intervalS: options.intervalS });
    {
      const port = Number(new URL(daemon.base).port);
      // Every sandbox scraped (asked of /sandboxes: each /metrics would render the aggregate
      // again while the first scrapes come in), then in /metrics, before the load starts.
      for (let i = 0;; i++) {
        const list = await (await fetch(`${daemon.base}/sandboxes`, {
          headers: { accept: "application/json" },
        })).json() as { lastScrape: string | null }[];
        const scraped = list.filter((s) => s.lastScrape !== null).length;
        if (scraped >= options.sandboxes) break;
        if (i > 300) throw new Error(`Only ${scraped} sandboxes scraped after 30 s`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const text = await (await fetch(`${daemon.base}/metrics`)).text();
      const served = new Set(text.match(/sandbox_id="[0-9a-f]{64}"/g) ?? []).size;
      if (served < options.sandboxes) throw new Error(`Only ${served} sandboxes in /metrics`);
      const before = await memory(daemon.pid);
      console.error(`Ready: RSS ${before.rss.toFixed(1)} MiB; ${options.rounds} rounds…`);
      const during = sampler(daemon.pid, 100);
      const rounds: { ms: number; counts: Record<Outcome, number>; bytes: number }[] = [];
      for (let round = 0; round < options.rounds; round++) {
        const started = performance.now();
        const results = await Promise.all(
          Array.from({ length: options.concurrency }, (_, i) => request(port, i % 2 === 1)),
        );
        const counts: Record<Outcome, number> = { ok: 0, shed: 0, other: 0, error: 0 };
        let bytes = 0;
        for (const r of results) {
          counts[r.outcome]++;
          bytes += r.bytes;
        }
        rounds.push({ ms: performance.now() - started, counts, bytes });
        console.error(`round ${round + 1}: ${JSON.stringify(counts)}`);
      }
      await during.stop();
      const afterLoad = await memory(daemon.pid);
      const idle = sampler(daemon.pid, 1000);
      const end = Date.now() + options.idleS * 1000;
      await new Promise((r) => setTimeout(r, end - Date.now()));
      await idle.stop();
      const last = await memory(daemon.pid);
      const loadEnd = during.samples.at(-1)!.at;
      // memory() gives MiB; the goals are in MB.
      const under150 = idle.samples.find((s) => s.rss * 1.048576 < 150)?.at;
      await daemon.stop();
      return {
        before,
        peakSampled: Math.max(...during.samples.map((s) => s.rss)),
        hwm: last.hwm,
        afterLoad: afterLoad.rss,
        last: last.rss,
        under150S: under150 === undefined ? undefined : (under150 - loadEnd) / 1000,
        rounds,
      };
    }
  } finally {
    await shims.close();
  }
});

/** MiB (what `memory()` gives) as MB, the unit of the goals. */
const mb = (mib: number) => `${(mib * 1.048576).toFixed(0)} MB`;
const total = (key: Outcome) => result.rounds.reduce((sum, r) => sum + r.counts[key], 0);
console.log(`\n${header}`);
console.log(
  `${options.sandboxes} sandboxes, metricsInterval ${options.intervalS}s, ${options.rounds} ` +
    `rounds of ${options.concurrency} concurrent GET /metrics (every second one with gzip), ` +
    `${options.idleS} s idle after; RSS in MB (10^6 bytes)\n`,
);
console.log("| round | wall | 200 | shed (503 or closed) | other | errors | MB received |");
console.log("| ----: | ---: | --: | -------------------: | ----: | -----: | ----------: |");
result.rounds.forEach((r, i) =>
  console.log(
    `| ${i + 1} | ${(r.ms / 1000).toFixed(2)} s | ${r.counts.ok} | ${r.counts.shed} | ` +
      `${r.counts.other} | ${r.counts.error} | ${(r.bytes / 1e6).toFixed(0)} |`,
  )
);
console.log("\n| RSS | |");
console.log("| --- | --: |");
console.log(`| ready, before the load | ${mb(result.before.rss)} |`);
console.log(`| peak while loaded (sampled every 100 ms) | ${mb(result.peakSampled)} |`);
console.log(`| VmHWM (the peak since start, by the kernel) | ${mb(result.hwm)} |`);
console.log(`| right after the last round | ${mb(result.afterLoad)} |`);
console.log(`| after ${options.idleS} s idle | ${mb(result.last)} |`);
console.log(
  `\nAnswered ${total("ok")}, shed ${total("shed")}, other ${total("other")}, errors ${
    total("error")
  }.`,
);
const end = result.last * 1.048576;
console.log(
  `Peak < 256 MB: ${result.hwm * 1.048576 < 256 ? "met" : "**NOT met**"} (VmHWM ${
    mb(result.hwm)
  }); under 150 MB ${options.idleS} s after the load: ${end < 150 ? "met" : "**NOT met**"} (${
    mb(result.last)
  }${
    result.under150S === undefined
      ? ""
      : `; first under 150 MB ${result.under150S.toFixed(0)} s after`
  })`,
);
