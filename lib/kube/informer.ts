/**
 * An informer: list, then watch from the list's resourceVersion, keeping a cache and
 * telling a handler what changed. It guards against the known ways watches fail: a stream
 * that ends (resume from the last resourceVersion), 410 Gone (relist and report only real
 * differences), a stream that goes silent (no event or bookmark within `idleTimeoutMs`:
 * reconnect), errors (capped exponential backoff with full jitter, so that many agents do not
 * reconnect in step), and duplicates (an update whose resourceVersion the cache already has is
 * dropped).
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { KubeApiError, type KubeClient, type KubeObject, type Reviver } from "./client.ts";
import { after, sleep } from "../pool.ts";
import { errorMessage } from "../errors.ts";

/** What changed. */
export type InformerEventType = "ADDED" | "MODIFIED" | "DELETED";

/** Options of {@linkcode Informer}. */
export interface InformerOptions {
  /** Collection path, e.g. `/api/v1/pods`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Called for every change, in order; `previous` is the cached object before it. */
  onEvent(
    type: InformerEventType,
    object: KubeObject,
    previous: KubeObject | undefined,
  ): void | Promise<void>;
  /** Reduces each object before it is cached (keep only the fields the handler reads). */
  transform?(object: KubeObject): KubeObject;
  /**
   * What the cache keeps of each (transformed) object, when the handler stores the objects
   * itself: the cache then needs only the key and the resourceVersion. `previous` in
   * `onEvent` and a DELETED object found missing at a relist are what was kept.
   */
  keep?(object: KubeObject): KubeObject;
  /**
   * Applied while each answer is decoded, before `transform`: what it drops never becomes
   * part of an object (a Secret's values).
   */
  reviver?: Reviver;
  /** Reconnect when nothing (not even a bookmark) arrives for this long. Default 90 s. */
  idleTimeoutMs?: number;
  /** Asks the server to end each watch after this long; it is then resumed. Default 300 s. */
  watchTimeoutSeconds?: number;
  /** First retry delay after an error; doubles up to `maxBackoffMs`. Default 250 ms. */
  initialBackoffMs?: number;
  /** Default 30 s. */
  maxBackoffMs?: number;
  random?: () => number;
  log?: Logger;
}

/** Counters, for metrics and tests. */
export interface InformerStats {
  lists: number;
  watches: number;
  errors: number;
  idleReconnects: number;
  expired: number;
  duplicatesDropped: number;
  events: number;
}

function keyOf(object: KubeObject): string {
  return `${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? ""}`;
}

/**
 * A running informer.
 *
 * @example Usage
 * ```ts ignore
 * const informer = new Informer(client, { path: "/api/v1/pods", onEvent: (type, pod) => {} });
 * const done = informer.run(controller.signal);
 * await informer.synced;
 * ```
 */
export class Informer {
  /** The objects as last seen, by `namespace/name`. */
  readonly cache = new Map<string, KubeObject>();
  readonly stats: InformerStats = {
    lists: 0,
    watches: 0,
    errors: 0,
    idleReconnects: 0,
    expired: 0,
    duplicatesDropped: 0,
    events: 0,
  };
  /** Resolves after the first successful list. */
  readonly synced: Promise<void>;
  #markSynced!: () => void;
  #resourceVersion = "";

