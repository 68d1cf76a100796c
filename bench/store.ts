/**
 * Storage benchmark: `storeCompressed` (gzip and zstd at their default levels) against
 * `gzip -1` and `zstd -1` on the same core in one run, alternating, whole processes: wall
 * time, CPU time (user + system) and peak RSS (GNU time), and the output's size. On a shared
 * machine the CPU times say more than the wall times. With `--collect`, a third row runs the
 * whole CLI as the kernel would, `agent collect --from-stdin` with the core on its stdin and
 * zstd storage, so its peak RSS is `agent collect`'s; `--baseline DIR` (a checkout or
 * `git archive` of another commit) runs that row for DIR's agent too, alternating with this
 * one's in every round.
 * Uses the 2 GiB core of realistic content that `makeMixedCore()` of `bench/make_cores.ts`
 * makes (or a path given as the first argument).
 *
 * Run: deno task bench:store [CORE] [--rounds N] [--only gzip|zstd] [--collect] [--baseline DIR]
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { parseArgs } from "node:util";
import { startV8Flags } from "../tests/support/cli.ts";
import { makeMixedCore } from "./make_cores.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "3" },
    only: { type: "string" },
    collect: { type: "boolean", default: false },
    baseline: { type: "string" },
  },
});
const rounds = Number(values.rounds);
const core = positionals[0] ?? (await makeMixedCore())?.core;
if (!core) Deno.exit(0);
const size = (await Deno.stat(core)).size;
const dir = await Deno.makeTempDir({ prefix: "agent-store-bench-" });

interface Run {
  seconds: number;
  cpu: number;
  rssMB: number;
  bytes: number;
}

/** Runs `command` under GNU time, stdout to `output.stdout` (stdin from `input`, if given). */
async function timed(command: string[], output: string, input = "/dev/null"): Promise<Run> {
  const started = performance.now();
  const run = await new Deno.Command("/usr/bin/time", {
    args: [
      "-f",
      "%M %U %S",
      "-o",
      `${dir}/time`,
      "sh",
      "-c",
      `"$@" < "${input}" > "${output}.stdout"`,
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
  const written = await Deno.stat(output).catch(() => Deno.stat(`${output}.stdout`));
  return { seconds, cpu: user! + system!, rssMB: rss! / 1024, bytes: written.size };
}

/** `storeCompressed` in a process of its own (`bench/_store_one.ts`). */
function ours(compression: string, output: string): Promise<Run> {
  const script = `${ROOT}bench/_store_one.ts`;
  const args = ["run", "-q", "-A", "--config", `${ROOT}deno.json`, script, core!, output];
  return timed([Deno.execPath(), ...args, compression], output);
}

/**
 * `agent collect --from-stdin` of the tree at `root` storing the core from its stdin as
 * zstd; the spooled file.
 */
async function collect(round: number, root = ROOT): Promise<Run> {
  const at = `${dir}/collect.${round}`;
  await Deno.mkdir(`${at}/in`, { recursive: true });
  await Deno.writeTextFile(
    `${at}/agent.yaml`,
    `stateDir: ${at}/state\ncollector:\n  paths: [${at}/in]\nstorage:\n  compression: zstd\n` +
      `  local: {path: ${at}/store}\nanalyzer:\n  useGdb: false\n`,
  );
  // As the installed launcher runs it (scripts/install.ts), with that checkout's flags.
  const agent = [Deno.execPath(), "run", "-q", startV8Flags(root), "-P=agent"];
  agent.push("--config", `${root}deno.json`);
  const args = ["--config", `${at}/agent.yaml`, "collect", "--from-stdin", "4242", "11", "1"];
  const run = await timed([...agent, `${root}main.ts`, ...args, "bench", "h"], `${at}/out`, core!);
  // What the core became: the spooled file, or the stored one when the spool was processed.
  const sizes = await Array.fromAsync(walk(at), async (path) => (await Deno.stat(path)).size);
  await Deno.remove(at, { recursive: true });
  return { ...run, bytes: Math.max(0, ...sizes) };
}

/** Every `.zst` file under `path`. */
async function* walk(path: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(path)) {
    const full = `${path}/${entry.name}`;
    if (entry.isDirectory) yield* walk(full);
    else if (entry.name.endsWith(".zst")) yield full;
  }
}

const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const summary = (runs: Run[]) => ({
  s: median(runs.map((r) => r.seconds)),
  cpu: median(runs.map((r) => r.cpu)),
  rss: median(runs.map((r) => r.rssMB)),
  peakRss: Math.max(...runs.map((r) => r.rssMB)),
  bytes: runs[0]!.bytes,
});
const mbps = (s: number) => (size / 2 ** 20 / s).toFixed(0);
const baseline = values.baseline === undefined
  ? undefined
  : new URL(`${values.baseline.replace(/\/$/, "")}/`, `file://${Deno.cwd()}/`).pathname;
const rows: string[] = [];
const kinds = [
  ...(["gzip", "zstd"] as const).filter((c) => !values.only || values.only === c),
  ...(values.collect ? ["agent collect (zstd)"] as const : []),
];
for (const kind of kinds) {
  const peer = kind === "gzip" ? "gzip" : "zstd";
  const mine: Run[] = [];
  const base: Run[] = [];
  const theirs: Run[] = [];
  for (let round = 0; round < rounds; round++) {
    if (kind === "agent collect (zstd)") {
      if (baseline) base.push(await collect(round, baseline));
      mine.push(await collect(round));
    } else {
      mine.push(await ours(kind, `${dir}/ours.${round}`));
      await Deno.remove(`${dir}/ours.${round}`);
    }
    theirs.push(await timed([peer, "-1", "-c", core], `${dir}/peer.${round}`));
    await Deno.remove(`${dir}/peer.${round}.stdout`);
  }
  const p = summary(theirs);
  if (base.length) row(`${kind}, baseline`, base, p);
  row(kind, mine, p);
  console.error(
    `${kind}: ours ${mine.map((r) => r.seconds.toFixed(2)).join(" ")} s, ${
      base.length ? `baseline ${base.map((r) => r.seconds.toFixed(2)).join(" ")} s, ` : ""
    }peer ${theirs.map((r) => r.seconds.toFixed(2)).join(" ")} s`,
  );
}

/** A row of the table: `runs` of `kind` against the CLI's `p`. */
function row(kind: string, runs: Run[], p: ReturnType<typeof summary>): void {
  const o = summary(runs);
  const peer = kind === "gzip" ? "gzip" : "zstd";
  rows.push(
    `| ${kind} | ${mbps(o.s)} MiB/s | ${o.rss.toFixed(1)} MB (max ${o.peakRss.toFixed(1)}) | ${
      (o.bytes / 2 ** 20).toFixed(1)
    } MiB | ${peer} -1: ${mbps(p.s)} MiB/s | ${p.rss.toFixed(1)} MB | ${
      (p.bytes / 2 ** 20).toFixed(1)
    } MiB | ${(p.s / o.s).toFixed(2)}× | ${o.cpu.toFixed(2)} s / ${p.cpu.toFixed(2)} s | ${
      (o.bytes / p.bytes).toFixed(3)
    } |`,
  );
}
const load = Deno.loadavg().map((n) => n.toFixed(2)).join(" ");
console.log(
  `core: ${core} (${(size / 2 ** 30).toFixed(2)} GiB), median of ${rounds}, load ${load}\n`,
);
console.log(
  "| compression | ours | ours peak RSS | ours size | CLI | CLI peak RSS | CLI size | throughput ours/CLI | CPU (user + sys) ours / CLI | size ours/CLI |",
);
console.log("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
for (const row of rows) console.log(row);
await Deno.remove(dir, { recursive: true });
