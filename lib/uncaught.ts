/**
 * What happens to an error nothing caught (a defect, or a library throwing from a callback):
 * one process-wide listener, installed by `main.ts`, hands it to the long-running daemon
 * when one runs (it logs, counts and goes on), and otherwise ends the command with a
 * one-line internal error instead of a stack trace.
 *
 * @module
 */

let keeper: ((error: unknown) => void) | undefined;

/**
 * Makes uncaught errors go to `handler` instead of ending the process, until the returned
 * function is called.
 *
 * @example Usage
 * ```ts
 * const release = keepRunningOnUncaught((error) => console.error(error));
 * release();
 * ```
 */
export function keepRunningOnUncaught(handler: (error: unknown) => void): () => void {
  keeper = handler;
  return () => {
    if (keeper === handler) keeper = undefined;
  };
}

/**
 * Installs the process-wide listener for uncaught errors and unhandled rejections:
 * `onFatal` is called (and must end the process) unless a keeper is registered. Returns a
 * function that removes the listener.
 *
 * @example Usage
 * ```ts ignore
 * installUncaughtHandler((error) => Deno.exit(70));
 * ```
 */
export function installUncaughtHandler(onFatal: (error: unknown) => void): () => void {
  const listener = (event: ErrorEvent | PromiseRejectionEvent) => {
    event.preventDefault();
    const error = "reason" in event ? event.reason : event.error;
    if (keeper) keeper(error);
    else onFatal(error);
  };
  globalThis.addEventListener("error", listener);
  globalThis.addEventListener("unhandledrejection", listener);
  return () => {
    globalThis.removeEventListener("error", listener);
    globalThis.removeEventListener("unhandledrejection", listener);
  };
}
