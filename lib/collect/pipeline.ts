/**
 * What happens to one complete core: index → analyze → correlate → score → group → store or
 * skip → remove the original. Every step is recorded in the core index before the next, so
 * an agent killed anywhere continues where it stopped: a core is analyzed again at worst,
 * but never stored under two names, and its original is removed only after the stored copy
 * is verified.
 *
 * Failures keep the original core. A store that is unavailable (disk full, S3 down) is
 * retried with backoff; a core that is not a core, or that changed while being processed,
 * fails for good (a replaced file is a new core with its own identity).
 *
 * @module
 */
import { basename } from "node:path";
import type { Config } from "../config/mod.ts";
import {
  analyzeCore,
  analyzeOptions,
  type CoreAnalysis,
  crashFingerprint,
  scoreCore,
} from "../core/mod.ts";
import type { Score } from "../core/score.ts";
import { AgentError, InputError } from "../errors.ts";
import type { RestartEvent } from "../kube/restarts.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../store/backend.ts";
import { type CoreIndex, type CoreRecord, fileIdentity } from "../store/core_index.ts";
import { objectName } from "../store/local.ts";
import { coredumpXattrs, processCgroup } from "./_host.ts";
import {
  type CgroupIds,
  correlate,
  type Correlation,
  parseCgroup,
  type PodInfo,
} from "./correlate.ts";
import { type CoreNameFacts, parseCoreName, safeName } from "./names.ts";

/** What the pipeline reports after each core, for metrics, logs and Kubernetes Events. */
export interface CoreOutcome {
  record: CoreRecord;
  /** `stored`, `skipped`, `failed`, or `done` (nothing left to do). */
  outcome: "stored" | "skipped" | "failed" | "done";
  analysis?: CoreAnalysis;
  score?: Score;
  /** Seconds spent per stage. */
  durations: Partial<Record<"analyze" | "store" | "verify", number>>;
}

/** Facts the caller knows that the file does not carry (pipe mode: argv and /proc). */
export interface CoreHints {
  pid?: number;
  signal?: number;
  time?: Date;
  comm?: string;
  hostname?: string;
  cgroup?: CgroupIds;
}

/** What {@linkcode CorePipeline} needs. */
export interface PipelineOptions {
  config: Config;
  index: CoreIndex;
  store: Store;
  log: Logger;
  /** This node's pods and recent restarts, for correlation (empty without a cluster). */
  cluster?: () => { pods: readonly PodInfo[]; restarts: readonly RestartEvent[] };
  /** Told about every core processed. */
  onOutcome?: (outcome: CoreOutcome) => void | Promise<void>;
  now?: () => Date;
}

/** How often and how soon a core whose store was unavailable is tried again. */
export const RETRY = { attempts: 8, firstDelayMs: 30_000, maxDelayMs: 3600_000 };

