/**
 * The last `size` values of a series, kept twice: in arrival order (a ring, to know which
 * value leaves) and sorted (for medians and quantiles in constant time). Adding a value costs
 * two binary searches and one move of at most `size` numbers.
 *
 * @module
 */
import type { StateReader, StateWriter } from "./_codec.ts";

/** A sliding window with order statistics. */
export class SortedWindow {
  readonly #ring: Float64Array;
  readonly #sorted: Float64Array;
  /** How many values it holds (at most `size`). */
  length = 0;
  /** Where the next value goes in the ring. */
  #head = 0;

  /** Creates an empty window of `size` values. */
  constructor(readonly size: number) {
    // One buffer for both: a detector holds several windows, and every buffer costs memory
    // of its own besides its numbers.
    const buffer = new Float64Array(2 * size);
    this.#ring = buffer.subarray(0, size);
    this.#sorted = buffer.subarray(size);
  }

  #find(value: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#sorted[mid]! < value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Adds `value`, dropping the oldest when full. */
  push(value: number): void {
    const sorted = this.#sorted;
    if (this.length === this.size) {
      // One move instead of two: the values between the old one's place and the new one's
      // shift by one toward the old one's.
      const old = this.#find(this.#ring[this.#head]!);
      let at = this.#find(value);
      // Moved by hand: the moves are short, shorter than a call to copyWithin costs.
      if (at > old) {
        at--;
        for (let i = old; i < at; i++) sorted[i] = sorted[i + 1]!;
      } else if (at < old) { for (let i = old; i > at; i--) sorted[i] = sorted[i - 1]!; }
      sorted[at] = value;
    } else {
      const at = this.#find(value);
      for (let i = this.length; i > at; i--) sorted[i] = sorted[i - 1]!;
      sorted[at] = value;
      this.length++;
    }
    this.#ring[this.#head] = value;
    this.#head = this.#head + 1 === this.size ? 0 : this.#head + 1;
  }

  /** The `q` quantile (0..1), interpolated; NaN when empty. */
  quantile(q: number): number {
    if (this.length === 0) return NaN;
    const position = q * (this.length - 1);
    const i = Math.floor(position);
    const f = position - i;
    const low = this.#sorted[i]!;
    return f === 0 || i + 1 >= this.length ? low : low + (this.#sorted[i + 1]! - low) * f;
  }

  /** The median. */
  median(): number {
    return this.quantile(0.5);
  }

  /**
   * A robust standard deviation: the interquartile range over 1.349 (the normal's), never
   * below `floor`.
   */
  spread(floor: number): number {
    return Math.max((this.quantile(0.75) - this.quantile(0.25)) / 1.349, floor);
  }

  /** Writes the window to `writer`. */
  save(writer: StateWriter): void {
    writer.number(this.length).number(this.#head).array(this.#ring).array(this.#sorted);
  }

  /** Reads what {@linkcode save} wrote. */
  load(reader: StateReader): void {
    this.length = reader.number();
    this.#head = reader.number();
    reader.array(this.#ring);
    reader.array(this.#sorted);
    if (
      !(this.length >= 0 && this.length <= this.size && this.#head >= 0 && this.#head < this.size)
    ) {
      throw new RangeError("Detector state holds a bad window");
    }
  }
}
