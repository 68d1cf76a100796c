/**
 * The daemon's watch over its own series: the rules (`rules.ts`) evaluated over the metric
 * families it serves at every tick, a detector per resulting series (and per vector, and a
 * forecast per filling resource), and what they say as metric families:
 *
 * - `agent_anomaly_score{series, ...}`: the last score, 0 to 1;
 * - `agent_anomaly_active{series, ...}`: 1 from a score at or above the threshold until the
 *   hold time passes without another;
 * - `agent_forecast_seconds_to_full{resource, device, mountpoint}`: when the trend fills it
 *   (+Inf when it is not filling);
 * - `agent_anomaly_series` and `agent_anomaly_series_dropped`: how many are watched, and how
 *   many were not for the `maxSeries` bound.
 *
 * Memory is bounded: at most `maxSeries` things, each with a fixed-size detector; a thing not
 * seen for `forgetSeconds` is dropped (its baseline stays in the store for a while). What the
 * detectors learned is written to a {@linkcode BaselineStore} by {@linkcode AnomalyWatch.save}
 * and read back when a thing is seen again, so a restart does not relearn from scratch.
 *
 * @module
 */
import type { Labels, MetricFamily } from "../prom/mod.ts";
import { StateReader, StateWriter } from "./_codec.ts";
import type { Baseline, BaselineStore } from "./baselines.ts";
import { Detector, type DetectorName } from "./detector.ts";
import { LinearForecast } from "./forecast.ts";
import type { FillRule, SeriesRule, VectorRule } from "./rules.ts";
import { parseSeriesExpression, SeriesEvaluator } from "./series.ts";
import { VectorDetector } from "./vector.ts";

/** Options of {@linkcode AnomalyWatch}. */
export interface WatchOptions {
  series: readonly SeriesRule[];
  vectors?: readonly VectorRule[];
  fills?: readonly FillRule[];
  /** The detector of every series (default `ensemble`). */
  detector?: DetectorName;
  /** Score from which a thing is active (default 0.5). */
  threshold?: number;
  /** Seconds a thing stays active after its last score past the threshold (default 600). */
  holdSeconds?: number;
  /** Things watched at most (default 2000). */
  maxSeries?: number;
  /** Seconds after which a thing no longer seen is dropped (default 3600). */
  forgetSeconds?: number;
  /** Weight horizon of the forecasts, seconds (default 6 hours). */
  forecastHorizonSeconds?: number;
  store?: BaselineStore;
}

interface Scored {
  labels: Labels;
  seen: number;
  score: number;
  activeUntil: number;
}

type Entry =
  | Scored & { type: "series"; detector: Detector }
  | Scored & { type: "vector"; detector: VectorDetector }
  | { type: "fill"; labels: Labels; seen: number; forecast: LinearForecast; seconds?: number };

function labelKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => a < b ? -1 : 1));
}

function evaluator(text: string, sumBy?: string[]): SeriesEvaluator {
  const expression = parseSeriesExpression(text);
  return new SeriesEvaluator(sumBy ? { ...expression, sumBy } : expression);
}

/** Watches series, vectors and filling resources. */
export class AnomalyWatch {
  readonly #series: { rule: SeriesRule; evaluator: SeriesEvaluator }[];
  readonly #vectors: { rule: VectorRule; parts: SeriesEvaluator[] }[];
  readonly #fills: { rule: FillRule; free: SeriesEvaluator; size: SeriesEvaluator }[];
  readonly #entries = new Map<string, Entry>();
  readonly #detector: DetectorName;
  readonly #threshold: number;
  readonly #hold: number;
  readonly #max: number;
  readonly #forget: number;
  readonly #horizon: number;
  readonly #store: BaselineStore | undefined;
  #dropped = 0;
  #now = 0;

