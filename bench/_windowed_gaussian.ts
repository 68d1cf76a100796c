/**
 * NAB's "windowed Gaussian" detector (nab/detectors/gaussian/windowedGaussian_detector.py),
 * written again as the benchmark's named peer on the NAB corpus: the tail probability of each
 * value under a normal fitted to the previous 6,400 values (slid 100 at a time), as a filter
 * over a `timestamp,value` CSV on stdin, writing `timestamp,anomaly_score`. NAB publishes its
 * standard-profile score on the whole corpus: 39.6.
 *
 * Run: deno run -q bench/_windowed_gaussian.ts < series.csv
 *
 * @module
 */
import { readSeriesCsv } from "../lib/anomaly/mod.ts";
import { writeAll } from "../lib/io.ts";

const WINDOW = 6400;
const STEP = 100;

/** The complementary error function (Numerical Recipes' Chebyshev fit, 1.2e-7 accurate). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(
    -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
                      t *
                        (0.27886807 +
                          t *
                            (-1.13520398 +
                              t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
  );
  return x >= 0 ? r : 2 - r;
}

/** NAB's normalProbability: the upper tail of the value mirrored above the mean. */
function tail(x: number, mean: number, std: number): number {
  const above = x < mean ? 2 * mean - x : x;
  return 0.5 * erfc((above - mean) / std / Math.SQRT2);
}

let window: number[] = [];
let step: number[] = [];
let mean = 0;
let std = 0.000001;
const refit = () => {
  mean = window.reduce((a, b) => a + b, 0) / window.length;
  std = Math.sqrt(window.reduce((a, b) => a + (b - mean) ** 2, 0) / window.length) || 0.000001;
};
let out = "timestamp,anomaly_score\n";
for await (const point of readSeriesCsv(Deno.stdin.readable, "standard input")) {
  const score = window.length > 0 ? 1 - tail(point.value, mean, std) : 0;
  if (window.length < WINDOW) {
    window.push(point.value);
    refit();
  } else {
    step.push(point.value);
    if (step.length === STEP) {
      window = window.slice(STEP).concat(step);
      step = [];
      refit();
    }
  }
  out += `${point.timestamp},${score}\n`;
}
await writeAll(Deno.stdout, new TextEncoder().encode(out));
