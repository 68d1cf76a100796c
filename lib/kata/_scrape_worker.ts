/**
 * The scrape worker: the shim scrape loop ({@linkcode ShimScraper}) on its own thread and
 * event loop, so that answering `/metrics` on the daemon's thread can never starve it. Each
 * publication renders the sandboxes whose text or pod changed ({@linkcode renderSandbox})
 * and sends them with their bytes transferred, not copied. Loads no metrics library, zod or
 * YAML: the worker's isolate costs only what scraping needs.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { collectGarbage } from "../gc.ts";
import type { LogFields, Logger, LogLevel } from "../log.ts";
import {
  EntryPacker,
  type Layout,
  type PackedEntry,
  podKeyOf,
  renderSandbox,
  type SandboxEntry,
  type SandboxPod,
} from "./_render.ts";
import type { FromWorker, ScrapeSettings, ScrapeState, ToWorker } from "./_scrape_protocol.ts";
import type { Sandbox, SandboxEvent, SandboxSource } from "./sandboxes.ts";
import { type CycleStats, ShimScraper } from "./scraper.ts";

/** How often publications outside a cycle's end are sent, at most. */
const PUBLISH_EVERY_MS = 100;
/** Rendering between two pauses, in milliseconds. */
const SLICE_MS = 10;

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

function post(message: FromWorker, transfer: Transferable[] = []): void {
  self.postMessage(message, transfer);
}

/** Log lines go to the daemon's thread, which writes them with its logger. */
function workerLogger(level: LogLevel): Logger {
  const line = (at: LogLevel) => (message: string, fields?: LogFields) => {
    if (RANK[at] >= RANK[level]) {
      post({ type: "log", level: at, message, ...(fields ? { fields } : {}) });
    }
  };
  return {
    debug: line("debug"),
    info: line("info"),
    warn: line("warn"),
    error: line("error"),
    enabled: (at) => RANK[at] >= RANK[level],
  };
}

/** The sandboxes as the daemon's thread tells them. */
class RemoteSandboxes implements SandboxSource {
  readonly #byId = new Map<string, Sandbox>();
  readonly #listeners = new Set<(event: SandboxEvent) => void>();
  readonly scanned: Promise<void> = Promise.resolve();

  constructor(sandboxes: Sandbox[]) {
    for (const sandbox of sandboxes) this.#byId.set(sandbox.id, sandbox);
  }

