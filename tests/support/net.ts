/**
 * Network helpers for tests and benchmarks (loopback only).
 *
 * @module
 */

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Polls `test` (a throw counts as not yet) every 100 ms until it holds, failing after `ms`
 * with "timed out waiting for WHAT".
 */
export async function waitFor(
  test: () => boolean | Promise<boolean>,
  what: string,
  ms = 20_000,
): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await Promise.resolve().then(test).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Waits on conditions over state that changes when a peer hears something: `notify()` after
 * each change, and every pending `waitUntil` checks again (no polling).
 */
export class Conditions {
  readonly #waiters = new Set<() => void>();

  /** Resolves once `test()` holds (fails after `timeoutMs`, default 30 s). */
  waitUntil(test: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!test()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  /** Checks every pending condition again. */
  notify(): void {
    for (const check of [...this.#waiters]) check();
  }
}
