/**
 * What happens to one complete core: index -> analyze -> correlate -> score -> group -> store or
 * skip -> remove the original. Every step is recorded in the core index before the next, so
 * an agent killed anywhere continues where it stopped: a core is analyzed again at worst,
 * but never stored under two names, and its original is removed only after the stored copy
 * is verified.
 *
 * Failures keep the original core. Any other failure (a store that is unavailable: disk
 * full, S3 down) is retried with backoff until the attempts run out; a core the agent cannot
 * read (not a core, corrupt) is quarantined at once: indexed with the reason, left where it
 * is, never touched again. A core that changed or vanished while being processed fails for
 * good (a replaced file is a new core with its own identity).
 *
 * Several processes may run pipelines over the same index and directories (the daemon,
 * `agent collect`, the core_pattern helper): each core is claimed in the index first, so
 * only one of them works on it at a time, and every change is made under that claim.
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
  scoreOptions,
} from "../core/mod.ts";
import type { Score } from "../core/mod.ts";
import { AgentError, InputError } from "../errors.ts";
import { ClaimLostError } from "../store/mod.ts";
import type { Channel } from "../channel.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../store/mod.ts";
import { type CoreIndex, type CoreRecord, fileIdentity } from "../store/mod.ts";
import { objectName } from "../store/mod.ts";
import { coredumpXattrs, processCgroup } from "./_host.ts";
import { processStartTime } from "../process.ts";
import { type CgroupIds, correlate, type Correlation, parseCgroup } from "./correlate.ts";
import { type CoreNameFacts, parseCoreName } from "./names.ts";
import { safeName } from "../store/mod.ts";
import type { ClusterReader } from "./cluster_facts.ts";
import { bundleDir, openBundle, readBundle, storeBundle } from "./bundle.ts";
import type { KernelCrashReader } from "./kernel_crashes.ts";

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
  cluster?: ClusterReader;
  /** The crashes the kernel logged (`/dev/kmsg`), for cores that carry no cgroup. */
  kernelCrashes?: KernelCrashReader;
  /** Where every core processed is told (metrics, Kubernetes Events); never waited for. */
  outcomes?: Channel<CoreOutcome>;
  now?: () => Date;
  /** Who claims cores in the index; default this host, pid and process start time. */
  owner?: string;
}

/** How far past its declared size a compressed core may unpack before it is refused. */
const UNPACK_SLACK_BYTES = 1 << 20;

/** How often and how soon a core whose store was unavailable is tried again. */
export const RETRY = { attempts: 8, firstDelayMs: 30_000, maxDelayMs: 3600_000 };

/**
 * How long a claim on a core lasts without renewal, and how often it is renewed while the
 * work goes on: a collector that stops renewing (killed, frozen) loses its cores to the
 * others after the lease, or at once when it was a process on this host that is gone.
 */
export const CLAIM = { leaseMs: 60_000, renewMs: 15_000 };

/** `host/pid/start` of this process, the owner its claims carry. */
async function ownerOfThisProcess(): Promise<string> {
  return `${Deno.hostname()}/${Deno.pid}/${(await processStartTime(Deno.pid)) ?? "?"}`;
}

