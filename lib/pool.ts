/**
 * Bounded concurrency for independent tasks, timers for any duration, and waiting that an
 * abort cuts short.
 *
 * @module
 */

/** The longest delay `setTimeout` keeps (about 24.8 days); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The timer functions {@linkcode after} uses; tests pass fakes. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  /** Takes what `setTimeout` returned. */
  clearTimeout(id: unknown): void;
}

const GLOBAL_TIMERS: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/**
 * Calls `fn` once after `ms` milliseconds, for any duration. Every timer whose delay can come
 * from the configuration goes through here: `setTimeout` turns a delay over
 * {@linkcode MAX_TIMER_MS} into 1 ms, so a `30d` timeout would fire at once and a `30d` loop
 * would spin; longer delays are waited in chunks instead. A delay that is not a positive
 * number fires on the next turn; `Infinity` never fires. Returns a function that cancels the
 * call (harmless after it ran).
 *
 * @example Usage
 * ```ts
 * const cancel = after(30 * 86_400_000, () => console.log("a month later"));
 * cancel();
 * ```
 */
export function after(ms: number, fn: () => void, timers: Timers = GLOBAL_TIMERS): () => void {
  // Counted down rather than compared with a clock, so that fake timers need no fake clock.
  let remaining = ms > 0 ? ms : 0;
  let id: unknown;
  const arm = () => {
    const chunk = Math.min(remaining, MAX_TIMER_MS);
    id = timers.setTimeout(() => {
      remaining -= chunk;
      if (remaining > 0) arm();
      else {
        id = undefined;
        fn();
      }
    }, chunk);
  };
  arm();
  return () => {
    if (id !== undefined) timers.clearTimeout(id);
    id = undefined;
  };
}

/**
 * Waits `ms` milliseconds (any duration, see {@linkcode after}), or less when `signal`
 * aborts (it resolves either way, so a loop checks `signal.aborted` after it).
 *
 * @example Usage
 * ```ts
 * await sleep(10, AbortSignal.timeout(1000));
 * ```
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const cancel = after(ms, done);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      cancel();
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/**
 * Maps `items` through `fn` with at most `limit` calls in flight, keeping the input order.
 * A rejected call rejects the whole map; callers that want per-item errors catch inside `fn`.
 *
 * @example Usage
 * ```ts
 * const doubled = await mapLimit([1, 2, 3], 2, (n) => Promise.resolve(n * 2)); // [2, 4, 6]
 * ```
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
