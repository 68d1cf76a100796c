/**
 * From rarity to score: a calibrated rarity (`-log10` of a tail probability) becomes a score
 * in [0, 1] (`fullScale` scores 1); the first `warmup` points score 0 while the detector
 * learns the series; and a score that does not exceed the highest of the last `damping`
 * scores is damped, so that one anomaly raises one alarm rather than a run of them.
 *
 * @module
 */
import type { StateReader, StateWriter } from "./_codec.ts";

/** Settings of {@linkcode ScoreShaper}. */
export interface ShapeOptions {
  /** Points scored 0 while the detector learns the series (default 100). */
  warmup?: number;
  /** Rarity (`-log10` of a tail probability) that scores 1 (default 5). */
  fullScale?: number;
  /** Points over which a score must set a new high not to be damped (default 20). */
  damping?: number;
  /** Factor of a damped score (default 0.5). */
  dampFactor?: number;
}

/** Turns rarities into scores. */
export class ScoreShaper {
  readonly #recent: Float64Array;
  readonly #warmup: number;
  readonly #fullScale: number;
  readonly #dampFactor: number;
  #count = 0;

  /** Creates a shaper with `options`. */
  constructor(options: ShapeOptions = {}) {
    this.#recent = new Float64Array(options.damping ?? 20);
    this.#warmup = options.warmup ?? 100;
    this.#fullScale = options.fullScale ?? 5;
    this.#dampFactor = options.dampFactor ?? 0.5;
  }

  /** Points shaped so far. */
  get count(): number {
    return this.#count;
  }

  /** The score of the next point, whose rarity is `rarity`. */
  shape(rarity: number): number {
    const n = this.#count++;
    let score = n < this.#warmup ? 0 : Math.min(1, Math.max(0, rarity / this.#fullScale));
    const recent = this.#recent;
    let high = 0;
    for (let i = 0; i < recent.length; i++) if (recent[i]! > high) high = recent[i]!;
    if (recent.length > 0) recent[n % recent.length] = score;
    if (score <= high) score *= this.#dampFactor;
    return score;
  }

  /** Writes the recent scores to `writer`. */
  save(writer: StateWriter): void {
    writer.number(this.#count).array(this.#recent);
  }

  /** Reads what {@linkcode save} wrote. */
  load(reader: StateReader): void {
    this.#count = reader.number();
    reader.array(this.#recent);
  }
}
