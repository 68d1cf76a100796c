/**
 * Does the ensemble's tuning generalize to files it was not tuned on? Held-out splits of the NAB
 * corpus: for each split, the settings that tuning would pick (the grid below) are chosen on the
 * training files alone, by their NAB standard-profile score there, and then scored on the test
 * files, beside the shipped defaults and the best the grid could have done had it seen the test
 * files. Splits: each labelled category left out in turn (artificialNoAnomaly, which has no
 * window, always trains), and the files at even and at odd positions, each way round.
 *
 * The ensemble's scores are computed in process (the same code `agent anomaly score` runs) and
 * written in NAB's results layout; `nab_score.py --results DIR --files LIST` scores them.
 *
 * Run: deno task bench:anomaly-holdout [--nab DIR] [--scorer FILE]
 * (defaults: ../shared/data/nab, ../shared/tools/nab_score.py)
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { Detector, type DetectorOptions } from "../lib/anomaly/mod.ts";
import { nabCorpus, nabScores } from "./_nab.ts";

function option(name: string, fallback: string): string {
  const index = Deno.args.indexOf(`--${name}`);
  return index === -1 ? fallback : Deno.args[index + 1] ?? fallback;
}

const nab = option("nab", "../shared/data/nab");
const scorer = option("scorer", "../shared/tools/nab_score.py");

/** The settings tuning chooses among; the shipped defaults are window 256, damping 20, horizon 8000. */
const GRID: Required<Pick<DetectorOptions, "window" | "damping" | "horizon">>[] = [];
for (const window of [128, 256, 512]) {
  for (const damping of [10, 20, 40]) {
    for (const horizon of [2000, 8000]) GRID.push({ window, damping, horizon });
  }
}
const DEFAULTS = GRID.findIndex((s) => s.window === 256 && s.damping === 20 && s.horizon === 8000);
const label = (i: number) => {
  const s = GRID[i]!;
  return `window ${s.window}, damping ${s.damping}, horizon ${s.horizon}`;
};

const files = await nabCorpus(nab);
const dir = await Deno.makeTempDir({ prefix: "anomaly_holdout_" });
try {
  console.log(`NAB corpus: ${files.length} files; ${GRID.length} settings (${nab})\n`);
  for (const [i, settings] of GRID.entries()) {
    for (const file of files) {
      const detector = new Detector("ensemble", settings);
      const lines = ["anomaly_score"];
      for (let p = 0; p < file.values.length; p++) {
        lines.push(String(detector.update(file.times[p]!, file.values[p]!)));
      }
      const [category, name] = file.path.split("/");
      await Deno.mkdir(`${dir}/s${i}/${category}`, { recursive: true });
      await Deno.writeTextFile(`${dir}/s${i}/${category}/agent_${name}`, lines.join("\n") + "\n");
    }
  }

  const paths = files.map((f) => f.path);
  const splits: { name: string; train: string[]; test: string[] }[] = [];
  for (const category of new Set(paths.map((p) => p.split("/")[0]!))) {
    if (category === "artificialNoAnomaly") continue;
    const test = paths.filter((p) => p.startsWith(`${category}/`));
    splits.push({
      name: `${category} left out`,
      train: paths.filter((p) => !test.includes(p)),
      test,
    });
  }
  const even = paths.filter((_, i) => i % 2 === 0);
  const odd = paths.filter((_, i) => i % 2 === 1);
  splits.push({ name: "tune on even, test on odd", train: even, test: odd });
  splits.push({ name: "tune on odd, test on even", train: odd, test: even });

  /** Standard-profile score of setting `i` on `subset`, cached by subset. */
  const cache = new Map<string, number[]>();
  const scores = async (subset: string[]): Promise<number[]> => {
    const key = subset.join("\n");
    const known = cache.get(key);
    if (known) return known;
    const list = `${dir}/list${cache.size}.txt`;
    await Deno.writeTextFile(list, key + "\n");
    const out: number[] = [];
    // Two scorers at a time.
    for (let i = 0; i < GRID.length; i += 2) {
      const batch = [i, i + 1].filter((j) => j < GRID.length).map((j) =>
        nabScores(scorer, nab, [
          "--results",
          `${dir}/s${j}`,
          "--files",
          list,
          "--profile",
          "standard",
        ])
      );
      for (const result of await Promise.all(batch)) out.push(result.standard!);
    }
    cache.set(key, out);
    return out;
  };

  const best = (xs: number[]) => xs.reduce((b, x, i) => x > xs[b]! ? i : b, 0);
  console.log(
    "| split | test files | chosen on train | train | test (chosen) | test (defaults) | test (best of grid) |",
  );
  console.log("| --- | ---: | --- | ---: | ---: | ---: | ---: |");
  for (const split of splits) {
    const train = await scores(split.train);
    const test = await scores(split.test);
    const chosen = best(train);
    console.log(
      `| ${split.name} | ${split.test.length} | ${label(chosen)} | ${train[chosen]!.toFixed(2)} | ${
        test[chosen]!.toFixed(2)
      } | ${test[DEFAULTS]!.toFixed(2)} | ${test[best(test)]!.toFixed(2)} |`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
