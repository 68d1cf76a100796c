/**
 * The anomaly detectors' figures: throughput per core (points per second of CPU time, every
 * detector over every series of the NAB corpus, in process), memory per series (the state's
 * bytes, and the heap and array buffers of 2,000 ensembles that have each seen 1,100 points,
 * divided by 2,000), and the NAB scores of each detector on the corpus with the time
 * `nab_score.py` took to run it (the whole command: one `agent anomaly score` process per file),
 * beside those of NAB's windowed Gaussian (`_windowed_gaussian.ts`), the named peer.
 *
 * Run: deno task bench:anomaly [--nab DIR] [--scorer FILE] [--jobs N] [--skip-nab]
 * (defaults: ../shared/data/nab, ../shared/tools/nab_score.py, 2 jobs)
 *
 * @module
 */
// deno-lint-ignore-file no-console
import process from "node:process";
import { Detector, DETECTOR_NAMES } from "../lib/anomaly/mod.ts";
import { nabCorpus, type NabFile, nabScores as scoreWith } from "./_nab.ts";

function option(name: string, fallback: string): string {
  const index = Deno.args.indexOf(`--${name}`);
  return index === -1 ? fallback : Deno.args[index + 1] ?? fallback;
}

const nab = option("nab", "../shared/data/nab");
const scorer = option("scorer", "../shared/tools/nab_score.py");
const jobs = Number(option("jobs", "2"));

function cpuSeconds(since?: NodeJS.CpuUsage): { usage: NodeJS.CpuUsage; seconds: number } {
  const usage = process.cpuUsage(since);
  return { usage, seconds: (usage.user + usage.system) / 1e6 };
}

function throughput(series: NabFile[]): Map<string, number> {
  const result = new Map<string, number>();
  for (const name of DETECTOR_NAMES) {
    let points = 0;
    let sink = 0;
    let start = cpuSeconds().usage;
    // Round 0 warms the code up (a daemon's detectors run compiled code past their first
    // minutes) and is not counted.
    for (let round = 0; round < 4; round++) {
      if (round === 1) {
        points = 0;
        start = cpuSeconds().usage;
      }
      for (const s of series) {
        const detector = new Detector(name);
        for (let i = 0; i < s.values.length; i++) {
          sink += detector.update(s.times[i]!, s.values[i]!);
        }
        points += s.values.length;
      }
    }
    if (Number.isNaN(sink)) throw new Error("NaN score");
    result.set(name, points / cpuSeconds(start).seconds);
  }
  return result;
}

function memory(): { state: number; heap: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("Run with --v8-flags=--expose-gc (deno task bench:anomaly does)");
  const count = 2000;
  const used = () => {
    gc();
    const m = Deno.memoryUsage();
    return m.heapUsed + m.external;
  };
  const before = used();
  const detectors = Array.from({ length: count }, () => new Detector("ensemble"));
  for (const [i, d] of detectors.entries()) {
    for (let t = 0; t < 1100; t++) d.update(t * 15, 50 + 10 * Math.sin((t + i) / 40) + (t % 7));
  }
  const heap = (used() - before) / count;
  return { state: detectors[0]!.save().length, heap };
}

interface NabRun {
  seconds: number;
  scores: Record<string, number>;
}

/** The scorer's run of `command` (one process per file). */
async function nabScores(command: string): Promise<NabRun> {
  const started = performance.now();
  const scores = await scoreWith(scorer, nab, [
    "--detect",
    command,
    "--profile",
    "all",
    "--jobs",
    String(jobs),
  ]);
  return { seconds: (performance.now() - started) / 1000, scores };
}

const series = await nabCorpus(nab);
const points = series.reduce((n, s) => n + s.values.length, 0);
console.log(`NAB corpus: ${series.length} files, ${points} points (${nab})\n`);
const speed = throughput(series);
const { state, heap } = memory();
console.log("| detector | points/s per core | NAB standard | low FP | low FN | NAB run (s) |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
const skipNab = Deno.args.includes("--skip-nab");
let ensemble: NabRun | undefined;
for (const name of DETECTOR_NAMES) {
  const run = skipNab
    ? undefined
    : await nabScores(`deno run -q -A main.ts anomaly score --detector ${name}`);
  if (name === "ensemble") ensemble = run;
  const f = (p: string) => run?.scores[p]?.toFixed(2) ?? "-";
  console.log(
    `| ${name} | ${Math.round(speed.get(name)!).toLocaleString("en")} | ${f("standard")} | ${
      f("reward_low_FP_rate")
    } | ${f("reward_low_FN_rate")} | ${run ? run.seconds.toFixed(1) : "-"} |`,
  );
}
if (!skipNab) {
  // The named peer: NAB's windowed Gaussian, run the same way.
  const peer = await nabScores("deno run -q bench/_windowed_gaussian.ts");
  const f = (p: string) => peer.scores[p]!.toFixed(2);
  console.log(
    `| windowed Gaussian (NAB's) | - | ${f("standard")} | ${f("reward_low_FP_rate")} | ${
      f("reward_low_FN_rate")
    } | ${peer.seconds.toFixed(1)} |`,
  );
  console.log(
    `\nEnsemble / windowed Gaussian, standard profile: ${
      (ensemble!.scores.standard! / peer.scores.standard!).toFixed(2)
    }`,
  );
}
console.log(
  `\nMemory per series (ensemble): state ${(state / 1024).toFixed(1)} KB; heap and buffers ${
    (heap / 1024).toFixed(1)
  } KB (2,000 detectors)`,
);
