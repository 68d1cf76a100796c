/**
 * What an expert is: one way of telling how surprising a point is, given the series' past.
 * Experts return a raw surprise on their own scale (a robust z-score, a distance); the
 * ensemble calibrates each against the surprises it gave before (see `_calibrate.ts`) and
 * combines them. Every expert keeps a fixed amount of memory and sees a point only after it
 * scored it, so a score never depends on later points.
 *
 * @module
 */
import type { StateReader, StateWriter } from "./_codec.ts";
import type { SortedWindow } from "./_window.ts";

/** What every expert sees of the past: the series' last values, shared by the experts. */
export interface History {
  /** The last values (never the point being scored). */
  readonly window: SortedWindow;
  /** The window's median (NaN while empty). */
  readonly median: number;
  /** The window's robust standard deviation (IQR / 1.349), above a small floor. */
  readonly spread: number;
  /** Points seen so far. */
  readonly count: number;
}

/** One way of scoring points. */
export interface Expert {
  /** Its name in `--detector` and in state. */
  readonly name: string;
  /**
   * The raw surprise (finite, at least 0) of `value` at `time` (seconds), from the past only;
   * NaN while the expert has too little past to judge (the score is then the other experts', and
   * its calibrator does not count the point).
   */
  surprise(time: number, value: number, history: History): number;
  /** Learns the point, after every expert has scored it (the history does not hold it yet). */
  learn(time: number, value: number, history: History): void;
  /** Writes what it learned. */
  save(writer: StateWriter): void;
  /** Reads what {@linkcode save} wrote. */
  load(reader: StateReader): void;
}

/** The largest raw surprise an expert reports: beyond it, points are equally surprising. */
export const MAX_SURPRISE = 65536;

/** `x` bounded to [0, {@linkcode MAX_SURPRISE}], NaN as 0. */
export function bounded(x: number): number {
  return x > 0 ? (x < MAX_SURPRISE ? x : MAX_SURPRISE) : 0;
}
