/**
 * A token bucket: `rate` tokens a second, at most `burst` saved up. Waiting callers are
 * served in order; time is a parameter so that tests need no clock.
 *
 * @module
 */
import { sleep } from "../pool.ts";

/**
 * The bucket.
 *
 * @example Usage
 * ```ts
 * const bucket = new TokenBucket(10, 20);
 * const granted = await bucket.take(5, AbortSignal.timeout(1000)); // 5: the bucket starts full
 * ```
 */
export class TokenBucket {
  #tokens: number;
  #last: number;
  #queue: Promise<unknown> = Promise.resolve();

  /** Creates a full bucket. */
  constructor(
    readonly rate: number,
    readonly burst: number,
    private readonly now: () => number = () => performance.now(),
    private readonly wait: (ms: number, signal: AbortSignal) => Promise<void> = sleep,
  ) {
    if (!(rate > 0) || !(burst >= 1)) throw new RangeError("rate must be > 0 and burst >= 1");
    this.#tokens = burst;
    this.#last = now();
  }

  /** Tokens available now (fractional). */
  get available(): number {
    this.#refill();
    return this.#tokens;
  }

  /**
   * Waits until at least one token is there, then takes as many as are there, up to `max`;
   * returns how many it took (0 only when `signal` aborted first).
   */
  take(max: number, signal: AbortSignal): Promise<number> {
    const turn = this.#queue.then(async () => {
      for (;;) {
        if (signal.aborted) return 0;
        this.#refill();
        if (this.#tokens >= 1) {
          const granted = Math.min(Math.floor(this.#tokens), Math.max(1, Math.floor(max)));
          this.#tokens -= granted;
          return granted;
        }
        await this.wait(Math.ceil(((1 - this.#tokens) / this.rate) * 1000), signal);
      }
    });
    this.#queue = turn.catch(() => {});
    return turn;
  }

  #refill(): void {
    const now = this.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.rate);
    this.#last = now;
  }
}
