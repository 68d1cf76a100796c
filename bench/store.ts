/**
 * Storage benchmark: `storeCompressed` (gzip and zstd at their default levels) against
 * `gzip -1` and `zstd -1` on the same core in one run, alternating, whole processes: wall
 * time, CPU time (user + system) and peak RSS (GNU time), and the output's size. On a shared
 * machine the CPU times say more than the wall times.
 * Uses the 2 GiB core of realistic content that `makeMixedCore()` of `bench/make_cores.ts`
 * makes (or a path given as the first argument).
 *
 * Run: deno task bench:store [CORE]
 *
 * @module
 */
// deno-lint-ignore-file no-console
const ROOT = new URL("../", import.meta.url).pathname;
import { makeMixedCore } from "./make_cores.ts";

const core = Deno.args[0] ?? (await makeMixedCore())?.core;
if (!core) Deno.exit(0);
const size = (await Deno.stat(core)).size;
const dir = await Deno.makeTempDir({ prefix: "agent-store-bench-" });

async function timed(
  command: string[],
  output: string,
): Promise<{ seconds: number; cpu: number; rssMB: number; bytes: number }> {
  const started = performance.now();
  const run = await new Deno.Command("/usr/bin/time", {
    args: [
      "-f",
      "%M %U %S",
      "-o",
      `${dir}/time`,
      "sh",
      "-c",
      `"$@" > "${output}.stdout"`,
      "sh",
      ...command,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  if (!run.success) {
    throw new Error(`${command.join(" ")}: ${new TextDecoder().decode(run.stderr)}`);
  }
  const [rss, user, system] = (await Deno.readTextFile(`${dir}/time`)).trim().split("\n").at(-1)!
    .split(" ").map(Number);
  const rssMB = rss! / 1024;
  const cpu = user! + system!;
  const written = await Deno.stat(output).catch(() => Deno.stat(`${output}.stdout`));
  return { seconds, cpu, rssMB, bytes: written.size };
}

const rows: string[] = [];
for (const compression of ["gzip", "zstd"] as const) {
  const ours = [];
  const peer = [];
  for (let round = 0; round < 3; round++) {
    ours.push(
      await timed(
        [
          Deno.execPath(),
          "run",
          "-q",
          "-A",
          "--config",
          `${ROOT}deno.json`,
          `${ROOT}bench/_store_one.ts`,
          core,
          `${dir}/ours.${round}`,
          compression,
        ],
        `${dir}/ours.${round}`,
      ),
    );
    await Deno.remove(`${dir}/ours.${round}`);
    peer.push(await timed([compression, "-1", "-c", core], `${dir}/peer.${round}`));
    await Deno.remove(`${dir}/peer.${round}.stdout`);
  }
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const o = {
    s: median(ours.map((r) => r.seconds)),
    cpu: median(ours.map((r) => r.cpu)),
    rss: median(ours.map((r) => r.rssMB)),
    bytes: ours[0]!.bytes,
  };
  const p = {
    s: median(peer.map((r) => r.seconds)),
    cpu: median(peer.map((r) => r.cpu)),
    rss: median(peer.map((r) => r.rssMB)),
    bytes: peer[0]!.bytes,
  };
  const mbps = (s: number) => (size / 2 ** 20 / s).toFixed(0);
  rows.push(
    `| ${compression} | ${mbps(o.s)} MiB/s | ${o.rss.toFixed(1)} MB | ${
      (o.bytes / 2 ** 20).toFixed(1)
    } MiB | ${compression} -1: ${mbps(p.s)} MiB/s | ${p.rss.toFixed(1)} MB | ${
      (p.bytes / 2 ** 20).toFixed(1)
    } MiB | ${(p.s / o.s).toFixed(2)}× | ${o.cpu.toFixed(2)} s / ${p.cpu.toFixed(2)} s | ${
      (o.bytes / p.bytes).toFixed(3)
    } |`,
  );
}
console.log(`core: ${core} (${(size / 2 ** 30).toFixed(2)} GiB), median of 3\n`);
console.log(
  "| compression | ours | ours peak RSS | ours size | CLI | CLI peak RSS | CLI size | throughput ours/CLI | CPU (user + sys) ours / CLI | size ours/CLI |",
);
console.log("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
for (const row of rows) console.log(row);
await Deno.remove(dir, { recursive: true });
