/**
 * The Kata Containers side of the daemon: sandbox discovery, the shim scrape loop, pod
 * metadata from the CRI runtime, and the aggregate the HTTP routes serve (`/metrics`,
 * `/sandboxes`, `/metrics?sandbox=ID`), on when `kata.enabled`.
 *
 * @module
 */
import type { MetricsAggregator, SandboxScrape, SandboxUsage } from "../../lib/kata/mod.ts";
import { CriClient, CriMetadataCache, type PodMetadata } from "../../lib/cri/mod.ts";
import type { Sandbox, SandboxEntry, SandboxView } from "../../lib/kata/mod.ts";
import type { PublishedScrape } from "../../lib/kata/mod.ts";
import { type Feature, type FeatureContext, superviseStage } from "../feature.ts";

export type { SandboxView };

/** What the HTTP routes need of the Kata side. */
export interface KataApi {
  /**
   * The aggregate: the last state built, or, when sandboxes came, went, failed or got their
   * pod since, the state with them, once built. `gzip` says that gzip answers are wanted, so
   * that the body is deflated ahead; `serve: false` that the caller reads the state (families,
   * usage) and serves no body, so that the body is not rendered ahead for it.
   */
  aggregate(
    options?: { gzip?: boolean; serve?: boolean },
  ): MetricsAggregator | Promise<MetricsAggregator>;
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
    async start() {
      // Loaded only when the feature is on: a node without Kata never holds `lib/kata`.
      running = startKata(context, await import("../../lib/kata/mod.ts"));
      running.scanned.then(() => (scanned = true));
      context.metrics.up.set({ feature: "kata" }, 1);
    },
    async stop() {
      await running?.done;
    },
    ready: () => scanned,
    api: () => running?.api,
  };
}

