/**
 * An isolation forest over vectors of several metrics of one thing (a GPU's temperature,
 * power and utilization; a process's CPU, resident memory and threads), online: the forest is
 * grown from a sample of the last `sample` vectors and grown again every `sample` vectors, so
 * it follows the thing as it changes. A vector that the random splits isolate in few steps is
 * unlike the sample, whichever metrics make it so, even when each value alone is ordinary.
 * Memory is fixed: the sample (float32) and `trees` complete trees of depth log2(sample)
 * (about 14 KB for 16 trees over a sample of 64 vectors of 3 metrics).
 *
 * @module
 */
import type { StateReader, StateWriter } from "./_codec.ts";
import { Random } from "./_random.ts";

/** The average path length of an unsuccessful search in a binary search tree of `n` keys. */
function c(n: number): number {
  if (n <= 1) return 0;
  if (n === 2) return 1;
  return 2 * (Math.log(n - 1) + 0.5772156649) - 2 * (n - 1) / n;
}

/** Options of {@linkcode IsolationForest}. */
export interface IsolationForestOptions {
  /** Vectors in the sample, a power of two (default 64). */
  sample?: number;
  /** Trees (default 16). */
  trees?: number;
  /** Seed of the random splits (default 1). */
  seed?: number;
}

/** An online isolation forest over `dimensions`-dimensional vectors. */
export class IsolationForest {
  readonly #dims: number;
  readonly #size: number;
  readonly #trees: number;
  readonly #depth: number;
  /** The sample, one vector after another; a ring of the last `size` vectors. */
  readonly #sample: Float32Array;
  /**
   * Per tree, the complete tree's inner nodes in heap order: split dimension, split value and
   * the range of the node's vectors in that dimension; or -1 and the number of vectors for a
   * node whose vectors were all equal (an external node).
   */
  readonly #splitDim: Int8Array;
  readonly #splitValue: Float32Array;
  readonly #low: Float32Array;
  readonly #high: Float32Array;
  /** Per tree, the sample vectors that reached each leaf (for the depth adjustment). */
  readonly #leafSize: Uint8Array;
  readonly #random: Random;
  #count = 0;
  #grown = false;
  readonly #index: Int32Array;

  /** Creates an empty forest for vectors of `dimensions` numbers. */
  constructor(readonly dimensions: number, options: IsolationForestOptions = {}) {
    const size = options.sample ?? 64;
    if (size < 4 || size > 128 || (size & (size - 1)) !== 0) {
      throw new RangeError("sample must be a power of two from 4 to 128");
    }
    if (!(dimensions >= 1 && dimensions <= 127)) throw new RangeError("1 to 127 dimensions");
    this.#dims = dimensions;
    this.#size = size;
    this.#trees = options.trees ?? 16;
    this.#depth = Math.log2(size);
    const inner = size - 1;
    this.#sample = new Float32Array(size * dimensions);
    this.#splitDim = new Int8Array(this.#trees * inner);
    this.#splitValue = new Float32Array(this.#trees * inner);
    this.#low = new Float32Array(this.#trees * inner);
    this.#high = new Float32Array(this.#trees * inner);
    this.#leafSize = new Uint8Array(this.#trees * size);
    this.#random = new Random(options.seed ?? 1);
    this.#index = new Int32Array(size);
  }

  /** Whether the forest has been grown (it has seen `sample` vectors). */
  get ready(): boolean {
    return this.#grown;
  }

