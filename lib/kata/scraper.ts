/**
 * The shim scrape loop: every `kata.metricsInterval` each known sandbox's shim is asked for
 * its metrics (at most `kata.scrapeConcurrency` at a time, each bounded by
 * `kata.scrapeTimeout` and `kata.maxResponseBytes`), and the raw text is kept in memory, so
 * the daemon's `GET /metrics` answers from the cache as KataPulse does instead of fanning
 * out to every shim per request as kata-monitor does. Parsing and aggregation happen in the
 * aggregator, from what a cycle publishes when it ends.
 *
 * A failed scrape (no answer in time, an error status, or an answer that is not Prometheus
 * text: see {@linkcode notPrometheusText}) drops that sandbox's text (kata-monitor leaves a
 * failing shim out of the aggregate rather than serving stale samples) but keeps the error
 * and the time for `/sandboxes`. A sandbox that appears is scraped at once, not at the next
 * cycle; one that disappears loses its entry. A hanging, slow or garbage-sending shim costs
 * only its own slot for at most the timeout.
 *
 * kata-monitor's own metrics (`monitor_metrics.ts`) count each scrape through the recorder
 * passed in; this module loads no metrics library, so that it can run in a worker.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { Sandbox, SandboxSource } from "./sandboxes.ts";
import {
  fetchShimMetrics,
  type FetchShimOptions,
  ShimError,
  type ShimErrorReason,
} from "./shim.ts";
import { sleep } from "../pool.ts";
import { errorMessage, InputError } from "../errors.ts";
import { parsePrometheusText, type ParseStats } from "../prom/mod.ts";

/** The cached result of the last scrape of one sandbox. */
export interface ShimScrape {
  sandbox: Sandbox;
  /** The shim's text from the last scrape; absent when it failed or none has finished. */
  text?: string;
  /** When the last scrape finished, successful or not (milliseconds since the epoch). */
  scrapedAt?: number;
  /** How long the last scrape took. */
  durationMs?: number;
  /** Why the last scrape failed; absent after a success. */
  error?: string;
  /** When a scrape last succeeded. */
  lastSuccessAt?: number;
  /** Failed scrapes since the last success. */
  consecutiveFailures: number;
}

/** What one cycle did. */
export interface CycleStats {
  /** When the cycle started (milliseconds since the epoch). */
  startedAt: number;
  /** Wall time of the whole cycle. */
  wallMs: number;
  sandboxes: number;
  ok: number;
  failed: number;
  /** Characters of text cached after the cycle, over every sandbox (bytes, for ASCII). */
  cachedChars: number;
}

/** Fetches one shim's text; {@linkcode fetchShimMetrics} unless a test swaps it. */
export type ShimFetcher = (socketPath: string, options: FetchShimOptions) => Promise<string>;

/** Options of {@linkcode ShimScraper}. */
export interface ShimScraperOptions {
  sandboxes: SandboxSource;
  /** Counts each scrape (kata-monitor's own metrics); none by default. */
  recorder?: ScrapeRecorder;
  log: Logger;
  /** `kata.metricsInterval`. */
  intervalMs: number;
  /** `kata.scrapeTimeout`, per shim. */
  timeoutMs: number;
  /** `kata.scrapeConcurrency`. */
  concurrency: number;
  /** `kata.maxResponseBytes`. */
  maxBytes: number;
  /**
   * Delays before retrying the first scrape of a new sandbox whose shim has no socket yet
   * or refuses (the directory appears before the shim listens); default 250 ms, 1 s, 4 s.
   */
  newSandboxRetriesMs?: readonly number[];
  /** Called after each cycle. */
  onCycle?: (stats: CycleStats) => void;
  /** Called when {@linkcode ShimScraper.published} has changed. */
  onPublish?: () => void;
  fetch?: ShimFetcher;
  /** The clock; default `Date.now`. */
  now?: () => number;
}

/** How one scrape went. */
interface Outcome {
  ok: boolean;
  reason?: ShimErrorReason;
}

/** Where each finished scrape is counted (kata-monitor's own metrics, in the daemon). */
export interface ScrapeRecorder {
  /** One scrape of one shim finished (not cancelled) after `durationMs`. */
  record(durationMs: number, ok: boolean): void;
}