/** Starts discovery, scraping and CRI sync, each supervised; stops when the signal aborts. */
function startKata(context: FeatureContext, lib: typeof import("../../lib/kata/mod.ts")) {
  const { config, log, signal } = context;
  const registry = context.metrics.registry;
  const kata = config.kata;
  const directory = new lib.SandboxDirectory({ roots: kata.sandboxRoots, log });
  const cri = new CriClient(kata.runtimeEndpoint);
  const metadata = new CriMetadataCache({
    client: cri,
    syncIntervalMs: kata.criSyncInterval,
    logger: log,
  });
  // The scrape loop runs in a worker: serving `/metrics` here cannot hold it back.
  const scraper = new lib.ScrapeWorker({
    sandboxes: directory,
    log,
    intervalMs: kata.metricsInterval,
    timeoutMs: kata.scrapeTimeout,
    concurrency: kata.scrapeConcurrency,
    maxBytes: kata.maxResponseBytes,
    maxSamplesPerShim: 100_000,
    cadvisor: true,
    pods: () => metadata.entries(),
    recorder: lib.createKataMonitorMetrics(registry, () => directory.size),
    // Publications come once `run` has started, after `rebuild` is defined.
    onPublish: (cycleEnded) => {
      sweep();
      const built = Date.now() - askedAt < interestMs ? rebuild() : Promise.resolve();
      // Once per cycle, when the last state is dropped, the rest of its garbage is collected:
      // with the cycle's buffers already freed (below), that pause is shorter than it was,
      // and a request flood's garbage does not pile up between V8's own collections.
      // `lib/gc.ts` (with `node:vm` and `node:v8`, a few MB) is imported with the first
      // cycle's end, not at start: a daemon without sandboxes never needs it.
      if (cycleEnded) {
        void built.then(() => import("../../lib/gc.ts")).then(({ collectGarbage }) =>
          collectGarbage()
        );
      }
    },
  });
  const report = () => metadata.onSandboxesChanged(directory.list().map((s) => s.id));
  directory.subscribe(report);
  directory.scanned.then(report);
  const aggregator = new lib.MetricsAggregator();
  // What the aggregate holds: both maps are replaced, never changed, so finding the same two
  // means nothing to do.
  let built: Built = { scrapes: new Map(), pods: new Map() };
  let building: Promise<void> | undefined;
  /** The scrapes of the build under way. */
  let buildingScrapes: ReadonlyMap<string, PublishedScrape> | undefined;
  /** The publication {@linkcode sweep} last looked at. */
  let swept: ReadonlyMap<string, PublishedScrape> = new Map();
  /** Renderings replaced since, still held by the state served or the build under way. */
  let retired: SandboxEntry[] = [];
  // Each cycle replaces every sandbox's rendering (25 MB at 1,000 sandboxes). Left to V8,
  // such buffers wait for a collection of the old generation; a rendering is freed here as
  // soon as nothing can read it: neither the last publication nor the scrapes of the state
  // served or being built hold it (each reads it only synchronously, when it assembles a
  // body). So they never pile up, and the collection once per cycle has less to do.
  const sweep = () => {
    const now = scraper.published();
    if (now !== swept) {
      for (const [id, entry] of swept) {
        const rendered = entry.rendered;
        if (rendered && now.get(id)?.rendered !== rendered) retired.push(rendered);
      }
      swept = now;
    }
    if (retired.length === 0) return;
    const holders = [now, built.scrapes, ...(buildingScrapes ? [buildingScrapes] : [])];
    retired = retired.filter((entry) => {
      const id = entry.labels.sandbox_id!;
      if (holders.some((scrapes) => scrapes.get(id)?.rendered === entry)) return true;
      lib.releaseEntry(entry);
      return false;
    });
  };
  let gzipAsked = false;
  /** When `/metrics` was last asked for. */
  let askedAt = -Infinity;
  /** Whether `/metrics` was asked for since the build under way started. */
  let askedSince = false;
  // Someone scrapes `/metrics` when a request came within two intervals (or a minute).
  const interestMs = Math.max(2 * kata.metricsInterval, 60_000);
  // Built in the background, in slices, when a cycle publishes while someone scrapes
  // `/metrics` (nothing is done for nobody): the event loop keeps serving requests and
  // scraping meanwhile, and requests that find a build under way are answered from the last
  // state instead of each paying for (and blocking everything behind) the new one.
  const rebuild = (): Promise<void> => {
    building ??= (async () => {
      do {
        const scrapes = scraper.published();
        const pods = metadata.entries();
        if (scrapes === built.scrapes && pods === built.pods) return;
        askedSince = false;
        buildingScrapes = scrapes;
        const list: SandboxScrape[] = [];
        for (const [id, entry] of scrapes) {
          // Rendered by the worker, with the pod it knew: taken as it is.
          list.push({
            id,
            text: undefined,
            scrapedAt: entry.scrapedAt,
            pod: pods.get(id),
            ...(entry.rendered ? { rendered: entry.rendered } : {}),
          });
        }
        // The body is rendered ahead only for someone who scrapes `/metrics`; a reader of the
        // state alone (the anomaly detectors) does not pay 5 MB of text per cycle for it.
        const scraped = Date.now() - askedAt < interestMs;
        await aggregator.updateInSlices(list, {
          ...(scraped ? { prebuild: { cadvisor: false, gzip: gzipAsked } } : {}),
        });
        built = { scrapes, pods };
      } while (askedSince);
    })().catch((error) => log.error("cannot aggregate the sandboxes' metrics", { error }))
      .finally(() => {
        building = undefined;
        buildingScrapes = undefined;
        sweep();
      });
    return building;
  };
  const api: KataApi = {
    async aggregate(options) {
      if (options?.gzip) gzipAsked = true;
      if (options?.serve !== false) {
        askedAt = Date.now();
        askedSince = true;
      }
      const scrapes = scraper.published();
      const pods = metadata.entries();
      if (scrapes === built.scrapes && pods === built.pods) return aggregator;
      // New values of the same sandboxes while a build of them is under way: the previous
      // cycle's are served until it is done. Otherwise (nothing under way, or a sandbox
      // came, went, failed or got its pod) the request waits for the current state.
      const underWay = building !== undefined;
      const pending = rebuild();
      if (!underWay || !sameMembers(built, scrapes, pods)) await pending;
      return aggregator;
    },
    sandboxes() {
      const snapshot = scraper.snapshot();
      return directory.list().map((sandbox) => {
        const entry = snapshot.get(sandbox.id);
        return lib.sandboxView(sandbox, metadata.get(sandbox.id), {
          scrapedAt: entry?.scrapedAt,
          error: entry?.error,
        });
      });
    },
    usage(id) {
      // The last state built: the page that shows it brings it up to date first.
      return aggregator.usage(id);
    },
    lookup(id) {
      if (!lib.isValidSandboxId(id)) return "invalid";
      return directory.get(id) ?? "unknown";
    },
    fetchOne(sandbox) {
      return lib.fetchShimBytes(sandbox.socket, {
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

/** What the aggregate was last built from. */
interface Built {
  scrapes: ReadonlyMap<string, PublishedScrape>;
  pods: ReadonlyMap<string, PodMetadata>;
}

/** Whether `scrapes` and `pods` hold the same sandboxes with samples and pods as `built`. */
function sameMembers(
  built: Built,
  scrapes: ReadonlyMap<string, PublishedScrape>,
  pods: ReadonlyMap<string, PodMetadata>,
): boolean {
  if (scrapes.size !== built.scrapes.size) return false;
  for (const [id, entry] of scrapes) {
    const before = built.scrapes.get(id);
    if (
      before === undefined || (before.rendered === undefined) !== (entry.rendered === undefined)
    ) {
      return false;
    }
    const pod = pods.get(id);
    const podBefore = built.pods.get(id);
    if (
      pod?.uid !== podBefore?.uid || pod?.name !== podBefore?.name ||
      pod?.namespace !== podBefore?.namespace
    ) return false;
  }
  return true;
}
