/**
 * Supervision of the daemon's long-running stages: a stage that fails (its promise rejects,
 * or it returns while the daemon is still running) is stopped, reported (log line, metric,
 * `agent_feature_up` 0) and started again after a backoff (1 s doubling to 1 min, back to
 * 1 s after a minute of running well), while the other stages and the HTTP server go on.
 *
 * @module
 */
import type { Logger } from "../lib/log.ts";
import { sleep } from "../lib/pool.ts";
import { errorMessage } from "../lib/errors.ts";

/** What a supervised stage reports to. */
export interface SuperviseOptions {
  log: Logger;
  /** Stops the stage for good. */
  signal: AbortSignal;
  /** Told each failure (for `agent_stage_restarts_total`). */
  onRestart?: (stage: string) => void;
  /** Told whether the stage is running well (for `agent_feature_up`). */
  onUp?: (stage: string, up: boolean) => void;
  /** First and longest delay before a restart; default 1 s and 60 s. */
  firstDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Runs `start(signal)` until `options.signal` aborts, restarting it when it fails. Each run
 * gets its own signal, aborted when the run fails, so what it started stops before the
 * next run. Resolves once stopped.
 */
export async function supervise(
  stage: string,
  start: (signal: AbortSignal) => Promise<unknown>,
  options: SuperviseOptions,
): Promise<void> {
  const first = options.firstDelayMs ?? 1000;
  const max = options.maxDelayMs ?? 60_000;
  let delay = first;
  while (!options.signal.aborted) {
    const run = new AbortController();
    const stop = () => run.abort();
    options.signal.addEventListener("abort", stop, { once: true });
    const started = Date.now();
    let failure: unknown;
    try {
      await start(run.signal);
      if (options.signal.aborted) break;
      failure = new Error("it stopped on its own");
    } catch (error) {
      if (options.signal.aborted) break;
      failure = error;
    } finally {
      options.signal.removeEventListener("abort", stop);
      run.abort();
    }
    if (Date.now() - started > max) delay = first;
    options.onUp?.(stage, false);
    options.onRestart?.(stage);
    options.log.error("stage failed; restarting", {
      stage,
      error: errorMessage(failure),
      retryInMs: delay,
    });
    await sleep(delay, options.signal);
    delay = Math.min(max, delay * 2);
    if (!options.signal.aborted) options.onUp?.(stage, true);
  }
}