/**
 * Scrapes every shim on an interval and caches the texts.
 *
 * @example Usage
 * ```ts
 * const scraper = new ShimScraper({
 *   sandboxes, log,
 *   intervalMs: 60_000, timeoutMs: 3000, concurrency: 8, maxBytes: 16 << 20,
 * });
 * const running = scraper.run(signal);
 * const texts = [...scraper.snapshot().values()].flatMap((e) => e.text ?? []);
 * ```
 */
export class ShimScraper {
  readonly #options: ShimScraperOptions;
  readonly #fetch: ShimFetcher;
  readonly #now: () => number;
  readonly #entries = new Map<string, ShimScrape>();
  /** Scrapes in flight by sandbox id, with the controller that cancels them. */
  readonly #inFlight = new Map<
    string,
    { done: Promise<Outcome | undefined>; abort: AbortController }
  >();
  /** Background work (first scrapes of new sandboxes) awaited when `run` ends. */
  readonly #background = new Set<Promise<void>>();
  readonly #limiter: Limiter;
  /** Aborted when `run` ends: cancels the scrapes in flight. */
  #stopping = new AbortController();
  #lastCycle: CycleStats | undefined;
  #markCycled!: () => void;
  /** What {@linkcode published} returns: the entries as of the last publication. */
  #published: ReadonlyMap<string, ShimScrape> = new Map();
  /** Cycles running now: while one runs, scrapes are published when it ends. */
  #cycling = 0;
  /** Settles when the first cycle is done (for readiness). */
  readonly cycled: Promise<void>;

