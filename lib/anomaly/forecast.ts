/**
 * When a filling resource is full: a linear trend fitted by exponentially weighted least
 * squares over time (points `horizon` seconds old weigh 1/e), extrapolated to a limit, as
 * Prometheus' `predict_linear` does over a window, but online: five running sums, whatever the
 * series' length. Used for filesystems (bytes and inodes) and memory.
 *
 * @module
 */
import type { StateReader, StateWriter } from "./_codec.ts";

/** An online linear trend of one series. */
export class LinearForecast {
  // Sums of weights, t, v, t², t·v with t relative to the newest point's time.
  #w = 0;
  #t = 0;
  #v = 0;
  #tt = 0;
  #tv = 0;
  #last = NaN;
  #first = NaN;
  #count = 0;

  /**
   * Weighs points by their age over `horizon` seconds; forecasts once the points span
   * `minSpan` seconds (default a quarter of the horizon) and number at least 5.
   */
  constructor(readonly horizon = 6 * 3600, readonly minSpan = horizon / 4) {}

  /** Adds a point (a value that is not finite is skipped; so is a time before the newest). */
  add(time: number, value: number): void {
    if (!Number.isFinite(value) || !Number.isFinite(time)) return;
    if (Number.isNaN(this.#last)) {
      this.#last = time;
      this.#first = time;
    }
    const shift = time - this.#last;
    if (shift < 0) return;
    if (shift > 0) {
      const decay = Math.exp(-shift / this.horizon);
      // Move the origin to `time` (t becomes t - shift), then decay every weight.
      const w = this.#w, t = this.#t, v = this.#v;
      this.#tt = (this.#tt - 2 * shift * t + shift * shift * w) * decay;
      this.#tv = (this.#tv - shift * v) * decay;
      this.#t = (t - shift * w) * decay;
      this.#v = v * decay;
      this.#w = w * decay;
      this.#last = time;
    }
    this.#w += 1;
    this.#v += value;
    this.#count++;
  }

  /** The fitted trend now: `{level, slope}` (per second), or undefined before enough points. */
  trend(): { level: number; slope: number } | undefined {
    if (this.#count < 5 || this.#last - this.#first < this.minSpan) return undefined;
    const det = this.#w * this.#tt - this.#t * this.#t;
    if (!(det > 0)) return undefined;
    const slope = (this.#w * this.#tv - this.#t * this.#v) / det;
    return { level: (this.#v - slope * this.#t) / this.#w, slope };
  }

  /**
   * Seconds until the trend reaches `limit` from below: 0 when it is there already, Infinity
   * when it is not rising, undefined before enough points.
   *
   * @example Usage
   * ```ts
   * const f = new LinearForecast(3600);
   * for (let t = 0; t <= 3600; t += 60) f.add(t, 50 + t / 100); // 1 per 100 s
   * f.secondsToReach(100); // about 1400
   * ```
   */
  secondsToReach(limit: number): number | undefined {
    const trend = this.trend();
    if (!trend) return undefined;
    if (trend.level >= limit) return 0;
    return trend.slope > 0 ? (limit - trend.level) / trend.slope : Infinity;
  }

  /** Writes the sums to `writer`. */
  save(writer: StateWriter): void {
    for (
      const x of [
        this.#w,
        this.#t,
        this.#v,
        this.#tt,
        this.#tv,
        this.#last,
        this.#first,
        this.#count,
      ]
    ) {
      writer.number(x);
    }
  }

  /** Reads what {@linkcode save} wrote. */
  load(reader: StateReader): void {
    this.#w = reader.number();
    this.#t = reader.number();
    this.#v = reader.number();
    this.#tt = reader.number();
    this.#tv = reader.number();
    this.#last = reader.number();
    this.#first = reader.number();
    this.#count = reader.number();
  }
}
