/**
 * A full garbage collection of the calling isolate (thread), on request. V8 collects its old
 * generation, and frees the memory of dead `ArrayBuffer`s, only once they have grown well
 * past the live set; work that drops a known, large state at known moments (the Kata scrape
 * worker, once per scrape cycle) collects right then, so that the peak stays near the live
 * set instead of several states. The collection pauses the thread: where requests are served
 * (the daemon's thread), the large buffers known dead are freed explicitly first
 * (`transfer(0)`), so that it has less to do.
 * Loaded only where it is used: `node:vm` and `node:v8` cost a few MB in an isolate of their
 * own.
 *
 * @module
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

let gc: (() => void) | undefined;

/**
 * Collects the garbage of this isolate now (a full, blocking collection: tens of
 * milliseconds for a heap of 100 MB).
 *
 * @example Usage
 * ```ts
 * collectGarbage();
 * ```
 */
export function collectGarbage(): void {
  if (gc === undefined) {
    // The flag makes `gc` part of every context created after it, such as this new one.
    setFlagsFromString("--expose-gc");
    gc = runInNewContext("gc") as () => void;
  }
  gc();
}
