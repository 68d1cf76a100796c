/**
 * Pod metadata by sandbox id, kept from the CRI runtime on kata-monitor's schedule.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { after } from "../pool.ts";
import type { CriCallOptions, PodSandbox, PodSandboxFilter } from "./cri.ts";
import { errorMessage } from "../errors.ts";

/** A pod's identity, as kata-monitor labels a sandbox's metrics with it. */
export interface PodMetadata {
  /** The pod's uid. */
  uid: string;
  /** The pod's name. */
  name: string;
  /** The pod's namespace. */
  namespace: string;
}

/** What {@linkcode CriMetadataCache} needs of a client (a {@linkcode CriClient}, or a fake). */
export interface SandboxLister {
  /** Named in log lines, when known. */
  readonly endpoint?: string;
  /** Lists the runtime's pod sandboxes. */
  listPodSandboxes(filter?: PodSandboxFilter, options?: CriCallOptions): Promise<PodSandbox[]>;
}

/** Options of {@linkcode CriMetadataCache}. */
export interface CriMetadataCacheOptions {
  /** Where the metadata comes from. The cache does not close it. */
  client: SandboxLister;
  /** `kata.criSyncInterval` in milliseconds (default 5000, as kata-monitor). */
  syncIntervalMs?: number;
  /** Receives one line per change of the sync's state (failing, recovered), debug otherwise. */
  logger?: Pick<Logger, "debug" | "info" | "warn">;
  /** Named in log lines; default: the client's `endpoint`, if it has one. */
  endpoint?: string;
}

/** Counters of {@linkcode CriMetadataCache}, for the agent's own metrics. */
export interface CriSyncStats {
  /** Successful `ListPodSandbox` calls. */
  refreshes: number;
  /** Failed ones. */
  failures: number;
  /** Failures since the last success. */
  consecutiveFailures: number;
  /** When the last success ended, milliseconds since the epoch; 0 before the first. */
  lastSuccessAt: number;
  /** The last failure's message, empty after a success. */
  lastError: string;
  /** How long the last successful call took, in milliseconds. */
  lastDurationMs: number;
  /** Sandboxes with metadata. */
  sandboxes: number;
  /** Known sandboxes (see {@linkcode CriMetadataCache.onSandboxesChanged}) without metadata. */
  missing: number;
}

const NO_LOGGER: Pick<Logger, "debug" | "info" | "warn"> = {
  debug() {},
  info() {},
  warn() {},
};

/**
 * Pod metadata (uid, name, namespace) by sandbox id, kept from the CRI runtime on
 * kata-monitor's schedule: the caller reports which sandboxes exist
 * ({@linkcode onSandboxesChanged}); while {@linkcode run} runs, the cache lists the
 * runtime's sandboxes once at start, then one sync interval after a sandbox without
 * metadata appears, and again every interval while any known sandbox still lacks it. A
 * runtime that is down leaves the metadata as it was (empty at first): failures are
 * counted, logged once when the sync starts failing and once when it recovers, and never
 * escape the loop. Sandboxes the runtime no longer lists keep their last-known metadata
 * for as long as the caller still reports them.
 *
 * @example Usage
 * ```ts ignore
 * const cri = new CriClient(config.kata.runtimeEndpoint);
 * const cache = new CriMetadataCache({
 *   client: cri,
 *   syncIntervalMs: config.kata.criSyncInterval,
 *   logger,
 * });
 * const loop = cache.run(signal);
 * cache.onSandboxesChanged(["4f1c..."]);
 * cache.get("4f1c..."); // { uid, name, namespace } once the runtime listed it
 * ```
 */