  /**
   * The isolation score of `vector`, in (0, 1): about 0.5 for an ordinary vector, near 1 for
   * one isolated at once; 0 before the forest is grown.
   */
  score(vector: ArrayLike<number>): number {
    if (!this.#grown) return 0;
    const inner = this.#size - 1;
    let total = 0;
    for (let tree = 0; tree < this.#trees; tree++) {
      let node = 0;
      let depth = 0;
      let path = 0;
      for (;;) {
        if (depth === this.#depth) {
          path = depth + c(this.#leafSize[tree * this.#size + node - inner]!);
          break;
        }
        const at = tree * inner + node;
        const dim = this.#splitDim[at]!;
        if (dim < 0) {
          // A node whose vectors were all equal: an external node of that many.
          path = depth + c(this.#splitValue[at]!);
          break;
        }
        const x = vector[dim]!;
        // Beyond the node's vectors in that dimension: a split at the edge of their range
        // isolates it here, and the farther it lies the shorter the path (one level less per
        // doubling of the distance, in units of the range: what halving splits from it
        // would have taken). Without this, a value far outside the sample would only follow
        // the sample's extreme vectors down the tree and look like them.
        const low = this.#low[at]!;
        const high = this.#high[at]!;
        if (x < low || x > high) {
          const beyond = (x < low ? low - x : x - high) / (high - low);
          path = Math.max(0, depth + 1 - Math.log2(1 + beyond));
          break;
        }
        node = 2 * node + (x < this.#splitValue[at]! ? 1 : 2);
        depth++;
      }
      total += path;
    }
    return 2 ** (-(total / this.#trees) / c(this.#size));
  }

  /** Adds `vector` to the sample; grows the forest again every `sample` vectors. */
  learn(vector: ArrayLike<number>): void {
    const slot = this.#count % this.#size;
    for (let d = 0; d < this.#dims; d++) this.#sample[slot * this.#dims + d] = vector[d]!;
    this.#count++;
    if (this.#count % this.#size === 0) this.#grow();
  }

  #grow(): void {
    for (let tree = 0; tree < this.#trees; tree++) {
      for (let i = 0; i < this.#size; i++) this.#index[i] = i;
      this.#split(tree, 0, 0, 0, this.#size);
    }
    this.#grown = true;
  }

  /** Splits the sample vectors `index[from..to)` at `node` of `tree`, recursively. */
  #split(tree: number, node: number, depth: number, from: number, to: number): void {
    const inner = this.#size - 1;
    if (depth === this.#depth) {
      this.#leafSize[tree * this.#size + node - inner] = to - from;
      return;
    }
    const at = tree * inner + node;
    const dims = this.#dims;
    const sample = this.#sample;
    const index = this.#index;
    // A random dimension that varies among these vectors, tried a few times.
    let dim = -1;
    let lo = 0;
    let hi = 0;
    for (let attempt = 0; attempt < dims * 2 && dim < 0 && to - from > 1; attempt++) {
      const d = Math.floor(this.#random.next() * dims);
      lo = Infinity;
      hi = -Infinity;
      for (let i = from; i < to; i++) {
        const x = sample[index[i]! * dims + d]!;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
      if (hi > lo) dim = d;
    }
    this.#splitDim[at] = dim;
    if (dim < 0) {
      this.#splitValue[at] = to - from;
      return;
    }
    const value = lo + this.#random.next() * (hi - lo);
    this.#splitValue[at] = value;
    this.#low[at] = lo;
    this.#high[at] = hi;
    let mid = from;
    for (let i = from; i < to; i++) {
      if (sample[index[i]! * dims + dim]! < value) {
        const swap = index[mid]!;
        index[mid++] = index[i]!;
        index[i] = swap;
      }
    }
    this.#split(tree, 2 * node + 1, depth + 1, from, mid);
    this.#split(tree, 2 * node + 2, depth + 1, mid, to);
  }

  /** Writes the sample and the trees to `writer`. */
  save(writer: StateWriter): void {
    writer.number(this.#count).number(this.#grown ? 1 : 0).number(this.#random.state)
      .array(this.#sample).array(this.#splitDim).array(this.#splitValue).array(this.#low)
      .array(this.#high).array(this.#leafSize);
  }

  /** Reads what {@linkcode save} wrote. */
  load(reader: StateReader): void {
    this.#count = reader.number();
    this.#grown = reader.number() === 1;
    this.#random.state = reader.number() >>> 0;
    reader.array(this.#sample);
    reader.array(this.#splitDim);
    reader.array(this.#splitValue);
    reader.array(this.#low);
    reader.array(this.#high);
    reader.array(this.#leafSize);
  }
}
