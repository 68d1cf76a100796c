/**
 * A small seeded generator (mulberry32): the isolation forest's splits are random, and a
 * detector must score the same series the same way every time and after a restart.
 *
 * @module
 */

/** Random numbers in [0, 1) from a 32-bit state. */
export class Random {
  /** The state; save it to resume the sequence. */
  state: number;

  /** Starts from `seed`. */
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** The next number in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