export class CriMetadataCache {
  readonly #client: SandboxLister;
  readonly #intervalMs: number;
  readonly #logger: Pick<Logger, "debug" | "info" | "warn">;
  readonly #endpoint: string;
  #metadata = new Map<string, PodMetadata>();
  /** Known sandbox ids and when each was first reported (performance.now()). */
  #known = new Map<string, number>();
  #lastAttemptAt: number | undefined;
  #inflight: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #running = false;
  #failing = false;
  #stats: CriSyncStats = {
    refreshes: 0,
    failures: 0,
    consecutiveFailures: 0,
    lastSuccessAt: 0,
    lastError: "",
    lastDurationMs: 0,
    sandboxes: 0,
    missing: 0,
  };

  /** Creates an empty cache; nothing is asked until {@linkcode refresh} or {@linkcode run}. */
  constructor(options: CriMetadataCacheOptions) {
    this.#client = options.client;
    this.#intervalMs = options.syncIntervalMs ?? 5000;
    this.#logger = options.logger ?? NO_LOGGER;
    this.#endpoint = options.endpoint ?? options.client.endpoint ?? "";
  }

  /** The metadata of sandbox `id`, if the runtime has listed it. */
  get(id: string): PodMetadata | undefined {
    return this.#metadata.get(id);
  }

  /** All metadata by sandbox id: what the last successful sync listed, plus known leftovers. */
  entries(): ReadonlyMap<string, PodMetadata> {
    return this.#metadata;
  }

  /** Counters and the current state of the sync. */
  stats(): CriSyncStats {
    return { ...this.#stats, sandboxes: this.#metadata.size, missing: this.#missing().length };
  }

  /**
   * Tells the cache which sandboxes exist now (the complete set, e.g. the directories
   * under `/run/vc/sbs`). A new one without metadata makes {@linkcode run} sync one
   * interval later; ids left out are forgotten once the runtime stops listing them.
   */
  onSandboxesChanged(ids: Iterable<string>): void {
    const now = performance.now();
    const known = new Map<string, number>();
    for (const id of ids) known.set(id, this.#known.get(id) ?? now);
    this.#known = known;
    this.#wake?.();
  }

  /**
   * Lists the runtime's sandboxes now and replaces the metadata with what it lists (keeping
   * last-known metadata of known sandboxes it no longer lists). Concurrent calls share one
   * request.
   *
   * @throws {CriError} when the runtime cannot be reached; the metadata is then unchanged.
   */
  refresh(signal?: AbortSignal): Promise<void> {
    this.#inflight ??= this.#refresh(signal).finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  /**
   * Keeps the metadata in sync until `signal` aborts, then resolves once the call in
   * flight (if any) has been cancelled. Never rejects.
   *
   * @throws {Error} when already running.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#running) throw new Error("CriMetadataCache.run() is already running");
    this.#running = true;
    this.#lastAttemptAt = undefined;
    try {
      while (!signal.aborted) {
        const due = this.#nextDue();
        if (due === undefined || due > performance.now()) {
          await this.#sleep(due, signal);
          continue;
        }
        // Counted and logged by #refresh; the loop only carries on.
        await this.refresh(signal).catch(() => {});
      }
    } finally {
      this.#running = false;
    }
  }

  async #refresh(signal?: AbortSignal): Promise<void> {
    const started = performance.now();
    this.#lastAttemptAt = started;
    let items: PodSandbox[];
    try {
      items = await this.#client.listPodSandboxes({}, signal ? { signal } : {});
    } catch (error) {
      if (signal?.aborted) throw error;
      this.#failed(error);
      throw error;
    }
    const next = new Map<string, PodMetadata>();
    for (const item of items) {
      // A sandbox the runtime lists without metadata is as good as not listed.
      if (item.id && (item.uid || item.name)) {
        next.set(item.id, { uid: item.uid, name: item.name, namespace: item.namespace });
      }
    }
    for (const id of this.#known.keys()) {
      const old = this.#metadata.get(id);
      if (old && !next.has(id)) next.set(id, old);
    }
    this.#metadata = next;
    const durationMs = performance.now() - started;
    const stats = this.#stats;
    stats.refreshes++;
    stats.lastSuccessAt = Date.now();
    stats.lastDurationMs = durationMs;
    stats.lastError = "";
    const fields = {
      endpoint: this.#endpoint,
      sandboxes: next.size,
      missing: this.#missing().length,
      durationMs: Math.round(durationMs * 10) / 10,
    };
    if (this.#failing) {
      this.#logger.info("Pod metadata sync from the CRI runtime recovered", {
        ...fields,
        failures: stats.consecutiveFailures,
      });
    } else {
      this.#logger.debug("Synced pod metadata from the CRI runtime", fields);
    }
    this.#failing = false;
    stats.consecutiveFailures = 0;
  }

  #failed(error: unknown): void {
    const message = errorMessage(error);
    const stats = this.#stats;
    stats.failures++;
    stats.consecutiveFailures++;
    stats.lastError = message;
    const fields = { endpoint: this.#endpoint, error: message, missing: this.#missing().length };
    if (this.#failing) {
      this.#logger.debug("Pod metadata sync from the CRI runtime still failing", {
        ...fields,
        failures: stats.consecutiveFailures,
      });
    } else {
      this.#logger.warn("Pod metadata sync from the CRI runtime failed", fields);
    }
    this.#failing = true;
  }

  /** Known sandboxes without metadata. */
  #missing(): string[] {
    return [...this.#known.keys()].filter((id) => !this.#metadata.has(id));
  }

  /** When the next sync is due (performance.now() time), or undefined for "not until told". */
  #nextDue(): number | undefined {
    if (this.#lastAttemptAt === undefined) return performance.now();
    let firstSeen: number | undefined;
    for (const [id, seen] of this.#known) {
      if (!this.#metadata.has(id) && (firstSeen === undefined || seen < firstSeen)) {
        firstSeen = seen;
      }
    }
    if (firstSeen === undefined) return undefined;
    return Math.max(firstSeen, this.#lastAttemptAt) + this.#intervalMs;
  }

  /** Waits until `due`, a call to onSandboxesChanged, or `signal`, whichever comes first. */
  #sleep(due: number | undefined, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        cancel?.();
        signal.removeEventListener("abort", done);
        this.#wake = undefined;
        resolve();
      };
      const cancel = due === undefined ? undefined : after(due - performance.now(), done);
      this.#wake = done;
      signal.addEventListener("abort", done, { once: true });
    });
  }
}
