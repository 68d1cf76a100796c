/**
 * A detector's state as bytes, for the state database: numbers and typed arrays written in
 * order, read back in the same order. Little-endian, 8-byte aligned arrays; a reader that runs
 * past the end or meets an array of another length throws, so a state written by another
 * version of a detector is refused rather than misread.
 *
 * @module
 */

/** The typed arrays a state holds. */
export type NumberArray = Float64Array | Float32Array | Int8Array | Uint8Array;

/** Appends numbers and arrays to a growing buffer. */
export class StateWriter {
  #bytes = new Uint8Array(256);
  #view = new DataView(this.#bytes.buffer);
  #length = 0;

  #reserve(n: number): void {
    if (this.#length + n <= this.#bytes.length) return;
    const bigger = new Uint8Array(Math.max(this.#bytes.length * 2, this.#length + n));
    bigger.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = bigger;
    this.#view = new DataView(bigger.buffer);
  }

  /** Writes one number (float64). */
  number(value: number): this {
    this.#reserve(8);
    this.#view.setFloat64(this.#length, value, true);
    this.#length += 8;
    return this;
  }

  /** Writes an array with its length. */
  array(values: NumberArray): this {
    this.number(values.length);
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    this.#reserve(bytes.length + 8);
    this.#bytes.set(bytes, this.#length);
    this.#length += Math.ceil(bytes.length / 8) * 8;
    return this;
  }

  /** The bytes written so far. */
  bytes(): Uint8Array {
    return this.#bytes.slice(0, this.#length);
  }
}

/** Reads what a {@linkcode StateWriter} wrote, in the same order. */
export class StateReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset = 0;

  /** Reads `bytes`. */
  constructor(bytes: Uint8Array) {
    // A copy: arrays are read as views of an 8-byte-aligned buffer.
    this.#bytes = bytes.slice();
    this.#view = new DataView(this.#bytes.buffer);
  }

  /**
   * Reads one number.
   *
   * @throws {RangeError} past the end.
   */
  number(): number {
    if (this.#offset + 8 > this.#bytes.length) throw new RangeError("Detector state is truncated");
    const value = this.#view.getFloat64(this.#offset, true);
    this.#offset += 8;
    return value;
  }

  /**
   * Reads an array into `into`, which must have the length that was written.
   *
   * @throws {RangeError} past the end, or when the lengths differ.
   */
  array<T extends NumberArray>(into: T): T {
    const length = this.number();
    if (length !== into.length) {
      throw new RangeError(`Detector state holds ${length} values where ${into.length} belong`);
    }
    const size = length * into.BYTES_PER_ELEMENT;
    if (this.#offset + size > this.#bytes.length) {
      throw new RangeError("Detector state is truncated");
    }
    new Uint8Array(into.buffer, into.byteOffset, size).set(
      this.#bytes.subarray(this.#offset, this.#offset + size),
    );
    this.#offset += Math.ceil(size / 8) * 8;
    return into;
  }

  /** Whether every byte was read. */
  done(): boolean {
    return this.#offset === this.#bytes.length;
  }
}