  /**
   * Watches what `options` names.
   *
   * @throws {SyntaxError} when an expression of a rule does not parse.
   */
  constructor(options: WatchOptions) {
    this.#series = options.series.map((rule) => ({ rule, evaluator: evaluator(rule.expression) }));
    this.#vectors = (options.vectors ?? []).map((rule) => ({
      rule,
      parts: rule.parts.map((p) => evaluator(p, rule.by)),
    }));
    this.#fills = (options.fills ?? []).map((rule) => ({
      rule,
      free: evaluator(rule.free, rule.by),
      size: evaluator(rule.size, rule.by),
    }));
    this.#detector = options.detector ?? "ensemble";
    this.#threshold = options.threshold ?? 0.5;
    this.#hold = options.holdSeconds ?? 600;
    this.#max = options.maxSeries ?? 2000;
    this.#forget = options.forgetSeconds ?? 3600;
    this.#horizon = options.forecastHorizonSeconds ?? 6 * 3600;
    this.#store = options.store;
  }

  /** Things watched now. */
  get size(): number {
    return this.#entries.size;
  }

  #entry<E extends Entry>(key: string, create: () => E, kind: string): E | undefined {
    const found = this.#entries.get(key);
    if (found) return found as E;
    if (this.#entries.size >= this.#max) {
      this.#dropped++;
      return undefined;
    }
    const entry = create();
    const stored = this.#store?.load(key, kind);
    if (stored) {
      try {
        loadState(entry, stored);
      } catch {
        // A baseline from another version of the detector: learn again.
        const fresh = create();
        this.#entries.set(key, fresh);
        return fresh;
      }
    }
    this.#entries.set(key, entry);
    return entry;
  }

  #score(entry: Scored, score: number, time: number): void {
    entry.score = score;
    entry.seen = time;
    if (score >= this.#threshold) entry.activeUntil = time + this.#hold;
  }

  /** Evaluates every rule over `families` at `time` (seconds) and scores what they give. */
  observe(families: readonly MetricFamily[], time: number): void {
    this.#now = time;
    this.#dropped = 0;
    // First, so that their places go to the series seen now.
    for (const [key, entry] of this.#entries) {
      if (time - entry.seen > this.#forget) this.#entries.delete(key);
    }
    const kind = `detector:${this.#detector}`;
    for (const { rule, evaluator } of this.#series) {
      for (const { labels, value } of evaluator.evaluate(families, time)) {
        const all = { ...labels, series: rule.name };
        const entry = this.#entry(`series|${labelKey(all)}`, () => ({
          type: "series" as const,
          labels: all,
          seen: time,
          score: 0,
          activeUntil: -Infinity,
          detector: new Detector(this.#detector),
        }), kind);
        if (entry) this.#score(entry, entry.detector.update(time, value), time);
      }
    }
    for (const { rule, parts } of this.#vectors) {
      const vectors = new Map<string, { labels: Labels; values: number[] }>();
      parts.forEach((part, i) => {
        for (const { labels, value } of part.evaluate(families, time)) {
          const key = labelKey(labels);
          const v = vectors.get(key) ?? { labels, values: new Array(parts.length).fill(NaN) };
          v.values[i] = value;
          vectors.set(key, v);
        }
      });
      for (const { labels, values } of vectors.values()) {
        if (values.some((x) => Number.isNaN(x))) continue;
        const all = { ...labels, series: rule.name };
        const entry = this.#entry(`vector|${labelKey(all)}`, () => ({
          type: "vector" as const,
          labels: all,
          seen: time,
          score: 0,
          activeUntil: -Infinity,
          detector: new VectorDetector(parts.length),
        }), `vector:${parts.length}`);
        if (entry) this.#score(entry, entry.detector.update(time, values), time);
      }
    }
    for (const { rule, free, size } of this.#fills) {
      const sizes = new Map(size.evaluate(families, time).map((s) => [labelKey(s.labels), s]));
      for (const { labels, value } of free.evaluate(families, time)) {
        const total = sizes.get(labelKey(labels))?.value;
        if (total === undefined || !(total > 0)) continue;
        const all = { resource: rule.resource, device: "", mountpoint: "", ...labels };
        const entry = this.#entry(`fill|${labelKey(all)}`, () => ({
          type: "fill" as const,
          labels: all,
          seen: time,
          forecast: new LinearForecast(this.#horizon),
          seconds: undefined as number | undefined,
        }), "forecast");
        if (!entry) continue;
        entry.seen = time;
        // The fraction used: a resized filesystem keeps its trend in the same units.
        entry.forecast.add(time, 1 - value / total);
        entry.seconds = entry.forecast.secondsToReach(1);
      }
    }
  }

  /** The watch's metric families, for `/metrics`: only what the last tick saw. */
  families(): MetricFamily[] {
    const score: MetricFamily = {
      name: "agent_anomaly_score",
      help:
        "Anomaly score of a watched series (0 ordinary to 1 most unusual), from the last evaluation.",
      type: "gauge",
      samples: [],
    };
    const active: MetricFamily = {
      name: "agent_anomaly_active",
      help:
        "1 while a watched series is anomalous: from a score at or above anomaly.threshold until anomaly.hold passes without another.",
      type: "gauge",
      samples: [],
    };
    const full: MetricFamily = {
      name: "agent_forecast_seconds_to_full",
      help: "Seconds until the resource is full at its recent trend (+Inf when it is not filling).",
      type: "gauge",
      samples: [],
    };
    for (const entry of this.#entries.values()) {
      if (entry.seen !== this.#now) continue;
      if (entry.type === "fill") {
        if (entry.seconds !== undefined) {
          full.samples.push({ name: full.name, labels: entry.labels, value: entry.seconds });
        }
        continue;
      }
      score.samples.push({ name: score.name, labels: entry.labels, value: entry.score });
      active.samples.push({
        name: active.name,
        labels: entry.labels,
        value: this.#now < entry.activeUntil ? 1 : 0,
      });
    }
    return [score, active, full, {
      name: "agent_anomaly_series",
      help: "Series, vectors and resources the anomaly detectors watch.",
      type: "gauge",
      samples: [{ name: "agent_anomaly_series", labels: {}, value: this.#entries.size }],
    }, {
      name: "agent_anomaly_series_dropped",
      help: "Series the last evaluation found but did not watch: anomaly.maxSeries were watched.",
      type: "gauge",
      samples: [{ name: "agent_anomaly_series_dropped", labels: {}, value: this.#dropped }],
    }];
  }

  /** What every watched thing has learned, for the store. */
  *baselines(): Generator<Baseline> {
    for (const [key, entry] of this.#entries) {
      if (entry.type === "fill") {
        const writer = new StateWriter();
        entry.forecast.save(writer);
        yield { key, kind: "forecast", state: writer.bytes() };
      } else {
        yield {
          key,
          kind: entry.type === "series"
            ? `detector:${this.#detector}`
            : `vector:${entry.detector.dimensions}`,
          state: entry.detector.save(),
        };
      }
    }
  }

  /** Writes {@linkcode baselines} to the store. */
  save(nowMs: number): void {
    this.#store?.save(this.baselines(), nowMs);
  }
}

function loadState(entry: Entry, bytes: Uint8Array): void {
  if (entry.type === "fill") {
    const reader = new StateReader(bytes);
    entry.forecast.load(reader);
    if (!reader.done()) throw new RangeError("Forecast state is longer than expected");
  } else entry.detector.load(bytes);
}
