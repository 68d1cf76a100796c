/**
 * A streaming anomaly detector: points `(time, value)` in, one score in [0, 1] out per point,
 * from that point and the ones before it only (a score never changes when later points
 * arrive), in fixed memory per series. A detector is a set of experts over one shared window
 * of the series' last values: each expert's surprise is calibrated against its own past
 * surprises (how rare is this, in this series?), the ensemble averages the rarities of the
 * experts that can judge the point yet, and a score that does not exceed the highest of the
 * last few is damped, so that one anomaly raises one alarm rather than a run of them.
 *
 * @module
 */
import { StateReader, StateWriter } from "./_codec.ts";
import { TailCalibrator } from "./_calibrate.ts";
import { ScoreShaper, type ShapeOptions } from "./_shape.ts";
import { SortedWindow } from "./_window.ts";
import { LevelShiftExpert, SpreadShiftExpert } from "./changepoint.ts";
import type { Expert, History } from "./expert.ts";
import { PatternExpert } from "./pattern.ts";
import { RobustExpert } from "./robust.ts";
import { SeasonalExpert } from "./seasonal.ts";

/** The detectors by name, each a set of experts; `ensemble` has them all. */
export const DETECTORS = {
  ensemble: () => [
    new RobustExpert(),
    new LevelShiftExpert(),
    new SpreadShiftExpert(),
    new SeasonalExpert(),
    new PatternExpert(),
  ],
  robust: () => [new RobustExpert()],
  changepoint: () => [new LevelShiftExpert(), new SpreadShiftExpert()],
  seasonal: () => [new SeasonalExpert()],
  pattern: () => [new PatternExpert()],
} as const satisfies Record<string, () => Expert[]>;

/** A detector's name. */
export type DetectorName = keyof typeof DETECTORS;

/** The detectors' names, `ensemble` first. */
export const DETECTOR_NAMES = Object.keys(DETECTORS) as DetectorName[];

/** Settings shared by every detector; the defaults are the ones measured on NAB. */
export interface DetectorOptions extends ShapeOptions {
  /** Values in the shared window (default 256). */
  window?: number;
  /** Points over which a calibrator forgets (default 8000). */
  horizon?: number;
}

const VERSION = 1;

/** Whether `name` names a detector. */
export function isDetectorName(name: string): name is DetectorName {
  return Object.hasOwn(DETECTORS, name);
}

/**
 * One series' detector.
 *
 * @example Usage
 * ```ts
 * const detector = new Detector("ensemble");
 * for (let i = 0; i < 300; i++) detector.update(i * 60, Math.sin(i / 10));
 * detector.update(300 * 60, 50); // close to 1
 * ```
 */
export class Detector {
  readonly #experts: Expert[];
  readonly #calibrators: TailCalibrator[];
  readonly #window: SortedWindow;
  /** Reused for every point: the experts read it during `update` only. */
  readonly #history: { -readonly [K in keyof History]: History[K] };
  readonly #shaper: ScoreShaper;

  /** Creates the detector `name` with `options`. */
  constructor(readonly name: DetectorName, options: DetectorOptions = {}) {
    this.#experts = DETECTORS[name]();
    const horizon = options.horizon ?? 8000;
    this.#calibrators = this.#experts.map(() => new TailCalibrator(horizon));
    this.#window = new SortedWindow(options.window ?? 256);
    this.#history = { window: this.#window, median: NaN, spread: 1, count: 0 };
    this.#shaper = new ScoreShaper(options);
  }

  /** Points seen. */
  get count(): number {
    return this.#shaper.count;
  }

  /**
   * Scores `value` at `time` (seconds) and learns it. A value that is not a finite number
   * scores 0 and is not learned.
   */
  update(time: number, value: number): number {
    if (!Number.isFinite(value) || !Number.isFinite(time)) return 0;
    const window = this.#window;
    const history = this.#history;
    const median = window.median();
    history.median = median;
    history.spread = window.length === 0 ? 1 : window.spread(1e-9 * (Math.abs(median) + 1));
    history.count = this.#shaper.count;
    let sum = 0;
    let judged = 0;
    for (let i = 0; i < this.#experts.length; i++) {
      const surprise = this.#experts[i]!.surprise(time, value, history);
      if (Number.isNaN(surprise)) continue;
      judged++;
      sum += this.#calibrators[i]!.judge(surprise);
    }
    for (const expert of this.#experts) expert.learn(time, value, history);
    window.push(value);
    return this.#shaper.shape(judged === 0 ? 0 : sum / judged);
  }

  /** What it learned, as bytes (see {@linkcode load}). */
  save(): Uint8Array {
    const writer = new StateWriter().number(VERSION);
    this.#shaper.save(writer);
    this.#window.save(writer);
    for (const c of this.#calibrators) c.save(writer);
    for (const e of this.#experts) e.save(writer);
    return writer.bytes();
  }

  /**
   * Restores what {@linkcode save} wrote, by a detector of the same name and options.
   *
   * @throws {RangeError} when the bytes are not such a state.
   */
  load(bytes: Uint8Array): void {
    const reader = new StateReader(bytes);
    if (reader.number() !== VERSION) throw new RangeError("Detector state of another version");
    this.#shaper.load(reader);
    this.#window.load(reader);
    for (const c of this.#calibrators) c.load(reader);
    for (const e of this.#experts) e.load(reader);
    if (!reader.done()) throw new RangeError("Detector state is longer than expected");
  }
}
