/**
 * A detector over several metrics of one thing at once (a GPU, a process): the isolation
 * forest's score of each vector, calibrated against the scores the thing's vectors had before
 * and shaped as the single-series detectors' scores are, so its scores read the same way.
 *
 * @module
 */
import { StateReader, StateWriter } from "./_codec.ts";
import { TailCalibrator } from "./_calibrate.ts";
import { ScoreShaper, type ShapeOptions } from "./_shape.ts";
import { IsolationForest, type IsolationForestOptions } from "./iforest.ts";

const VERSION = 1;

/** Options of {@linkcode VectorDetector}. */
export interface VectorDetectorOptions extends ShapeOptions, IsolationForestOptions {
  /** Points over which the calibrator forgets (default 8000). */
  horizon?: number;
}

/**
 * Scores vectors of `dimensions` metrics, 0 to 1, each from that vector and the ones before.
 *
 * @example Usage
 * ```ts
 * const gpu = new VectorDetector(3);
 * for (let i = 0; i < 500; i++) gpu.update(i * 15, [60 + (i % 5), 200 + (i % 7), 90]);
 * gpu.update(500 * 15, [60, 200, 5]); // utilization fell while power stayed up: high
 * ```
 */
export class VectorDetector {
  readonly #forest: IsolationForest;
  readonly #calibrator: TailCalibrator;
  readonly #shaper: ScoreShaper;

  /** Creates a detector for vectors of `dimensions` numbers. */
  constructor(readonly dimensions: number, options: VectorDetectorOptions = {}) {
    this.#forest = new IsolationForest(dimensions, options);
    this.#calibrator = new TailCalibrator(options.horizon ?? 8000);
    this.#shaper = new ScoreShaper(options);
  }

  /**
   * Scores `vector` at `time` (seconds) and learns it. A vector of another length or with a
   * value that is not a finite number scores 0 and is not learned.
   */
  update(_time: number, vector: ArrayLike<number>): number {
    if (vector.length !== this.dimensions) return 0;
    for (let i = 0; i < vector.length; i++) if (!Number.isFinite(vector[i]!)) return 0;
    const isolation = this.#forest.score(vector);
    // 1 / (1 - s): 2 for an ordinary vector (s = 0.5), 10 at s = 0.9; spreads the range where
    // scores differ over the calibrator's logarithmic bins.
    const surprise = this.#forest.ready ? 1 / Math.max(1 - isolation, 1e-6) : 0;
    const rarity = this.#calibrator.judge(surprise);
    this.#forest.learn(vector);
    return this.#shaper.shape(rarity);
  }

  /** What it learned, as bytes. */
  save(): Uint8Array {
    const writer = new StateWriter().number(VERSION).number(this.dimensions);
    this.#forest.save(writer);
    this.#calibrator.save(writer);
    this.#shaper.save(writer);
    return writer.bytes();
  }

  /**
   * Restores what {@linkcode save} wrote, by a detector of the same dimensions and options.
   *
   * @throws {RangeError} when the bytes are not such a state.
   */
  load(bytes: Uint8Array): void {
    const reader = new StateReader(bytes);
    if (reader.number() !== VERSION || reader.number() !== this.dimensions) {
      throw new RangeError("Detector state of another kind");
    }
    this.#forest.load(reader);
    this.#calibrator.load(reader);
    this.#shaper.load(reader);
    if (!reader.done()) throw new RangeError("Detector state is longer than expected");
  }
}
