/**
 * The shim scrape loop run in a Web Worker, seen from the daemon's thread: connecting to the
 * shims, reading, checking and rendering each sandbox's lines happen on the worker's own
 * thread and event loop, so that a flood of `/metrics` requests on this thread can never hold
 * back a scrape. The sandboxes (from discovery) and their pods (from the CRI runtime) are
 * sent to it as they change; it sends back each publication of the scrape loop (the end of a
 * cycle, a new sandbox's first scrape, a removal) with the sandboxes rendered since, their
 * bytes transferred rather than copied.
 *
 * The worker starts once there is a sandbox (an idle node pays nothing for it) and is
 * terminated when {@linkcode ScrapeWorker.run} ends. A worker that crashes makes `run`
 * reject, the worker gone: the daemon's supervision restarts it with a backoff and counts it
 * (`agent_stage_restarts_total{stage="shim-scraper"}`); the last publication is served
 * meanwhile.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { errorMessage } from "../errors.ts";
import { type Layout, type SandboxEntry, type SandboxPod, unpackEntry } from "./_render.ts";
import type { FromWorker, ScrapeSettings, ScrapeState, ToWorker } from "./_scrape_protocol.ts";
import type { SandboxSource } from "./sandboxes.ts";
import { type CycleStats, type ScrapeRecorder, snapshotOf } from "./scraper.ts";

/** One sandbox's last published scrape, with its rendering when it has samples. */
export interface PublishedScrape extends ScrapeState {
  rendered?: SandboxEntry;
}

/** Options of {@linkcode ScrapeWorker}. */
export interface ScrapeWorkerOptions extends Omit<ScrapeSettings, "logLevel"> {
  sandboxes: SandboxSource;
  log: Logger;
  /** The sandboxes' pods, read again every `podsCheckMs`; sent to the worker when replaced. */
  pods?: () => ReadonlyMap<string, SandboxPod>;
  /** How often `pods` is looked at; default 1 s. */
  podsCheckMs?: number;
  /** Counts each scrape (kata-monitor's own metrics). */
  recorder?: ScrapeRecorder;
  /** Called when {@linkcode ScrapeWorker.published} has changed; `cycleEnded` at a cycle's end. */
  onPublish?: (cycleEnded: boolean) => void;
  /** The worker's module; only tests change it. */
  workerUrl?: URL;
}

/** The failure `run` rejects with when the worker crashed. */
export class ScrapeWorkerCrash extends Error {
  override name = "ScrapeWorkerCrash";
}

/**
 * Runs the scrape loop in a worker and keeps what it publishes.
 *
 * @example Usage
 * ```ts
 * const scraper = new ScrapeWorker({
 *   sandboxes, log, intervalMs: 60_000, timeoutMs: 3000, concurrency: 8,
 *   maxBytes: 16 << 20, maxSamplesPerShim: 100_000, cadvisor: true,
 * });
 * const running = scraper.run(signal);
 * const rendered = [...scraper.published().values()].flatMap((s) => s.rendered ?? []);
 * ```
 */
export class ScrapeWorker {
  readonly #options: ScrapeWorkerOptions;
  #published: ReadonlyMap<string, PublishedScrape> = new Map();
  #lastCycle: CycleStats | undefined;
  /** A cycle whose sandboxes are being rendered. */
  #pendingCycle: CycleStats | undefined;
  #markCycled!: () => void;
  #workersStarted = 0;
  /** Settles when the first cycle is done (for readiness). */
  readonly cycled: Promise<void>;