/** Whether a claim's owner is a process of this host that no longer runs. */
async function ownerIsGone(owner: string): Promise<boolean> {
  const [host, pid, start] = owner.split("/");
  if (host !== Deno.hostname() || start === undefined || start === "?") return false;
  const now = await processStartTime(Number(pid));
  return now === null || (now !== undefined && now !== start);
}

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
  #owner?: Promise<string>;

  /** Creates the pipeline. */
  constructor(readonly options: PipelineOptions) {}

  /** Who this pipeline's claims belong to. */
  owner(): Promise<string> {
    return this.#owner ??= this.options.owner !== undefined
      ? Promise.resolve(this.options.owner)
      : ownerOfThisProcess();
  }

  /**
   * Claims the core `id` in the index, taking it over from a holder whose lease expired or
   * that is a process of this host that is gone. Returns the claimed record, or `undefined`
   * when another collector works on it.
   */
  async claim(id: number): Promise<CoreRecord | undefined> {
    const { index } = this.options;
    const owner = await this.owner();
    const claimed = index.claim(id, owner, CLAIM.leaseMs);
    if (claimed) return claimed;
    const holder = index.holder(id);
    if (!holder || !(await ownerIsGone(holder))) return undefined;
    return index.claim(id, owner, CLAIM.leaseMs, (h) => h === holder);
  }

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
    if (this.#settled(record)) return { record, outcome: "done", durations };
    const claimed = await this.claim(record.id);
    if (!claimed) {
      log.debug("core claimed by another collector", { path });
      return undefined;
    }
    const owner = await this.owner();
    const renewal = setInterval(() => {
      // A lost claim surfaces as ClaimLostError at the next change this run makes.
      if (!index.renew(record.id, owner, CLAIM.leaseMs)) clearInterval(renewal);
    }, CLAIM.renewMs);
    try {
      return await this.#claimed(claimed, identity, info, names, hints, durations);
    } finally {
      clearInterval(renewal);
      index.release(record.id, owner);
    }
  }

  /**
   * Marks an unfinished core whose file vanished or was replaced as failed for good, unless
   * another collector holds it (it may be finishing it right now).
   */
  async abandon(record: CoreRecord): Promise<void> {
    const { index } = this.options;
    const claimed = await this.claim(record.id);
    if (!claimed) return;
    const owner = await this.owner();
    try {
      const info = await lstat(claimed.path).catch(() => undefined);
      const unfinished = ["seen", "analyzed", "storing"].includes(claimed.state) ||
        (claimed.state === "failed" && claimed.retryAt !== null);
      if (unfinished && (!info || fileIdentity(info) !== claimed.identity)) {
        index.update(claimed.id, {
          state: "failed",
          error: "the core vanished or was replaced before it was finished",
          retryAt: null,
        }, owner);
      }
    } finally {
      index.release(claimed.id, owner);
    }
  }

  /** Whether the index says there is nothing to do for this core now. */
  #settled(record: CoreRecord): boolean {
    switch (record.state) {
      case "stored":
      case "skipped":
      case "pruned":
        return record.originalDeleted || !this.options.config.storage.deleteOriginal;
      case "quarantined":
        return true;
      case "failed":
        return !record.retryAt || Date.parse(record.retryAt) > this.#now().getTime();
      default:
        return false;
    }
  }

  async #claimed(
    record: CoreRecord,
    identity: string,
    info: Deno.FileInfo,
    names: CoreNameFacts | undefined,
    hints: CoreHints,
    durations: CoreOutcome["durations"],
  ): Promise<CoreOutcome | undefined> {
    if (this.#settled(record)) return { record, outcome: "done", durations };
    try {
      if (record.state === "stored" || record.state === "skipped" || record.state === "pruned") {
        return await this.#finish(record, identity, durations);
      }
      return await this.#run(record, identity, info, names, hints, durations);
    } catch (error) {
      if (error instanceof ClaimLostError) {
        this.options.log.warn("core taken over by another collector", { path: record.path });
        return undefined;
      }
      return await this.#failed(record, identity, error, durations);
    }
  }

  /**
   * Records a failure under the policy: a core that changed or vanished fails for good (what
   * is there now is another core); one the agent cannot read is quarantined; anything else
   * is retried with backoff, and quarantined when the attempts run out.
   */
  async #failed(
    record: CoreRecord,
    identity: string,
    error: unknown,
    durations: CoreOutcome["durations"],
  ): Promise<CoreOutcome | undefined> {
    const { index, log } = this.options;
    const path = record.path;
    const attempts = record.attempts + 1;
    const now = await lstat(path).catch(() => undefined);
    const unchanged = now !== undefined && fileIdentity(now) === identity;
    const patch: Parameters<CoreIndex["update"]>[1] = unchanged
      ? error instanceof InputError
        ? { state: "quarantined", retryAt: null }
        : attempts < RETRY.attempts
        ? {
          state: "failed",
          retryAt: new Date(this.#now().getTime() + retryDelay(attempts)).toISOString(),
        }
        : { state: "quarantined", retryAt: null }
      : { state: "failed", retryAt: null };
    let failed: CoreRecord;
    try {
      failed = index.update(
        record.id,
        { ...patch, error: message(error), attempts },
        await this.owner(),
      );
    } catch (lost) {
      if (lost instanceof ClaimLostError) return undefined;
      throw lost;
    }
    const fields = { path, error: message(error), attempts };
    if (failed.state === "quarantined") {
      log.error("core quarantined: it stays where it is and is not tried again", fields);
    } else log.error("core failed", { ...fields, retry: failed.retryAt ?? "never" });
    if (!(error instanceof AgentError)) {
      log.debug("cause", { stack: String((error as Error)?.stack) });
    }
    const outcome: CoreOutcome = { record: failed, outcome: "failed", durations };
    this.options.outcomes?.publish(outcome);
    return outcome;
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
    const owner = await this.owner();
    const path = record.path;
    const xattrs = names?.source === "systemd" || !names ? await coredumpXattrs(path) : {};
    const started = performance.now();
    // A core piped from a container comes with its executable and libraries.
    const manifest = await readBundle(path);
    const bundle = manifest
      ? await openBundle(manifest, {
        corePath: path,
        store,
        tempDir: config.analyzer.tempDir || undefined,
      })
      : undefined;
    let analysis: CoreAnalysis;
    try {
      analysis = await analyzeCore(path, {
        ...analyzeOptions(config, {}),
        ...(bundle ? { bundle: bundle.files } : {}),
      });
    } finally {
      await bundle?.close();
    }
    analysis.warnings.push(...(bundle?.problems ?? []));
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
    const cluster = this.options.cluster;
    const comm = hints.comm ?? names?.comm ?? analysis.process.name ?? undefined;
    // Without a cgroup of its own, the kernel's line about the crash may name the pod.
    const kernel = cgroup?.podUid ? undefined : this.options.kernelCrashes?.find(
      { ...(pid !== undefined ? { pid } : {}), ...(comm ? { comm } : {}), time: crashTime },
      config.collector.correlationWindow,
    );
    const correlation: Correlation = correlate(
      {
        time: crashTime,
        ...(hostname ? { hostname } : {}),
        ...(comm ? { comm } : {}),
        ...(cgroup ? { cgroup } : {}),
        ...(kernel ? { kernel } : {}),
      },
      cluster?.pods() ?? [],
      cluster?.restarts() ?? [],
      config.collector.correlationWindow,
    );
    const fingerprint = crashFingerprint(analysis);
    const instance = correlation.instance ?? "unknown";
    const groupStored = index.group(instance, fingerprint.id)
      .filter((r) => r.id !== record.id && r.state === "stored").length;
    const score = scoreCore(
      analysis,
      scoreOptions(config, { pod: correlation.pod ?? undefined, groupStored, now: this.#now() }),
    );
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
      breakdown: score.breakdown,
      error: null,
    }, owner);
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
      current = index.update(record.id, { state: "skipped", reason: skip }, owner);
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
      index.reserveKey(record.id, safeName(instance), name, (k) => store.uri(k), owner);
    current = index.byId(record.id)!;
    const now = await lstat(path);
    if (!now || fileIdentity(now) !== identity) {
      throw new InputError(`Core "${path}" changed or vanished while being processed`);
    }
    const storeStarted = performance.now();
    // The bundle's files first: the core's metadata names them by their keys.
    const storedBundle = manifest ? await storeBundle(store, path, manifest) : undefined;
    const object = await store.put(path, {
      instance,
      pod: correlation.pod ?? "",
      container: correlation.container ?? "",
      time: crashTime,
      compression: config.storage.compression,
      workers: config.storage.compressionWorkers,
      sourceCompression: analysis.compression,
      name: key.slice(key.indexOf("/") + 1),
      expectedSourceBytes: info.size,
      // What a core unpacks to beyond its declared size is not the core: a bomb is refused.
      maxUnpackedBytes: analysis.coreBytes + UNPACK_SLACK_BYTES,
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
        ...(storedBundle ? { bundle: storedBundle } : {}),
        analysis,
      },
    });
    durations.store = (performance.now() - storeStarted) / 1000;
    const after = await lstat(path);
    if (!after || fileIdentity(after) !== identity) {
      // Only while the claim holds: a collector that took the core over owns the object now.
      if (index.renew(record.id, owner, CLAIM.leaseMs)) {
        await store.delete(object.key).catch(() => {});
      }
      throw new InputError(`Core "${path}" changed while being stored`);
    }
    current = index.update(record.id, {
      state: "stored",
      storedKey: object.key,
      storedUri: object.uri,
      storedBytes: object.bytes,
      sha256: object.sha256,
      reason: null,
    }, owner);
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
    const owner = await this.owner();
    for (const record of surplus) {
      // A core another collector is finishing is left to a later trim.
      if (!(await this.claim(record.id))) continue;
      try {
        await store.delete(record.storedKey!);
        index.update(record.id, {
          state: "pruned",
          reason: `crash group ${fingerprint} over ${max} cores`,
        }, owner);
        log.info("core pruned", { uri: record.storedUri, reason: "crash group full" });
      } catch (error) {
        log.warn("cannot prune a core of a full crash group", {
          uri: record.storedUri,
          error: message(error),
        });
      } finally {
        index.release(record.id, owner);
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
      const owner = await this.owner();
      if (safe && !index.renew(record.id, owner, CLAIM.leaseMs)) {
        throw new ClaimLostError(record.path);
      }
      if (safe && info && fileIdentity(info) === identity) {
        try {
          await Deno.remove(record.path);
          await Deno.remove(bundleDir(record.path), { recursive: true }).catch(() => {});
          current = index.update(record.id, { originalDeleted: true }, owner);
          log.debug("original core removed", { path: record.path });
        } catch (error) {
          if (error instanceof ClaimLostError) throw error;
          // Stored all the same; the removal is tried again at the next scan.
          log.warn("cannot remove the original core", { path: record.path, error: message(error) });
        }
      } else if (safe && !info) {
        await Deno.remove(bundleDir(record.path), { recursive: true }).catch(() => {});
        current = index.update(record.id, { originalDeleted: true }, owner);
      }
    }
    const result: CoreOutcome = { ...extra, record: current, outcome, durations };
    if (outcome !== "done") this.options.outcomes?.publish(result);
    return result;
  }
}