  list(): Sandbox[] {
    return [...this.#byId.values()].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  }

  get(id: string): Sandbox | undefined {
    return this.#byId.get(id);
  }

  subscribe(listener: (event: SandboxEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  apply(event: SandboxEvent): void {
    if (event.type === "added") this.#byId.set(event.sandbox.id, event.sandbox);
    else if (this.#byId.get(event.sandbox.id)?.socket === event.sandbox.socket) {
      this.#byId.delete(event.sandbox.id);
    } else return;
    for (const listener of this.#listeners) listener(event);
  }
}

/** What the worker keeps of a sandbox's last rendering: enough to know when to redo it. */
interface Kept {
  text: string;
  podKey: string;
  scrapedAt: number | undefined;
  usage: SandboxEntry["usage"] | undefined;
}

function startScraping(message: Extract<ToWorker, { type: "start" }>) {
  const settings: ScrapeSettings = message.settings;
  const sandboxes = new RemoteSandboxes(message.sandboxes);
  let pods = new Map<string, SandboxPod>(message.pods);
  /** The rendering last sent of each sandbox. */
  const kept = new Map<string, Kept>();
  const packer = new EntryPacker();
  /** The layouts the daemon's thread has been sent. */
  const sent = new Set<number>();
  let recorded: number[] = [];
  let cycle: CycleStats | undefined;
  let scheduled = false;
  let stopped = false;
  /** The states of the last publication: sent at once, renderings follow. */
  const publish = () => {
    scheduled = false;
    clearTimeout(timer);
    timer = undefined;
    const published = scraper.published();
    const scrapes: ScrapeState[] = [];
    for (const [id, entry] of published) {
      const { text: _, ...state } = entry;
      scrapes.push(state);
      // A failed scrape's samples leave the aggregate now, not after the others render.
      if (entry.text === undefined) kept.delete(id);
    }
    for (const id of kept.keys()) if (!published.has(id)) kept.delete(id);
    post({ type: "publish", scrapes, recorded, ...(cycle ? { cycle } : {}) });
    recorded = [];
    renderSoon(cycle !== undefined);
    cycle = undefined;
  };
  let rendering: Promise<void> | undefined;
  let dirty = false;
  let cycleEnded = false;
  /**
   * Renders what changed since the last renderings were sent, in slices: the scrape loop
   * shares this thread, and its timers and sockets go on between slices, so that rendering
   * (about 1 ms of CPU per sandbox) never delays a scrape, even when the CPU is short.
   */
  const renderSoon = (ended: boolean) => {
    dirty = true;
    cycleEnded ||= ended;
    rendering ??= renderAll().finally(() => (rendering = undefined));
  };
  const renderAll = async () => {
    while (dirty && !stopped) {
      dirty = false;
      const made: [string, PackedEntry | null, string][] = [];
      const transfer: ArrayBuffer[] = [];
      let sliceStart = performance.now();
      for (const [id, entry] of scraper.published()) {
        if (stopped) return;
        if (entry.text === undefined) continue;
        const pod = pods.get(id);
        const podKey = podKeyOf(pod);
        const before = kept.get(id);
        if (before && before.text === entry.text && before.podKey === podKey) continue;
        const result = renderSandbox(
          { id, text: entry.text, scrapedAt: entry.scrapedAt, pod },
          before?.usage ? { usage: before.usage, scrapedAt: before.scrapedAt } : undefined,
          settings,
        );
        kept.set(id, {
          text: entry.text,
          podKey,
          scrapedAt: entry.scrapedAt,
          usage: result?.usage,
        });
        if (result === undefined) {
          made.push([id, null, entry.text]);
        } else {
          const { packed, transfer: buffers } = packer.pack(result);
          made.push([id, packed, entry.text]);
          transfer.push(...buffers);
        }
        if (performance.now() - sliceStart >= SLICE_MS) {
          await new Promise((resolve) => setTimeout(resolve, 0));
          sliceStart = performance.now();
        }
      }
      // Sandboxes scraped again, failed or gone while rendering: their renderings are stale.
      const now = scraper.published();
      const rendered: [string, PackedEntry | null][] = [];
      const layouts: [number, Layout][] = [];
      for (const [id, packed, text] of made) {
        const current = now.get(id)?.text;
        if (current !== text) {
          if (current === undefined) kept.delete(id);
          else dirty = true;
          continue;
        }
        rendered.push([id, packed]);
        if (packed && !sent.has(packed.layout)) {
          sent.add(packed.layout);
          layouts.push([packed.layout, packer.layout(packed.layout)]);
        }
      }
      if (rendered.length === 0 && !cycleEnded) continue;
      const ended = cycleEnded && !dirty;
      post({ type: "rendered", rendered, layouts, cycleEnded: ended }, transfer);
      if (ended) {
        cycleEnded = false;
        // Each cycle leaves the garbage of parsing and rendering every sandbox (about 100 KB
        // each), which V8 lets grow to several times the live set before collecting it: 200
        // MB of RSS at 1,000 sandboxes. Collected here, on this thread, once per cycle.
        collectGarbage();
      }
    }
  };
  // A cycle's end is sent at once. Other publications (each new sandbox's first scrape: a
  // thousand at start-up) are sent together, at most one every PUBLISH_EVERY_MS: each carries
  // the state of every sandbox.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const schedule = () => {
    if (cycle === undefined) {
      timer ??= setTimeout(publish, PUBLISH_EVERY_MS);
      return;
    }
    clearTimeout(timer);
    timer = undefined;
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(publish);
  };
  const scraper: ShimScraper = new ShimScraper({
    sandboxes,
    log: workerLogger(settings.logLevel),
    intervalMs: settings.intervalMs,
    timeoutMs: settings.timeoutMs,
    concurrency: settings.concurrency,
    maxBytes: settings.maxBytes,
    ...(settings.newSandboxRetriesMs ? { newSandboxRetriesMs: settings.newSandboxRetriesMs } : {}),
    recorder: { record: (durationMs, ok) => recorded.push(durationMs, ok ? 1 : 0) },
    onCycle: (stats) => (cycle = stats),
    onPublish: schedule,
  });
  const stop = new AbortController();
  const running = scraper.run(stop.signal);
  return {
    sandboxes,
    setPods(next: [string, SandboxPod][]) {
      pods = new Map(next);
      renderSoon(false);
    },
    async stop() {
      stop.abort();
      await running;
      stopped = true;
      clearTimeout(timer);
      await rendering;
    },
  };
}

let scraping: ReturnType<typeof startScraping> | undefined;
self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  if (message.type === "start") scraping ??= startScraping(message);
  else if (message.type === "added" || message.type === "removed") {
    scraping?.sandboxes.apply(message);
  } else if (message.type === "pods") scraping?.setPods(message.pods);
  else if (message.type === "stop") {
    await scraping?.stop();
    post({ type: "stopped" });
  }
};