  /** Creates the scraper. */
  constructor(options: ShimScraperOptions) {
    this.#options = options;
    this.#fetch = options.fetch ?? fetchShimMetrics;
    this.#now = options.now ?? Date.now;
    this.#limiter = new Limiter(options.concurrency);
    this.cycled = new Promise((resolve) => this.#markCycled = resolve);
  }

  /** The last cycle's figures, once one has run. */
  get lastCycle(): CycleStats | undefined {
    return this.#lastCycle;
  }

  /**
   * Every known sandbox with its cached scrape, by id in id order; a sandbox not scraped
   * yet has an entry without `scrapedAt`. Entries are replaced, never changed, so the map
   * can be read while scrapes go on.
   */
  snapshot(): Map<string, ShimScrape> {
    return snapshotOf(this.#options.sandboxes, this.#entries);
  }

  /**
   * The scrapes as of the end of the last cycle, or of the last scrape or removal outside a
   * cycle (a new sandbox's first scrape), by id: what the aggregate is built from. Held back
   * while a cycle runs, so that the aggregate, rendered again whenever one sandbox changes,
   * changes once per cycle instead of once per shim. The same map until the next change.
   */
  published(): ReadonlyMap<string, ShimScrape> {
    return this.#published;
  }

  #publish(): void {
    this.#published = new Map(this.#entries);
    this.#options.onPublish?.();
  }

  /** Scrapes every known sandbox once (at most `concurrency` at a time) and returns figures. */
  async scrapeOnce(signal?: AbortSignal): Promise<CycleStats> {
    this.#cycling++;
    try {
      return await this.#cycle(signal);
    } finally {
      if (--this.#cycling === 0) this.#publish();
    }
  }

  async #cycle(signal?: AbortSignal): Promise<CycleStats> {
    const startedAt = this.#now();
    const started = performance.now();
    // Shims that failed last time go last: when several hang, they hold the slots after the
    // healthy ones are done instead of before.
    const failing = (id: string) => (this.#entries.get(id)?.consecutiveFailures ?? 0) > 0 ? 1 : 0;
    const sandboxes = this.#options.sandboxes.list()
      .map((sandbox, index) => ({ sandbox, index, last: failing(sandbox.id) }))
      .sort((a, b) => a.last - b.last || a.index - b.index)
      .map((item) => item.sandbox);
    const results = await Promise.all(
      sandboxes.map((sandbox) => this.scrapeSandbox(sandbox.id, signal)),
    );
    let cachedChars = 0;
    for (const [id, entry] of this.#entries) {
      // Outside `run` no removal events arrive: the listing is what prunes.
      if (this.#options.sandboxes.get(id)?.socket !== entry.sandbox.socket) {
        this.#entries.delete(id);
      } else {
        cachedChars += entry.text?.length ?? 0;
      }
    }
    const stats: CycleStats = {
      startedAt,
      wallMs: performance.now() - started,
      sandboxes: sandboxes.length,
      ok: results.filter((r) => r === true).length,
      failed: results.filter((r) => r === false).length,
      cachedChars,
    };
    this.#lastCycle = stats;
    this.#markCycled();
    this.#options.onCycle?.(stats);
    return stats;
  }

  /**
   * Scrapes one sandbox now and updates its entry. A scrape of the same sandbox already in
   * flight is joined rather than doubled. Resolves to whether it succeeded, or `undefined`
   * when the sandbox is unknown or went away meanwhile.
   */
  async scrapeSandbox(id: string, signal?: AbortSignal): Promise<boolean | undefined> {
    return (await this.#scrapeSandbox(id, signal))?.ok;
  }

  async #scrapeSandbox(id: string, signal?: AbortSignal): Promise<Outcome | undefined> {
    const running = this.#inFlight.get(id);
    if (running) return await running.done;
    const sandbox = this.#options.sandboxes.get(id);
    if (!sandbox) return undefined;
    const abort = new AbortController();
    const signals = [abort.signal, this.#stopping.signal, ...(signal ? [signal] : [])];
    const done = this.#limiter.run(async () => {
      if (signals.some((s) => s.aborted)) return undefined;
      return await this.#scrape(sandbox, AbortSignal.any(signals));
    });
    this.#inFlight.set(id, { done, abort });
    try {
      return await done;
    } finally {
      this.#inFlight.delete(id);
      if (this.#cycling === 0) this.#publish();
    }
  }

  async #scrape(sandbox: Sandbox, signal: AbortSignal): Promise<Outcome | undefined> {
    const { log, timeoutMs, maxBytes } = this.#options;
    const started = performance.now();
    let text: string | undefined;
    let error: unknown;
    try {
      text = await this.#fetch(sandbox.socket, {
        timeoutMs,
        maxBytes,
        signal,
        sandboxId: sandbox.id,
      });
      const problem = notPrometheusText(text);
      if (problem !== undefined) {
        throw new ShimError(
          `shim-monitor.sock of sandbox ${JSON.stringify(sandbox.id)}: ${problem}`,
          "protocol",
        );
      }
    } catch (caught) {
      error = caught;
      text = undefined;
    }
    const durationMs = performance.now() - started;
    // Gone, or replaced under another root, while the request ran: nothing to record.
    if (this.#options.sandboxes.get(sandbox.id)?.socket !== sandbox.socket) return undefined;
    if (error instanceof ShimError && error.reason === "aborted") return undefined;

    this.#options.recorder?.record(durationMs, error === undefined);
    const scrapedAt = this.#now();
    const previous = this.#entries.get(sandbox.id);
    if (error === undefined) {
      this.#entries.set(sandbox.id, {
        sandbox,
        text,
        scrapedAt,
        durationMs,
        lastSuccessAt: scrapedAt,
        consecutiveFailures: 0,
      });
      return { ok: true };
    }
    const message = errorMessage(error);
    const failures = (previous?.consecutiveFailures ?? 0) + 1;
    this.#entries.set(sandbox.id, {
      sandbox,
      scrapedAt,
      durationMs,
      error: message,
      ...(previous?.lastSuccessAt !== undefined ? { lastSuccessAt: previous.lastSuccessAt } : {}),
      consecutiveFailures: failures,
    });
    // Say it when it starts failing, not every cycle while it keeps failing.
    if (failures === 1) {
      log.warn("cannot scrape a Kata shim", { sandbox: sandbox.id, error: message });
    } else log.debug("cannot scrape a Kata shim", { sandbox: sandbox.id, error: message });
    return { ok: false, ...(error instanceof ShimError ? { reason: error.reason } : {}) };
  }

  /** Scrapes on the interval until `signal` aborts, then waits for scrapes in flight. */
  async run(signal: AbortSignal): Promise<void> {
    const { sandboxes, intervalMs } = this.#options;
    this.#stopping = new AbortController();
    const stopping = this.#stopping;
    const stop = () => stopping.abort();
    signal.addEventListener("abort", stop, { once: true });
    const unsubscribe = sandboxes.subscribe((event) => {
      if (event.type === "removed") {
        this.#entries.delete(event.sandbox.id);
        this.#inFlight.get(event.sandbox.id)?.abort.abort();
        if (this.#cycling === 0) this.#publish();
      } else if (!signal.aborted) {
        this.#track(this.#first(event.sandbox.id, signal));
      }
    });
    try {
      await Promise.race([sandboxes.scanned, abortPromise(signal)]);
      while (!signal.aborted) {
        const started = performance.now();
        await this.scrapeOnce(signal);
        await sleep(Math.max(0, intervalMs - (performance.now() - started)), signal);
      }
    } finally {
      unsubscribe();
      signal.removeEventListener("abort", stop);
      stopping.abort();
      await Promise.all([...this.#background]);
      await Promise.all([...this.#inFlight.values()].map((f) => f.done));
    }
  }

  /** The first scrape of a new sandbox, retried while its shim is not listening yet. */
  async #first(id: string, signal: AbortSignal): Promise<void> {
    const retries = this.#options.newSandboxRetriesMs ?? [250, 1000, 4000];
    for (let attempt = 0; !signal.aborted; attempt++) {
      const outcome = await this.#scrapeSandbox(id, signal);
      const delay = retries[attempt];
      if (outcome?.ok !== false || delay === undefined) return;
      if (outcome.reason !== "missing" && outcome.reason !== "refused") return;
      // A cycle may scrape it meanwhile: then the cycle owns it.
      const before = this.#entries.get(id);
      await sleep(delay, signal);
      if (this.#entries.get(id) !== before) return;
    }
  }

  #track(work: Promise<void>): void {
    this.#background.add(work);
    work.finally(() => this.#background.delete(work));
  }
}

/**
 * Why a shim's answer is not Prometheus text, or `undefined` when it is. Not text is an
 * answer in which no line reads as a sample and some line does not read at all: an HTML
 * error page, JSON, binary. One that has samples keeps them and loses only its bad lines
 * (the aggregator parses leniently), and an empty one is a shim with nothing to say. Parsing
 * stops at the second sample, so a healthy answer costs its first few lines.
 *
 * @example Usage
 * ```ts
 * notPrometheusText("<html>Bad Gateway</html>\n"); // 'answered no Prometheus text (Line 1: ...)'
 * notPrometheusText("kata_shim_fds 12\n"); // undefined
 * ```
 */
export function notPrometheusText(text: string): string | undefined {
  const stats: ParseStats = { samples: 0, skipped: 0, errors: [] };
  try {
    parsePrometheusText(text, { lenient: true, maxSamples: 1, stats });
  } catch (error) {
    // Lenient, the parser throws only past maxSamples: a second sample was read.
    if (error instanceof InputError) return undefined;
    throw error;
  }
  if (stats.samples > 0 || stats.skipped === 0) return undefined;
  return `answered no Prometheus text (${stats.errors[0]})`;
}

/**
 * Every sandbox of `sandboxes` with its entry in `entries`, by id in id order; one without an
 * entry (or with an entry of another socket, gone and found again) gets an empty one.
 */
export function snapshotOf<T extends { sandbox: Sandbox; consecutiveFailures: number }>(
  sandboxes: SandboxSource,
  entries: ReadonlyMap<string, T>,
): Map<string, T | { sandbox: Sandbox; consecutiveFailures: number }> {
  const out = new Map<string, T | { sandbox: Sandbox; consecutiveFailures: number }>();
  for (const sandbox of sandboxes.list()) {
    const entry = entries.get(sandbox.id);
    out.set(
      sandbox.id,
      entry && entry.sandbox.socket === sandbox.socket
        ? entry
        : { sandbox, consecutiveFailures: 0 },
    );
  }
  return out;
}

/** At most `limit` tasks at a time, first come first served. */
class Limiter {
  #active = 0;
  readonly #queue: (() => void)[] = [];

  constructor(readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.limit) {
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else {
      this.#active++;
    }
    try {
      return await task();
    } finally {
      const next = this.#queue.shift();
      if (next) next();
      else this.#active--;
    }
  }
}

function abortPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
