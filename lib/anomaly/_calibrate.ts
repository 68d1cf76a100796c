/**
 * Turns an expert's raw surprise (any non-negative number: a z-score, a distance) into how
 * rare it is in that series: the tail probability of the value among the surprises the series
 * gave before, with an exponential forgetting (a horizon of `horizon` points). The history is
 * a histogram over log2 of the surprise (four bins per octave from 1/16 to 2^16), so memory is
 * fixed whatever the series. A surprise beyond every one seen is given a probability below one
 * in the history's size, falling with the square of how far beyond the largest it lies.
 *
 * The result is `-log10(p)` less that of a median point (`log10 2`): 0 for an ordinary
 * point, about 2.7 for one in a thousand. Experts with different scales become comparable, and
 * so do series with different noise.
 *
 * @module
 */
import type { StateReader, StateWriter } from "./_codec.ts";

const BINS = 80;
const BINS_PER_OCTAVE = 4;
const LOWEST_OCTAVE = -4;
/** A probability below this is not told apart (`-log10` at most 12). */
const FLOOR = 1e-12;

function binOf(surprise: number): number {
  if (!(surprise > 2 ** LOWEST_OCTAVE)) return 0;
  const bin = 1 + Math.floor((Math.log2(surprise) - LOWEST_OCTAVE) * BINS_PER_OCTAVE);
  return bin >= BINS ? BINS - 1 : bin;
}

/** How rare a surprise is among the series' past surprises. */
export class TailCalibrator {
  readonly #decay: number;
  readonly #bins = new Float32Array(BINS);
  /** The weight of the next point; grows instead of decaying every bin. */
  #weight = 1;
  #total = 0;
  /** The largest surprise seen, decaying slowly. */
  #max = 0;

  /** Creates a calibrator forgetting over about `horizon` points. */
  constructor(horizon: number) {
    this.#decay = 1 - 1 / horizon;
  }

  /** How rare `surprise` is (see the module's comment; 0 while it has seen nothing). */
  rarity(surprise: number): number {
    return this.#rarity(surprise, binOf(surprise));
  }

  /** {@linkcode rarity} of `surprise`, then {@linkcode learn} it: its bin found once. */
  judge(surprise: number): number {
    const bin = binOf(surprise);
    const rarity = this.#rarity(surprise, bin);
    this.#learn(surprise, bin);
    return rarity;
  }

  #rarity(surprise: number, bin: number): number {
    if (this.#total === 0) return 0;
    // The mass above the bin, as the total less the mass below: ordinary surprises fall in
    // the low bins, so this loop is short for them.
    let below = this.#bins[bin]! * 0.5;
    for (let i = 0; i < bin; i++) below += this.#bins[i]!;
    const mass = this.#total - below;
    let p: number;
    if (mass > this.#total * 1e-9) p = mass / this.#total;
    else {
      const beyond = surprise > this.#max ? this.#max / surprise : 1;
      p = (0.5 * this.#weight / this.#total) * beyond * beyond;
    }
    return Math.max(0, -Math.log10(p > FLOOR ? p : FLOOR) - Math.LOG10E * Math.LN2);
  }

  /** Adds `surprise` to the history. */
  learn(surprise: number): void {
    this.#learn(surprise, binOf(surprise));
  }

  #learn(surprise: number, bin: number): void {
    this.#weight /= this.#decay;
    const before = this.#bins[bin]!;
    this.#bins[bin] = before + this.#weight;
    // What the float32 bin actually gained, so that the total stays their sum.
    this.#total += this.#bins[bin]! - before;
    this.#max = Math.max(this.#max * (1 - (1 - this.#decay) * 0.1), surprise);
    if (this.#weight > 1e30) {
      let total = 0;
      for (let i = 0; i < BINS; i++) total += this.#bins[i] = this.#bins[i]! / this.#weight;
      this.#total = total;
      this.#weight = 1;
    }
  }

  /** Writes the history to `writer`. */
  save(writer: StateWriter): void {
    writer.number(this.#weight).number(this.#total).number(this.#max).array(this.#bins);
  }

  /** Reads what {@linkcode save} wrote. */
  load(reader: StateReader): void {
    this.#weight = reader.number();
    this.#total = reader.number();
    this.#max = reader.number();
    reader.array(this.#bins);
  }
}
