/**
 * The daemon collecting one large core: `agent daemon` (zstd storage, `useGdb: false`, every
 * core kept) watches a directory, a core arrives in it, and the daemon's VmRSS is sampled every
 * 100 ms from just before the core arrives until its metadata is stored; the peak (VmHWM) is
 * what counts (issue 16: under 128 MB while storing). Two ways a core arrives:
 *
 * - `written`: written into the watched directory in 64 KiB pieces, so the daemon sees it grow
 *   (thousands of write events) before it settles, as a pipe handler writes a core in place;
 * - `renamed`: copied beside it and renamed in, as systemd-coredump does.
 *
 * By default the core is `bench/.cores/2g-mixed/bigmem/core` (`makeMixedCore()` in
 * `make_cores.ts`); `--baseline DIR` runs another checkout's daemon in turn with this one.
 *
 * Run: deno task bench:daemon-store [CORE] [--runs N] [--baseline DIR]
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { parseArgs } from "node:util";
import { DENO_DIR, startV8Flags } from "../tests/support/cli.ts";
import { freePort } from "../tests/support/net.ts";
import { memory } from "./_kata_node.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { runs: { type: "string", default: "1" }, baseline: { type: "string" } },
});
const CORE = positionals[0] ??
  new URL("./.cores/2g-mixed/bigmem/core", import.meta.url).pathname;
const RUNS = Number(values.runs);
const HERE = new URL("..", import.meta.url).pathname;

interface Result {
  idle: number;
  peak: number;
  seconds: number;
}

async function once(root: string, arrival: "written" | "renamed"): Promise<Result> {
  const dir = await Deno.makeTempDir({ prefix: "agent-bench-store-" });
  try {
    await Deno.mkdir(`${dir}/in`);
    await Deno.writeTextFile(
      `${dir}/agent.yaml`,
      `stateDir: ${dir}/state\ncollector:\n  paths: [${dir}/in]\nstorage:\n  compression: zstd\n` +
        `  local: {path: ${dir}/store}\nanalyzer:\n  useGdb: false\n  valueThreshold: 0\n`,
    );
    const port = freePort();
    const daemon = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-q",
        startV8Flags(root),
        "-P=agent",
        "--config",
        `${root}/deno.json`,
        `${root}/main.ts`,
        "--config",
        `${dir}/agent.yaml`,
        "daemon",
        "--listen-address",
        `127.0.0.1:${port}`,
      ],
      env: { HOME: dir, KUBECONFIG: "", DENO_DIR, NO_COLOR: "1" },
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      for (let i = 0;; i++) {
        const ready = await fetch(`http://127.0.0.1:${port}/readyz`)
          .then(async (r) => (await r.body?.cancel(), r.ok), () => false);
        if (ready) break;
        if (i === 600) throw new Error("the daemon was not ready within 60 s");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const idle = (await memory(daemon.pid)).rss;
      const started = performance.now();
      const target = `${dir}/in/core.bigmem.1000.1`;
      const copy = arrival === "written"
        ? writeInPieces(CORE, target)
        : Deno.copyFile(CORE, `${dir}/core.tmp`).then(() => Deno.rename(`${dir}/core.tmp`, target));
      let stored = false;
      while (!stored) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        for await (const _ of walkJson(`${dir}/store`)) stored = true;
        if (performance.now() - started > 600_000) throw new Error("not stored within 10 min");
      }
      await copy;
      const { hwm } = await memory(daemon.pid);
      return { idle, peak: hwm, seconds: (performance.now() - started) / 1000 };
    } finally {
      daemon.kill();
      await daemon.status;
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Copies `from` to `to` in 64 KiB writes, as a pipe handler writes a core it is given. */
async function writeInPieces(from: string, to: string): Promise<void> {
  using source = await Deno.open(from);
  using target = await Deno.open(to, { write: true, createNew: true });
  const buffer = new Uint8Array(64 << 10);
  for (let n = await source.read(buffer); n !== null; n = await source.read(buffer)) {
    for (let at = 0; at < n;) at += await target.write(buffer.subarray(at, n));
  }
}

/** The metadata files (`.json`) under `dir`, if it exists. */
async function* walkJson(dir: string): AsyncGenerator<string> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walkJson(path);
    else if (entry.name.endsWith(".json")) yield path;
  }
}

const subjects = [
  { name: "this checkout", root: HERE },
  ...(values.baseline ? [{ name: `baseline ${values.baseline}`, root: values.baseline }] : []),
];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(`${CORE}: ${((await Deno.stat(CORE)).size / 2 ** 30).toFixed(2)} GiB, ${RUNS} runs`);
console.log("\n| daemon | core arrives | VmRSS idle | VmHWM storing | seconds |");
console.log("| --- | --- | ---: | ---: | ---: |");
for (const arrival of ["written", "renamed"] as const) {
  const results = new Map<string, Result[]>(subjects.map((s) => [s.name, []]));
  for (let run = 0; run < RUNS; run++) {
    // Alternating, the order rotating from run to run.
    for (const subject of run % 2 ? [...subjects].reverse() : subjects) {
      console.error(`${subject.name}, ${arrival}, run ${run + 1}…`);
      results.get(subject.name)!.push(await once(subject.root, arrival));
    }
  }
  for (const [name, rs] of results) {
    const mib = (f: (r: Result) => number) =>
      `${median(rs.map(f)).toFixed(1)} MiB (${Math.min(...rs.map(f)).toFixed(1)}–${
        Math.max(...rs.map(f)).toFixed(1)
      })`;
    console.log(
      `| ${name} | ${arrival} | ${mib((r) => r.idle)} | ${mib((r) => r.peak)} | ${
        median(rs.map((r) => r.seconds)).toFixed(1)
      } |`,
    );
  }
}