  /** Creates the scraper; nothing starts before {@linkcode run}. */
  constructor(options: ScrapeWorkerOptions) {
    this.#options = options;
    this.cycled = new Promise((resolve) => this.#markCycled = resolve);
  }

  /** The last cycle's figures, once one has run and its sandboxes are rendered. */
  get lastCycle(): CycleStats | undefined {
    return this.#lastCycle;
  }

  /** How many workers {@linkcode run} has started (none while there is no sandbox). */
  get workersStarted(): number {
    return this.#workersStarted;
  }

  /**
   * The scrapes as the worker last published them, by id in id order: the same map until
   * the next publication.
   */
  published(): ReadonlyMap<string, PublishedScrape> {
    return this.#published;
  }

  /** Every known sandbox with its last published scrape (none yet: no `scrapedAt`). */
  snapshot(): Map<string, PublishedScrape> {
    return snapshotOf(this.#options.sandboxes, this.#published);
  }

  #receive(message: FromWorker, layouts: Map<number, Layout>): void {
    if (message.type === "log") {
      this.#options.log[message.level](message.message, message.fields);
      return;
    }
    if (message.type === "publish") {
      const recorder = this.#options.recorder;
      for (let i = 0; recorder && i < message.recorded.length; i += 2) {
        recorder.record(message.recorded[i]!, message.recorded[i + 1] === 1);
      }
      const next = new Map<string, PublishedScrape>();
      for (const state of message.scrapes) {
        const id = state.sandbox.id;
        // A failed scrape has no samples now; the others keep theirs until rendered again.
        const rendered = state.error === undefined ? this.#published.get(id)?.rendered : undefined;
        next.set(id, rendered ? { ...state, rendered } : state);
      }
      this.#published = next;
      if (message.cycle) this.#pendingCycle = message.cycle;
      this.#options.onPublish?.(false);
      return;
    }
    if (message.type !== "rendered") return;
    for (const [id, layout] of message.layouts) layouts.set(id, layout);
    const next = new Map(this.#published);
    for (const [id, packed] of message.rendered) {
      const state = next.get(id);
      // Gone meanwhile: nothing to render.
      if (state === undefined) continue;
      const { rendered: _, ...rest } = state;
      next.set(id, packed ? { ...rest, rendered: unpackEntry(packed, layouts) } : rest);
    }
    this.#published = next;
    if (message.cycleEnded && this.#pendingCycle) {
      this.#lastCycle = this.#pendingCycle;
      this.#pendingCycle = undefined;
      this.#markCycled();
    }
    this.#options.onPublish?.(message.cycleEnded);
  }

  /**
   * Runs the worker (once there is a sandbox) until `signal` aborts, then stops it: the
   * scrapes in flight end, and the worker is terminated. Rejects with
   * {@linkcode ScrapeWorkerCrash} when the worker crashes, after terminating it.
   */
  async run(signal: AbortSignal): Promise<void> {
    const { sandboxes } = this.#options;
    await Promise.race([sandboxes.scanned, aborted(signal)]);
    // Started by the first sandbox, not before: an idle node has no worker.
    await new Promise<void>((resolve) => {
      if (signal.aborted || sandboxes.list().length > 0) return resolve();
      const unsubscribe = sandboxes.subscribe(() => {
        if (sandboxes.list().length === 0) return;
        unsubscribe();
        resolve();
      });
      signal.addEventListener("abort", () => (unsubscribe(), resolve()), { once: true });
    });
    if (signal.aborted) return;
    await this.#runWorker(signal);
  }

  async #runWorker(signal: AbortSignal): Promise<void> {
    const options = this.#options;
    const worker = options.workerUrl
      ? new Worker(options.workerUrl, { type: "module" })
      : new Worker(new URL("./_scrape_worker.ts", import.meta.url), { type: "module" });
    this.#workersStarted++;
    const send = (message: ToWorker) => worker.postMessage(message);
    let crashed: (error: Error) => void = () => {};
    let stopped: () => void = () => {};
    const crash = new Promise<never>((_, reject) => (crashed = reject));
    // A crash while stopping is no failure: nobody waits for it then.
    crash.catch(() => {});
    const stoppedNow = new Promise<void>((resolve) => (stopped = resolve));
    // The worker's layouts of families, by its numbers.
    const layouts = new Map<number, Layout>();
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      if (event.data.type === "stopped") return stopped();
      try {
        this.#receive(event.data, layouts);
      } catch (error) {
        // A message that does not make sense: the worker is broken, start another.
        crashed(new ScrapeWorkerCrash(`The scrape worker's message: ${errorMessage(error)}`));
      }
    };
    worker.onerror = (event: ErrorEvent) => {
      // Handled here: unhandled, a worker's error would end the daemon.
      event.preventDefault();
      crashed(new ScrapeWorkerCrash(`The scrape worker crashed: ${event.message}`));
    };
    worker.onmessageerror = () => crashed(new ScrapeWorkerCrash("The scrape worker's message"));
    const pods = () =>
      [...(options.pods?.() ?? new Map()).entries()].map(
        ([id, pod]): [string, SandboxPod] => [
          id,
          { uid: pod.uid, name: pod.name, namespace: pod.namespace },
        ],
      );
    let podsSent = options.pods?.();
    const unsubscribe = options.sandboxes.subscribe((event) => send(event));
    const podsTimer = setInterval(() => {
      const now = options.pods?.();
      if (now === podsSent) return;
      podsSent = now;
      send({ type: "pods", pods: pods() });
    }, options.podsCheckMs ?? 1000);
    const log = options.log;
    send({
      type: "start",
      settings: {
        intervalMs: options.intervalMs,
        timeoutMs: options.timeoutMs,
        concurrency: options.concurrency,
        maxBytes: options.maxBytes,
        maxSamplesPerShim: options.maxSamplesPerShim,
        cadvisor: options.cadvisor,
        ...(options.newSandboxRetriesMs
          ? { newSandboxRetriesMs: options.newSandboxRetriesMs }
          : {}),
        logLevel: (["debug", "info", "warn", "error"] as const).find((l) => log.enabled(l)) ??
          "error",
      },
      sandboxes: options.sandboxes.list(),
      pods: pods(),
    });
    try {
      await Promise.race([crash, aborted(signal)]);
      // Stopped: the scrapes in flight end (each within its timeout), then the worker goes.
      send({ type: "stop" });
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        stoppedNow,
        crash.catch(() => {}),
        new Promise((resolve) => (timer = setTimeout(resolve, options.timeoutMs + 2000))),
      ]);
      clearTimeout(timer);
    } catch (error) {
      log.debug("the scrape worker crashed", { error: errorMessage(error) });
      throw error;
    } finally {
      clearInterval(podsTimer);
      unsubscribe();
      worker.terminate();
    }
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