  /** Creates an informer; {@linkcode run} starts it. */
  constructor(private readonly client: KubeClient, private readonly options: InformerOptions) {
    this.synced = new Promise((resolve) => (this.#markSynced = resolve));
  }

  /** The resourceVersion the next watch resumes from. */
  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  /** Lists and watches until `signal` aborts. Never throws for API errors: it retries. */
  async run(signal: AbortSignal): Promise<void> {
    const o = this.options;
    const random = o.random ?? Math.random;
    let failures = 0;
    let needList = true;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.#list();
          needList = false;
          this.#markSynced();
        }
        if (await this.#watch(signal)) {
          failures = 0;
        } else if (!signal.aborted) {
          // A watch that ends before it says anything is retried with backoff, not at once:
          // a proxy that closes every stream would otherwise cause a reconnect storm.
          failures++;
          await sleep(this.#backoff(failures, random), signal);
        }
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof Expired) {
          this.stats.expired++;
          needList = true;
          continue;
        }
        this.stats.errors++;
        failures++;
        const delay = this.#backoff(failures, random);
        o.log?.warn("watch failed, retrying", {
          path: o.path,
          error: errorMessage(error),
          retryInMs: delay,
        });
        await sleep(delay, signal);
      }
    }
  }

  /** Full jitter: a random delay up to the capped exponential bound. */
  #backoff(failures: number, random: () => number): number {
    const o = this.options;
    const cap = Math.min(
      o.maxBackoffMs ?? 30_000,
      (o.initialBackoffMs ?? 250) * 2 ** (failures - 1),
    );
    return Math.round(cap * random());
  }

  async #list(): Promise<void> {
    const { items, resourceVersion } = await this.client.list(this.options.path, {
      labelSelector: this.options.labelSelector,
      fieldSelector: this.options.fieldSelector,
    }, this.options.reviver);
    this.stats.lists++;
    const seen = new Set<string>();
    for (const item of items) {
      const object = this.options.transform?.(item) ?? item;
      const key = keyOf(object);
      seen.add(key);
      await this.#apply(this.cache.has(key) ? "MODIFIED" : "ADDED", object);
    }
    for (const [key, object] of [...this.cache]) {
      if (!seen.has(key)) await this.#apply("DELETED", object);
    }
    this.#resourceVersion = resourceVersion;
  }

  /** One watch; returns whether it delivered anything. Throws `Expired` on 410. */
  async #watch(signal: AbortSignal): Promise<boolean> {
    const o = this.options;
    const idle = new AbortController();
    let cancelIdle: (() => void) | undefined;
    let silent = false;
    const arm = () => {
      cancelIdle?.();
      cancelIdle = after(o.idleTimeoutMs ?? 90_000, () => {
        silent = true;
        idle.abort();
      });
    };
    let delivered = false;
    this.stats.watches++;
    arm();
    try {
      const events = this.client.watch(o.path, {
        resourceVersion: this.#resourceVersion,
        labelSelector: o.labelSelector,
        fieldSelector: o.fieldSelector,
        timeoutSeconds: o.watchTimeoutSeconds ?? 300,
        signal: AbortSignal.any([signal, idle.signal]),
        reviver: o.reviver,
      });
      for await (const event of events) {
        arm();
        delivered = true;
        const rv = event.object?.metadata?.resourceVersion;
        if (event.type === "ERROR") {
          const code = (event.object as { code?: number }).code;
          if (code === 410) throw new Expired();
          throw new KubeApiError(
            code ?? 500,
            "WatchError",
            `watch error: ${JSON.stringify(event.object)}`,
          );
        }
        if (event.type === "BOOKMARK") {
          if (rv) this.#resourceVersion = rv;
          continue;
        }
        await this.#apply(event.type, o.transform?.(event.object) ?? event.object);
        if (rv) this.#resourceVersion = rv;
      }
      return delivered;
    } catch (error) {
      if (silent && !signal.aborted) {
        this.stats.idleReconnects++;
        o.log?.warn("watch went silent, reconnecting", {
          path: o.path,
          idleMs: o.idleTimeoutMs ?? 90_000,
        });
        return delivered;
      }
      if (error instanceof KubeApiError && error.status === 410) throw new Expired();
      throw error;
    } finally {
      cancelIdle?.();
    }
  }

  async #apply(type: InformerEventType, object: KubeObject): Promise<void> {
    const key = keyOf(object);
    const previous = this.cache.get(key);
    if (type === "DELETED") {
      if (!previous) return;
      this.cache.delete(key);
    } else {
      if (previous && previous.metadata?.resourceVersion === object.metadata?.resourceVersion) {
        this.stats.duplicatesDropped++;
        return;
      }
      this.cache.set(key, this.options.keep?.(object) ?? object);
      type = previous ? "MODIFIED" : "ADDED";
    }
    this.stats.events++;
    await this.options.onEvent(type, object, previous);
  }
}

/** The watch's resourceVersion is older than the server keeps: relist. */
class Expired extends Error {}
