/**
 * The robust point expert: how far a value lies from the median of the series' last values,
 * in robust standard deviations (interquartile range over 1.349). Catches spikes and drops;
 * the median and the IQR are not pulled by the outliers they judge.
 *
 * @module
 */
import type { StateReader, StateWriter } from "./_codec.ts";
import { bounded, type Expert, type History } from "./expert.ts";

/** Points the window must hold before the expert speaks. */
const MIN_POINTS = 16;

/** A robust z-score against the shared window. */
export class RobustExpert implements Expert {
  readonly name = "robust";

  surprise(_time: number, value: number, history: History): number {
    if (history.window.length < MIN_POINTS) return NaN;
    return bounded(Math.abs(value - history.median) / history.spread);
  }

  learn(): void {}

  save(_writer: StateWriter): void {}

  load(_reader: StateReader): void {}
}
