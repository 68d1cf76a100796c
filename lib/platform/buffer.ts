/**
 * A bounded first-in-first-out buffer: a push into a full buffer is refused (the caller
 * counts the drop), never waits and never grows the buffer.
 *
 * @module
 */

/**
 * The buffer.
 *
 * @example Usage
 * ```ts
 * const buffer = new BoundedBuffer<number>(2);
 * buffer.push(1); buffer.push(2);
 * buffer.push(3); // false: full
 * buffer.take(10); // [1, 2]
 * ```
 */
export class BoundedBuffer<T> {
  #items: (T | undefined)[];
  #head = 0;
  #size = 0;
  #waiters: (() => void)[] = [];

  /** Creates an empty buffer of `capacity` items. */
  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError("capacity must be at least 1");
    this.#items = new Array(capacity);
  }

  /** How many items it holds. */
  get size(): number {
    return this.#size;
  }

  /** Appends `item`; `false` when the buffer is full and the item was not kept. */
  push(item: T): boolean {
    if (this.#size === this.capacity) return false;
    this.#items[(this.#head + this.#size) % this.capacity] = item;
    this.#size++;
    for (const wake of this.#waiters.splice(0)) wake();
    return true;
  }

  /** Puts `items` back at the front (a batch that could not be sent), as many as fit. */
  unshift(items: T[]): number {
    const room = Math.min(items.length, this.capacity - this.#size);
    for (let i = room - 1; i >= 0; i--) {
      this.#head = (this.#head - 1 + this.capacity) % this.capacity;
      this.#items[this.#head] = items[i];
      this.#size++;
    }
    return room;
  }

  /** Removes and returns up to `max` items from the front. */
  take(max: number): T[] {
    const n = Math.min(max, this.#size);
    const out: T[] = new Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = this.#items[this.#head] as T;
      this.#items[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.capacity;
    }
    this.#size -= n;
    return out;
  }

  /** Empties it; returns how many items were dropped. */
  clear(): number {
    const n = this.#size;
    this.take(n);
    return n;
  }

  /** Resolves once it holds an item, or `signal` aborts. */
  waitForItems(signal: AbortSignal): Promise<void> {
    if (this.#size > 0 || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.#waiters.push(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }
}
