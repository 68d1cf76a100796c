/**
 * The Kata Containers side of the daemon: sandbox discovery, the shim scrape loop, pod
 * metadata from the CRI runtime, and the aggregate the HTTP routes serve (`/metrics`,
 * `/sandboxes`, `/metrics?sandbox=ID`), on when `kata.enabled`.
 *
 * @module
 */
import { MetricsAggregator, type SandboxScrape, type SandboxUsage } from "../../lib/kata/mod.ts";
import { CriClient, CriMetadataCache } from "../../lib/kata/mod.ts";
import { isValidSandboxId, type Sandbox, SandboxDirectory } from "../../lib/kata/mod.ts";
import { ShimScraper } from "../../lib/kata/mod.ts";
import { fetchShimBytes } from "../../lib/kata/mod.ts";
import { type SandboxView, sandboxView } from "../../lib/kata/mod.ts";
import { type Feature, type FeatureContext, superviseStage } from "../feature.ts";

export type { SandboxView };

/** What the HTTP routes need of the Kata side. */
export interface KataApi {
  /** Brings the aggregate up to date with the last scrape cycle and returns it. */
  aggregate(): MetricsAggregator;
  sandboxes(): SandboxView[];
  /** What a sandbox uses (CPUs, memory), from its last scrapes. */
  usage(id: string): SandboxUsage | undefined;
  /** Whether the id is known: `invalid`, `unknown`, or the sandbox. */
  lookup(id: string): Sandbox | "invalid" | "unknown";
  /** One shim's answer, fetched now: its bytes as sent, whatever they are. */
  fetchOne(sandbox: Sandbox): Promise<Uint8Array<ArrayBuffer>>;
}

/** The Kata feature, with what the HTTP routes read of it while it runs. */
export interface KataFeature extends Feature {
  /** The sandboxes' metrics and list; undefined while the feature is off. */
  api(): KataApi | undefined;
}

/** Creates the Kata feature. */
export function kataFeature(context: FeatureContext): KataFeature {
  let running: { api: KataApi; scanned: Promise<void>; done: Promise<unknown> } | undefined;
  let scanned = false;
  return {
    name: "kata",
    title: "Kata sandbox metrics",
    enabled: context.config.kata.enabled,
    start() {
      running = startKata(context);
      running.scanned.then(() => (scanned = true));
      context.metrics.up.set({ feature: "kata" }, 1);
      return Promise.resolve();
    },
    async stop() {
      await running?.done;
    },
    ready: () => scanned,
    api: () => running?.api,
  };
}

/** Starts discovery, scraping and CRI sync, each supervised; stops when the signal aborts. */
function startKata(context: FeatureContext) {
  const { config, log, signal } = context;
  const registry = context.metrics.registry;
  const kata = config.kata;
  const directory = new SandboxDirectory({ roots: kata.sandboxRoots, log });
  const scraper = new ShimScraper({
    sandboxes: directory,
    registry,
    log,
    intervalMs: kata.metricsInterval,
    timeoutMs: kata.scrapeTimeout,
    concurrency: kata.scrapeConcurrency,
    maxBytes: kata.maxResponseBytes,
    // The aggregate follows every cycle, not only the scrapes of /metrics: the pages' CPU
    // rates need two cycles of it. A /metrics request after it finds nothing left to do.
    onCycle: () => api.aggregate(),
  });
  const cri = new CriClient(kata.runtimeEndpoint);
  const metadata = new CriMetadataCache({
    client: cri,
    syncIntervalMs: kata.criSyncInterval,
    logger: log,
  });
  const report = () => metadata.onSandboxesChanged(directory.list().map((s) => s.id));
  directory.subscribe(report);
  directory.scanned.then(report);
  const aggregator = new MetricsAggregator();
  // What the aggregate was last brought up to date with: both maps are replaced, never
  // changed, so a request finding the same two skips the walk over every sandbox.
  let from: { scrapes?: ReadonlyMap<string, unknown>; pods?: ReadonlyMap<string, unknown> } = {};
  const api: KataApi = {
    aggregate() {
      const published = scraper.published();
      const pods = metadata.entries();
      if (published === from.scrapes && pods === from.pods) return aggregator;
      const scrapes: SandboxScrape[] = [];
      for (const [id, entry] of published) {
        scrapes.push({ id, text: entry.text, scrapedAt: entry.scrapedAt, pod: pods.get(id) });
      }
      aggregator.update(scrapes);
      from = { scrapes: published, pods };
      return aggregator;
    },
    sandboxes() {
      const snapshot = scraper.snapshot();
      return directory.list().map((sandbox) => {
        const entry = snapshot.get(sandbox.id);
        return sandboxView(sandbox, metadata.get(sandbox.id), {
          scrapedAt: entry?.scrapedAt,
          error: entry?.error,
        });
      });
    },
    usage(id) {
      return api.aggregate().usage(id);
    },
    lookup(id) {
      if (!isValidSandboxId(id)) return "invalid";
      return directory.get(id) ?? "unknown";
    },
    fetchOne(sandbox) {
      return fetchShimBytes(sandbox.socket, {
        timeoutMs: kata.scrapeTimeout,
        maxBytes: kata.maxResponseBytes,
        sandboxId: sandbox.id,
        signal,
      });
    },
  };
  // Each loop is restarted on its own should it fail; none takes the others down.
  const done = Promise.all([
    superviseStage(context, "sandbox-discovery", (s) => directory.run(s)),
    superviseStage(context, "shim-scraper", (s) => scraper.run(s)),
    superviseStage(context, "cri-sync", (s) => metadata.run(s)),
  ]).finally(() => cri.close());
  return { api, scanned: directory.scanned, done };
}
