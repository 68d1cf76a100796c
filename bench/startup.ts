/**
 * Start-up benchmark: `agent version` (and `agent version -o json`), the help of the root and
 * of three commands, which build the whole command line, `agent stats` (one report, 100 ms
 * apart: its two collections are 100 ms of its time) and `agent anomaly score` of a
 * three-line series, against `deno run` of an empty script, whole processes under GNU time,
 * alternating in rounds (the order rotating), medians of wall time and peak RSS, in one run.
 * Other checkouts (`--ref DIR`, e.g. an export of main) run the same commands in the same
 * rounds. On a shared machine, compare the ratios of one run.
 *
 * Run: deno run -q --allow-read --allow-write --allow-run --allow-env bench/startup.ts
 *   [--runs N] [--ref DIR...]
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { parseArgs } from "node:util";

const ROOT = new URL("../", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "21" },
    ref: { type: "string", multiple: true, default: [] },
  },
});
const runs = Number(values.runs);
const empty = await Deno.makeTempFile({ suffix: ".ts" });
const series = await Deno.makeTempFile({ suffix: ".csv" });
await Deno.writeTextFile(series, "timestamp,value\n0,1\n60,2\n120,1\n");

interface Row {
  name: string;
  args: string[];
  cwd: string;
  wall: number[];
  rss: number[];
}

const agent = (root: string, label: string, args: string[]): Row => ({
  name: `${label}: agent ${args.join(" ")}`,
  args: ["run", "-q", "-P=agent", "--config", `${root}/deno.json`, `${root}/main.ts`, ...args],
  cwd: root,
  wall: [],
  rss: [],
});
const rows: Row[] = [
  { name: "deno run, empty script", args: ["run", "-q", empty], cwd: ROOT, wall: [], rss: [] },
];
for (const [label, root] of [["this checkout", ROOT], ...values.ref.map((r) => [r, r])]) {
  rows.push(agent(root!, label!, ["version"]));
  rows.push(agent(root!, label!, ["version", "-o", "json"]));
  rows.push(agent(root!, label!, ["--help"]));
  rows.push(agent(root!, label!, ["score", "--help"]));
  rows.push(agent(root!, label!, ["discover", "--help"]));
  rows.push(agent(root!, label!, ["stats", "--help"]));
  rows.push(agent(root!, label!, ["stats", "-o", "json", "--count", "1", "--interval", "100ms"]));
  rows.push(agent(root!, label!, ["anomaly", "score", series]));
}

const timeFile = await Deno.makeTempFile();
async function once(row: Row): Promise<void> {
  const started = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%M", "-o", timeFile, Deno.execPath(), ...row.args],
    cwd: row.cwd,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  const wall = performance.now() - started;
  if (!out.success) throw new Error(`${row.name}: ${new TextDecoder().decode(out.stderr)}`);
  row.wall.push(wall);
  row.rss.push(Number((await Deno.readTextFile(timeFile)).trim().split("\n").at(-1)) / 1024);
}

for (const row of rows) await once(row); // warm-up: module caches
for (const row of rows) row.wall.length = row.rss.length = 0;
for (let round = 0; round < runs; round++) {
  for (let i = 0; i < rows.length; i++) await once(rows[(i + round) % rows.length]!);
}
await Deno.remove(empty);
await Deno.remove(series);
await Deno.remove(timeFile);

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const peer = rows[0]!;
console.log(`median of ${runs} rounds, alternating, after one warm-up run each\n`);
console.log("| command | wall | peak RSS | wall / empty script | RSS / empty script |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const row of rows) {
  console.log(
    `| ${row.name} | ${median(row.wall).toFixed(0)} ms | ${median(row.rss).toFixed(1)} MB | ${
      (median(row.wall) / median(peer.wall)).toFixed(2)
    }× | ${(median(row.rss) / median(peer.rss)).toFixed(2)}× |`,
  );
}
