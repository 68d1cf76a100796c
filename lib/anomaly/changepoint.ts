/**
 * Change-point experts: a short window of the newest values against the long shared window.
 * The level expert compares medians (a shift that single points would not make remarkable:
 * the short median moves by a whole shift, the noise of one point does not); the spread
 * expert compares the spreads (a series turning noisy, or flat). Both use order statistics,
 * so an isolated spike moves neither.
 *
 * @module
 */
import type { StateReader, StateWriter } from "./_codec.ts";
import { SortedWindow } from "./_window.ts";
import { bounded, type Expert, type History } from "./expert.ts";

const MIN_POINTS = 32;

/** The short median against the long one, in standard errors of a mean of `size` points. */
export class LevelShiftExpert implements Expert {
  readonly name = "level";
  readonly #short: SortedWindow;
  readonly #root: number;

  /** Compares the newest `size` values (the point scored included) with the long window. */
  constructor(size = 6) {
    this.#short = new SortedWindow(size);
    this.#root = Math.sqrt(size);
  }

  surprise(_time: number, value: number, history: History): number {
    this.#short.push(value);
    if (history.window.length < MIN_POINTS || this.#short.length < this.#short.size) return NaN;
    return bounded(
      Math.abs(this.#short.median() - history.median) / history.spread * this.#root,
    );
  }

  learn(): void {}

  save(writer: StateWriter): void {
    this.#short.save(writer);
  }

  load(reader: StateReader): void {
    this.#short.load(reader);
  }
}

/** The short window's spread (10th to 90th percentile) against the long one's, either way. */
export class SpreadShiftExpert implements Expert {
  readonly name = "spread";
  readonly #short: SortedWindow;

  /** Compares the newest `size` values (the point scored included) with the long window. */
  constructor(size = 24) {
    this.#short = new SortedWindow(size);
  }

  surprise(_time: number, value: number, history: History): number {
    this.#short.push(value);
    if (history.window.length < MIN_POINTS || this.#short.length < this.#short.size) return NaN;
    // 2.563: the 10th-90th percentile range of a standard normal. The floor keeps a flat
    // stretch in a flat series at a ratio of 1.
    const floor = 1e-9 * (Math.abs(history.median) + 1);
    const short = (this.#short.quantile(0.9) - this.#short.quantile(0.1)) / 2.563;
    const ratio = Math.max(short, floor) / history.spread;
    return bounded(Math.max(ratio, 1 / ratio));
  }

  learn(): void {}

  save(writer: StateWriter): void {
    this.#short.save(writer);
  }

  load(reader: StateReader): void {
    this.#short.load(reader);
  }
}