function retryDelay(attempts: number): number {
  return Math.min(RETRY.maxDelayMs, RETRY.firstDelayMs * 2 ** Math.max(0, attempts - 1));
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function lstat(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Runs cores through the pipeline. Create one per process; it is safe to call concurrently. */
export class CorePipeline {
  readonly #inFlight = new Set<string>();

  /** Creates the pipeline. */
  constructor(readonly options: PipelineOptions) {}

  #now(): Date {
    return this.options.now?.() ?? new Date();
  }

  /** Whether the core at `path` is being processed right now. */
  busy(path: string): boolean {
    return this.#inFlight.has(path);
  }

  /**
   * Processes the core at `path` (a regular file, never followed through a symlink) as far
   * as it can go. Returns `undefined` when the path is gone or already being processed.
   */
  async process(path: string, hints: CoreHints = {}): Promise<CoreOutcome | undefined> {
    if (this.#inFlight.has(path)) return undefined;
    this.#inFlight.add(path);
    try {
      return await this.#process(path, hints);
    } finally {
      this.#inFlight.delete(path);
    }
  }

  async #process(path: string, hints: CoreHints): Promise<CoreOutcome | undefined> {
    const { index, log } = this.options;
    const info = await lstat(path);
    if (!info) return undefined;
    if (!info.isFile) {
      throw new InputError(`Not collecting "${path}": not a regular file`);
    }
    const identity = fileIdentity(info);
    const names = parseCoreName(basename(path), this.options.config.collector.fileNamePatterns);
    const { record, isNew } = index.seen({
      path,
      identity,
      size: info.size,
      crashTime: hints.time ?? names?.time ?? info.mtime,
    });
    if (isNew) log.debug("core found", { path, bytes: info.size });
    const durations: CoreOutcome["durations"] = {};
    switch (record.state) {
      case "stored":
      case "skipped":
      case "pruned":
        return await this.#finish(record, identity, durations);
      case "failed":
        if (!record.retryAt || Date.parse(record.retryAt) > this.#now().getTime()) {
          return { record, outcome: "done", durations };
        }
    }
    try {
      return await this.#run(record, identity, info, names, hints, durations);
    } catch (error) {
      const retry = !(error instanceof InputError) && record.attempts + 1 < RETRY.attempts;
      const failed = index.update(record.id, {
        state: "failed",
        error: message(error),
        attempts: record.attempts + 1,
        retryAt: retry
          ? new Date(this.#now().getTime() + retryDelay(record.attempts + 1)).toISOString()
          : null,
      });
      log.error("core failed", {
        path,
        error: message(error),
        retry: failed.retryAt ?? "never",
      });
      if (!(error instanceof AgentError)) {
        log.debug("cause", { stack: String((error as Error)?.stack) });
      }
      const outcome: CoreOutcome = { record: failed, outcome: "failed", durations };
      await this.options.onOutcome?.(outcome);
      return outcome;
    }
  }

  async #run(
    record: CoreRecord,
    identity: string,
    info: Deno.FileInfo,
    names: CoreNameFacts | undefined,
    hints: CoreHints,
    durations: CoreOutcome["durations"],
  ): Promise<CoreOutcome> {
    const { config, index, store, log } = this.options;
    const path = record.path;
    const xattrs = names?.source === "systemd" || !names ? await coredumpXattrs(path) : {};
    const started = performance.now();
    const analysis = await analyzeCore(path, analyzeOptions(config, {}));
    durations.analyze = (performance.now() - started) / 1000;
    const crashTime = hints.time ?? names?.time ??
      (xattrs.timestamp ? new Date(Number(xattrs.timestamp) / 1000) : info.mtime ?? this.#now());
    const hostname = hints.hostname ?? names?.hostname ?? xattrs.hostname;
    const pid = hints.pid ?? names?.pid ?? analysis.process.pid ?? undefined;
    let cgroup = hints.cgroup;
    if (!cgroup && pid !== undefined && hints.pid !== undefined) {
      // The process still exists only while the kernel pipes its core to us.
      const text = await processCgroup(pid);
      if (text) cgroup = parseCgroup(text);
    }
    const cluster = this.options.cluster?.() ?? { pods: [], restarts: [] };
    const correlation: Correlation = correlate(
      {
        time: crashTime,
        ...(hostname ? { hostname } : {}),
        ...(hints.comm ?? names?.comm ?? analysis.process.name
          ? { comm: hints.comm ?? names?.comm ?? analysis.process.name! }
          : {}),
        ...(cgroup ? { cgroup } : {}),
      },
      cluster.pods,
      cluster.restarts,
      config.collector.correlationWindow,
    );
    const score = scoreCore(analysis, {
      scoring: config.analyzer.scoring,
      panicKeywords: config.analyzer.panicKeywords,
      fatalSignals: config.analyzer.fatalSignals,
      threshold: config.analyzer.valueThreshold,
      pod: correlation.pod ?? undefined,
      now: this.#now(),
    });
    const fingerprint = crashFingerprint(analysis);
    const instance = correlation.instance ?? "unknown";
    let current = index.update(record.id, {
      state: record.state === "storing" ? "storing" : "analyzed",
      crashTime: crashTime.toISOString(),
      namespace: correlation.namespace,
      pod: correlation.pod,
      container: correlation.container,
      instance,
      node: config.nodeName || null,
      match: correlation.match,
      signal: analysis.go?.signal?.name ?? analysis.signal?.name ?? null,
      crashReason: analysis.crashReason,
      fingerprint: fingerprint.id,
      score: score.score,
      error: null,
    });
    log.info("core analyzed", {
      path,
      reason: analysis.crashReason,
      score: score.score,
      pod: correlation.pod ?? "",
      match: `${correlation.match.method}/${correlation.match.confidence}`,
    });
    const base = { analysis, score, durations };

    // Decide: below the threshold, or a crash group that keeps only its first core.
    const maxPerGroup = config.storage.maxPerGroup;
    const group = index.group(instance, fingerprint.id).filter((r) => r.id !== record.id);
    let skip: string | undefined;
    if (!score.store) {
      skip = `score ${score.score} below the threshold ${score.threshold}`;
    } else if (current.state !== "storing" && maxPerGroup === 1 && group.length >= 1) {
      skip = `crash group ${fingerprint.id} keeps only its first core`;
    }
    if (skip) {
      current = index.update(record.id, { state: "skipped", reason: skip });
      log.info("core skipped", { path, reason: skip });
      return await this.#finish(current, identity, durations, base);
    }

    // Store under a reserved name, so a resumed run overwrites its own object at most.
    const name = current.storedKey
      ? current.storedKey.slice(current.storedKey.lastIndexOf("/") + 1)
      : objectName(
        crashTime,
        correlation.pod ?? `${analysis.process.name ?? names?.comm ?? "process"}-${pid ?? 0}`,
        correlation.container ?? "unknown",
        config.storage.compression,
      );
    const key = current.storedKey ??
      index.reserveKey(record.id, safeName(instance), name, (k) => store.uri(k));
    current = index.byId(record.id)!;
    const now = await lstat(path);
    if (!now || fileIdentity(now) !== identity) {
      throw new InputError(`Core "${path}" changed or vanished while being processed`);
    }
    const storeStarted = performance.now();
    const object = await store.put(path, {
      instance,
      pod: correlation.pod ?? "",
      container: correlation.container ?? "",
      time: crashTime,
      compression: config.storage.compression,
      sourceCompression: analysis.compression,
      name: key.slice(key.indexOf("/") + 1),
      expectedSourceBytes: info.size,
      metadata: {
        crashTime: crashTime.toISOString(),
        node: config.nodeName || null,
        namespace: correlation.namespace,
        pod: correlation.pod,
        container: correlation.container,
        instance,
        match: correlation.match,
        signal: analysis.signal,
        crashReason: analysis.crashReason,
        fingerprint: fingerprint.id,
        fingerprintBasis: fingerprint.basis,
        score: score.score,
        breakdown: score.breakdown,
        original: { path, bytes: info.size },
        analysis,
      },
    });
    durations.store = (performance.now() - storeStarted) / 1000;
    const after = await lstat(path);
    if (!after || fileIdentity(after) !== identity) {
      await store.delete(object.key).catch(() => {});
      throw new InputError(`Core "${path}" changed while being stored`);
    }
    current = index.update(record.id, {
      state: "stored",
      storedKey: object.key,
      storedUri: object.uri,
      storedBytes: object.bytes,
      sha256: object.sha256,
      reason: null,
    });
    log.info("core stored", { path, uri: object.uri, bytes: object.bytes });
    await this.#trimGroup(instance, fingerprint.id);
    return await this.#finish(current, identity, durations, base);
  }

  /**
   * Keeps a crash group at `storage.maxPerGroup` stored cores: its first and the most
   * recent; the ones in between are removed (indexed as pruned).
   */
  async #trimGroup(instance: string, fingerprint: string): Promise<void> {
    const { config, index, store, log } = this.options;
    const max = config.storage.maxPerGroup;
    if (max < 2) return;
    const stored = index.group(instance, fingerprint).filter((r) => r.state === "stored");
    const surplus = stored.slice(1, Math.max(1, stored.length - (max - 1)));
    for (const record of surplus) {
      try {
        await store.delete(record.storedKey!);
        index.update(record.id, {
          state: "pruned",
          reason: `crash group ${fingerprint} over ${max} cores`,
        });
        log.info("core pruned", { uri: record.storedUri, reason: "crash group full" });
      } catch (error) {
        log.warn("cannot prune a core of a full crash group", {
          uri: record.storedUri,
          error: message(error),
        });
      }
    }
  }

  /** Removes the original once it is safe: stored and verified, or not worth storing. */
  async #finish(
    record: CoreRecord,
    identity: string,
    durations: CoreOutcome["durations"],
    extra: Partial<CoreOutcome> = {},
  ): Promise<CoreOutcome> {
    const { config, index, store, log } = this.options;
    const outcome: CoreOutcome["outcome"] = extra.analysis
      ? record.state === "stored" ? "stored" : "skipped"
      : "done";
    let current = record;
    if (config.storage.deleteOriginal && !record.originalDeleted) {
      let safe = record.state === "skipped";
      if (record.state === "stored" && record.storedKey) {
        const started = performance.now();
        safe = await store.verify({
          key: record.storedKey,
          uri: record.storedUri ?? "",
          bytes: record.storedBytes ?? -1,
          sha256: record.sha256 ?? "",
          compression: config.storage.compression,
          storedAt: "",
          metadata: {},
        });
        durations.verify = (performance.now() - started) / 1000;
        if (!safe) {
          log.warn("stored core did not verify: keeping the original", {
            path: record.path,
            uri: record.storedUri,
          });
        }
      }
      const info = await lstat(record.path);
      if (safe && info && fileIdentity(info) === identity) {
        await Deno.remove(record.path);
        current = index.update(record.id, { originalDeleted: true });
        log.debug("original core removed", { path: record.path });
      } else if (safe && !info) {
        current = index.update(record.id, { originalDeleted: true });
      }
    }
    const result: CoreOutcome = { ...extra, record: current, outcome, durations };
    if (outcome !== "done") await this.options.onOutcome?.(result);
    return result;
  }
}
