/**
 * Bounded concurrency for independent tasks, and waiting that an abort cuts short.
 *
 * @module
 */

/**
 * Waits `ms` milliseconds, or less when `signal` aborts (it resolves either way, so a loop
 * checks `signal.aborted` after it).
 *
 * @example Usage
 * ```ts
 * await sleep(10, AbortSignal.timeout(1000));
 * ```
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
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
