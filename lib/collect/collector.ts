/**
 * The collector: the directory watcher feeding the core pipeline through a bounded queue
 * (`collector.concurrency` cores at once; the watcher waits when the queue is full), plus the
 * retry loop that resumes cores left unfinished by an earlier run and retries failed ones
 * when their backoff has passed.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import type { Logger } from "../log.ts";
import { sleep } from "../pool.ts";
import { type CoreIndex, fileIdentity } from "../store/mod.ts";
import type { Pipeline } from "./_lazy_pipeline.ts";
import { CoreWatcher } from "./watch.ts";
import { errorMessage } from "../errors.ts";

/** What {@linkcode runCollector} needs. */
export interface CollectorOptions {
  config: Config;
  index: CoreIndex;
  pipeline: Pipeline;
  log: Logger;
  signal: AbortSignal;
}

/** A running collector. */
export interface Collector {
  watcher: CoreWatcher;
  /** Cores waiting for a worker. */
  queued(): number;
  /**
   * Resolves when stopped and the cores in flight are finished; rejects when a part of the
   * collector fails (the daemon then restarts it).
   */
  done: Promise<void>;
}

/** Whether the index says a file needs nothing more. */
export function isFinished(
  index: CoreIndex,
  config: Config,
  info: Deno.FileInfo,
  now: Date,
): boolean {
  const record = index.get(fileIdentity(info));
  if (!record) return false;
  switch (record.state) {
    case "stored":
    case "skipped":
    case "pruned":
      return record.originalDeleted || !config.storage.deleteOriginal;
    case "quarantined":
      return true;
    case "failed":
      return !record.retryAt || Date.parse(record.retryAt) > now.getTime();
    default:
      return false;
  }
}

/** Starts watching and processing; stops when `signal` aborts. */
export function runCollector(options: CollectorOptions): Collector {
  const { config, index, pipeline, log, signal } = options;
  const queue: string[] = [];
  const waiting: (() => void)[] = [];
  const capacity = config.collector.concurrency * 2;
  const idle: (() => void)[] = [];
  const watcher = new CoreWatcher({
    paths: config.collector.paths,
    patterns: config.collector.fileNamePatterns,
    settleMs: config.collector.settleInterval,
    rescanMs: config.collector.rescanInterval,
    log,
    isDone: (_path, info) => isFinished(index, config, info, new Date()),
    onComplete: async (path) => {
      while (queue.length >= capacity && !signal.aborted) {
        await new Promise<void>((resolve) => waiting.push(resolve));
      }
      if (!queue.includes(path) && !pipeline.busy(path)) queue.push(path);
      idle.shift()?.();
    },
  });
  const worker = async () => {
    while (!signal.aborted) {
      const path = queue.shift();
      waiting.shift()?.();
      if (path === undefined) {
        await new Promise<void>((resolve) => {
          idle.push(resolve);
          signal.addEventListener("abort", () => resolve(), { once: true });
        });
        continue;
      }
      try {
        await pipeline.process(path);
      } catch (error) {
        log.error("cannot collect a core", {
          path,
          error: errorMessage(error),
        });
      }
    }
  };
  // Unfinished work from earlier runs, and failures whose backoff has passed.
  const retries = async () => {
    while (!signal.aborted) {
      for (const record of index.pending(new Date())) {
        if (signal.aborted) break;
        const info = await Deno.lstat(record.path).catch(() => undefined);
        if (!info || fileIdentity(info) !== record.identity) {
          await pipeline.abandon(record);
          continue;
        }
        await watcher.options.onComplete(record.path);
      }
      await sleep(Math.min(config.collector.rescanInterval, 30_000), signal);
    }
  };
  const workers = Array.from({ length: config.collector.concurrency }, worker);
  const done = Promise.all([watcher.run(signal), retries(), ...workers]).then(() => {}).finally(
    () => [...waiting.splice(0), ...idle.splice(0)].forEach((resolve) => resolve()),
  );
  return { watcher, queued: () => queue.length, done };
}
