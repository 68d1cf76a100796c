/**
 * The pattern expert: how unlike anything in the series' longer past its newest stretch is.
 * The newest `length` values (the point scored included) are compared with earlier stretches
 * of its own memory of the last `memory` values (float32, relative to the first value seen,
 * so precision follows the series' changes rather than its magnitude); the surprise is the
 * mean distance to the `k` nearest, in robust standard deviations per point. A shape never
 * seen before (a daily bump that did not come, a plateau where the series used to oscillate)
 * is far from all of them even when every single value is ordinary, and a shape that recurs
 * (a nightly job's spike) is near one of its earlier occurrences.
 *
 * Cost: one distance per `stride`-th earlier stretch (neighbours in time are nearly the same
 * stretch), each cut short once it exceeds the k-th nearest so far.
 *
 * @module
 */
import type { StateReader, StateWriter } from "./_codec.ts";
import { bounded, type Expert, type History } from "./expert.ts";

/** Nearest-neighbour distance of the newest stretch to the past ones. */
export class PatternExpert implements Expert {
  readonly name = "pattern";
  readonly #ring: Float32Array;
  readonly #mask: number;
  readonly #current: Float64Array;
  readonly #nearest: Float64Array;
  #count = 0;
  #reference = NaN;

  /**
   * Stretches of `length` points among the last `memory` values (a power of two), the `k`
   * nearest, every `stride`-th earlier stretch.
   */
  constructor(
    readonly length = 8,
    readonly k = 2,
    readonly stride = 4,
    readonly memory = 512,
  ) {
    if ((memory & (memory - 1)) !== 0) throw new RangeError("memory must be a power of two");
    this.#ring = new Float32Array(memory);
    this.#mask = memory - 1;
    this.#current = new Float64Array(length);
    this.#nearest = new Float64Array(k);
  }

  surprise(_time: number, value: number, history: History): number {
    const length = this.length;
    const k = this.k;
    const last = length - 1;
    const held = Math.min(this.#count, this.memory);
    // Earlier stretches that share no point with the current one.
    const candidates = held - 2 * length + 2;
    if (candidates < (k + 8) * this.stride) return NaN;
    const ring = this.#ring;
    const mask = this.#mask;
    const newest = this.#count - 1;
    const current = this.#current;
    const reference = this.#reference;
    for (let i = 0; i < last; i++) current[i] = ring[(newest - last + 1 + i) & mask]!;
    current[last] = value - reference;
    // Squared distances in the series' units; scaled once at the end.
    const nearest = this.#nearest.fill(Infinity);
    let worst = Infinity;
    for (let back = last; back < last + candidates; back += this.stride) {
      const start = newest - back - last;
      let d = 0;
      // Newest first: that is where a stretch most often differs, so the sum passes the
      // k-th nearest soonest.
      for (let i = last; i >= 0 && d < worst; i--) {
        const x = current[i]! - ring[(start + i) & mask]!;
        d += x * x;
      }
      if (d < worst) {
        let p = k - 1;
        while (p > 0 && nearest[p - 1]! > d) {
          nearest[p] = nearest[p - 1]!;
          p--;
        }
        nearest[p] = d;
        worst = nearest[k - 1]!;
      }
    }
    let sum = 0;
    for (let i = 0; i < k; i++) sum += Math.sqrt(nearest[i]!);
    return bounded(sum / k / Math.sqrt(length) / history.spread);
  }

  learn(_time: number, value: number): void {
    if (Number.isNaN(this.#reference)) this.#reference = value;
    this.#ring[this.#count & this.#mask] = value - this.#reference;
    this.#count++;
  }

  save(writer: StateWriter): void {
    writer.number(this.#count).number(this.#reference).array(this.#ring);
  }

  load(reader: StateReader): void {
    this.#count = reader.number();
    this.#reference = reader.number();
    reader.array(this.#ring);
  }
}
