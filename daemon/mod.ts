/**
 * The long-running agent: serves health and metrics, watches this node's Milvus pods for
 * restarts, and (when `cleaner.enabled`) uninstalls instances stuck in a crash loop. A
 * failing feature degrades (logged, counted, `agent_feature_up` 0) without stopping the rest.
 *
 * @module
 */
import { type Config, formatListenAddress } from "../lib/config/mod.ts";
import {
  type CoreOutcome,
  openCollection,
  type PodInfo,
  podInfo,
  runCollector,
  spoolDir,
} from "../lib/collect/mod.ts";
import type { RestartEvent } from "../lib/kube/restarts.ts";
import { applyRetention, planRetention } from "../lib/store/retention.ts";
import { ConfigError, InputError, UnavailableError } from "../lib/errors.ts";
import { escapeControl } from "../lib/escape.ts";
import type { Logger } from "../lib/log.ts";
import { createMetrics } from "../lib/metrics/mod.ts";
import { openState } from "../lib/store/state.ts";
import { createApp } from "./app.ts";
import { type Kata, startKata } from "./kata.ts";
import { supervise, type SuperviseOptions } from "./supervise.ts";
import { type HttpServer, openFilesLimit, serveHttp } from "./serve_http.ts";
import { sleep } from "../lib/pool.ts";
import { keepRunning, sweepTempDirs } from "../lib/lifecycle.ts";

/**
 * How long a stopping daemon waits for the work in flight (a core being stored, a scrape)
 * before it exits anyway: well inside Kubernetes' default 30 s termination grace period.
 */
export const GRACE_MS = 20_000;

/** Options of {@linkcode runDaemon}. */
export interface DaemonOptions {
  log: Logger;
  /** Stops the daemon when aborted. */
  signal: AbortSignal;
  /** Told the address once the server listens. */
  onListen?(address: { hostname: string; port: number }): void;
}

/**
 * Runs until `signal` aborts.
 *
 * @throws {UnavailableError} when the state database or the listen address cannot be used.
 */
export async function runDaemon(config: Config, options: DaemonOptions): Promise<void> {
  const { log } = options;
  const bearerToken = await readBearerToken(config.server.bearerTokenFile);
  const metrics = createMetrics();
  // An error that escapes every stage (a defect, or a library throwing from a callback)
  // must not take the node's agent down with it: it is logged and counted instead.
  const release = keepRunning((error) => {
    metrics.uncaughtErrors.inc();
    log.error("uncaught error; the daemon goes on", {
      error: error instanceof Error ? error.message : String(error),
    });
    log.debug("cause", { stack: String((error as Error)?.stack) });
  });
  try {
    const swept = await sweepTempDirs(config.analyzer.tempDir || undefined);
    if (swept > 0) log.info("removed temporary directories of stopped runs", { count: swept });
    await serve(config, options, bearerToken, metrics);
  } finally {
    release();
  }
}

async function serve(
  config: Config,
  options: DaemonOptions,
  bearerToken: string | undefined,
  metrics: ReturnType<typeof createMetrics>,
): Promise<void> {
  const { log, signal } = options;
  const db = await openState(config.stateDir);
  const ready = { state: true, kubernetes: false, sandboxes: !config.kata.enabled };
  const supervision = {
    log,
    signal,
    onRestart: (stage: string) => metrics.stageRestarts.inc({ stage }),
  };
  // What correlation reads: this node's pods (from the pod watch) and recent restarts.
  const cluster: ClusterView = { pods: () => [], restarts: [] };
  let collection: Awaited<ReturnType<typeof openCollection>> | undefined;
  let kata: Kata | undefined;
  if (config.kata.enabled) {
    try {
      kata = startKata(config, log, metrics.registry, supervision);
      kata.scanned.then(() => (ready.sandboxes = true));
      metrics.up.set({ feature: "kata" }, 1);
    } catch (error) {
      ready.sandboxes = true;
      metrics.up.set({ feature: "kata" }, 0);
      log.error("Kata sandbox metrics off", {
        reason: error instanceof Error ? error.message : String(error),
      });
    }
  }
  const scrapeHooks: (() => void)[] = [];
  const address = config.server.listenAddress;
  let server: HttpServer;
  try {
    server = serveHttp(
      {
        ...address,
        signal,
        log,
        onListen: (addr) => {
          log.info("listening", { address: `${addr.hostname}:${addr.port}` });
          options.onListen?.(addr);
        },
        maxConnections: await connectionLimit(config.server.maxConnections, log),
        maxRequests: config.server.maxRequests,
        exempt: (path) => path === "/healthz" || path === "/readyz",
        headerTimeoutMs: config.server.headerTimeout,
        idleTimeoutMs: config.server.idleTimeout,
        observer: {
          shed: (reason) =>
            reason === "max_requests"
              ? metrics.httpRequestsShed.inc()
              : metrics.httpConnectionsShed.inc({ reason }),
          timedOut: (phase) => metrics.httpTimeouts.inc({ phase }),
        },
      },
      createApp({
        registry: metrics.registry,
        readiness: () => ({ ...ready }),
        cores: (query) => collection?.index.list(query) ?? [],
        beforeScrape: () => scrapeHooks.forEach((hook) => hook()),
        bearerToken,
        kata: kata?.api,
        ownMetricsMaxAgeMs: 1000,
      }).fetch,
    );
  } catch (error) {
    db.close();
    throw new UnavailableError(
      `Cannot listen on ${formatListenAddress(address)}: ${
        error instanceof Error ? error.message : error
      }`,
      { cause: error },
    );
  }
  const served = server;
  scrapeHooks.push(() => {
    metrics.httpConnections.set(served.connections);
    metrics.httpRequestsInFlight.set(served.requests);
  });
  const tasks: Promise<unknown>[] = [server.finished];
  if (kata) tasks.push(kata.done);
  try {
    collection = await openCollection(config, log, {
      db,
      cluster: () => ({ pods: cluster.pods(), restarts: cluster.restarts }),
      onOutcome: async (outcome) => {
        recordOutcome(metrics, outcome);
        await cluster.onCore?.(outcome);
      },
    });
    const opened = collection;
    let collector: ReturnType<typeof runCollector> | undefined;
    const collecting = supervise("collector", (stageSignal) => {
      collector = runCollector({
        config: {
          ...config,
          collector: { ...config.collector, paths: [...config.collector.paths, spoolDir(config)] },
        },
        index: opened.index,
        pipeline: opened.pipeline,
        log,
        signal: stageSignal,
      });
      return collector.done;
    }, {
      ...supervision,
      onUp: (_stage, up) => metrics.up.set({ feature: "collector" }, up ? 1 : 0),
    });
    const index = collection.index;
    scrapeHooks.push(() => {
      for (const [state, count] of Object.entries(index.counts())) {
        metrics.coresIndexed.set({ state }, count);
      }
      metrics.coresPending.set((collector?.watcher.pending ?? 0) + (collector?.queued() ?? 0));
    });
    metrics.up.set({ feature: "collector" }, 1);
    log.info("collecting cores", {
      paths: config.collector.paths.join(","),
      store: collection.store.location,
    });
    tasks.push(
      collecting,
      supervise(
        "retention",
        (stageSignal) => pruneEvery(config, opened, log, stageSignal, metrics),
        supervision,
      ),
    );
  } catch (error) {
    metrics.up.set({ feature: "collector" }, 0);
    log.error("core collection off", {
      reason: error instanceof Error ? error.message : String(error),
    });
  }
  try {
    tasks.push(
      ...(await startKubernetes(
        config,
        options,
        metrics,
        db,
        () => (ready.kubernetes = true),
        scrapeHooks,
        cluster,
        supervision,
      )),
    );
  } catch (error) {
    // The node may have no cluster access at all: the other features still run.
    ready.kubernetes = true;
    metrics.up.set({ feature: "kubernetes" }, 0);
    log.warn("Kubernetes features off", {
      reason: error instanceof Error ? error.message : String(error),
    });
  }
  // Stopping: what is in flight gets GRACE_MS to finish; the index makes the rest resume.
  const settled = Promise.allSettled(tasks).then(() => true);
  const graceOver = new Promise<boolean>((resolve) => {
    const start = () => setTimeout(() => resolve(false), GRACE_MS);
    if (signal.aborted) start();
    else signal.addEventListener("abort", start, { once: true });
  });
  if (!(await Promise.race([settled, graceOver]))) {
    log.warn("grace period over: stopping with work in flight; it resumes at the next start", {
      graceSeconds: GRACE_MS / 1000,
    });
  }
  db.close();
  log.info("stopped");
}

async function startKubernetes(
  config: Config,
  { log, signal }: DaemonOptions,
  metrics: ReturnType<typeof createMetrics>,
  db: Awaited<ReturnType<typeof openState>>,
  markSynced: () => void,
  scrapeHooks: (() => void)[],
  cluster: ClusterView,
  supervision: SuperviseOptions,
): Promise<Promise<unknown>[]> {
  const { KubeClient, loadKubeTarget, watchRestarts } = await import("../lib/kube/mod.ts");
  const { Cleaner } = await import("../lib/kube/cleaner.ts");
  const { applyUninstall, planUninstall } = await import("../lib/kube/uninstall.ts");
  const target = await loadKubeTarget({
    kubeconfig: config.discovery.kubeconfig || undefined,
    context: config.discovery.context || undefined,
  });
  const client = new KubeClient(target);
  if (!config.nodeName) log.warn("NODE_NAME is not set: watching Milvus pods on every node");
  const cleaner = config.cleaner.enabled
    ? new Cleaner({
      config: config.cleaner,
      db,
      log,
      uninstall: async (namespace, name, reason) => {
        const plan = await planUninstall(client, namespace, name);
        const helm = config.cleaner.helmBinary
          ? { binary: config.cleaner.helmBinary, timeoutMs: config.cleaner.uninstallTimeout }
          : undefined;
        const results = await applyUninstall(client, plan, reason, "agent", helm);
        const failed = results.find((r) => r.outcome === "failed");
        if (failed) throw new Error(`${failed.kind} ${failed.name}: ${failed.error}`);
      },
      exists: async (namespace, name) => {
        try {
          await planUninstall(client, namespace, name);
          return true;
        } catch (error) {
          // Only "no such instance" means gone; a refused or failed request is retried later.
          if (error instanceof InputError) return false;
          throw error;
        }
      },
    })
    : undefined;
  const informer = watchRestarts({
    client,
    nodeName: config.nodeName || undefined,
    selectors: [...config.discovery.helmSelectors, ...config.discovery.operatorSelectors],
    panicKeywords: config.analyzer.panicKeywords,
    instanceLabels: config.discovery.instanceLabels,
    log,
    onRestart: (event) => {
      metrics.restartEvents.inc({
        namespace: event.namespace,
        instance: event.instance ?? "",
        panic: String(event.isPanic),
      });
      log.info("container restarted", { ...event });
      cluster.restarts.push(event);
      if (cluster.restarts.length > 1000) {
        cluster.restarts.splice(0, cluster.restarts.length - 1000);
      }
      cleaner?.onRestart(event);
    },
  });
  // The informer's counters become metrics at scrape time.
  let last = { ...informer.stats };
  const sync = () => {
    const now = informer.stats;
    metrics.informerEvents.inc(now.events - last.events);
    metrics.informerErrors.inc(now.errors - last.errors);
    metrics.informerRelists.inc(now.lists - last.lists);
    metrics.informerIdleReconnects.inc(now.idleReconnects - last.idleReconnects);
    metrics.informerCachedObjects.set(informer.cache.size);
    metrics.cleanupsPending.set(cleaner?.pending().length ?? 0);
    last = { ...now };
  };
  scrapeHooks.push(sync);
  cluster.pods = () =>
    [...informer.cache.values()].map((pod) => podInfo(pod, config.discovery.instanceLabels));
  const { recordPodEvent } = await import("../lib/kube/events.ts");
  cluster.onCore = async (outcome) => {
    const { namespace, pod, match } = outcome.record;
    if (!namespace || !pod || !match || match.confidence === "none") return;
    const uid = cluster.pods().find((p) => p.namespace === namespace && p.name === pod)?.uid;
    try {
      await recordPodEvent(
        client,
        { namespace, name: pod, uid: uid ?? null },
        "CoreDumped",
        coreEventMessage(outcome),
      );
    } catch (error) {
      log.warn("cannot record the CoreDumped event", {
        pod: `${namespace}/${pod}`,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  };
  const watching = supervise("pod-watch", (stageSignal) => informer.run(stageSignal), {
    ...supervision,
    onUp: (_stage, up) => metrics.up.set({ feature: "kubernetes" }, up ? 1 : 0),
  });
  informer.synced.then(() => {
    markSynced();
    metrics.up.set({ feature: "kubernetes" }, 1);
    log.info("pod watch synced", { pods: informer.cache.size, node: config.nodeName || "(all)" });
  });
  const ticking = cleaner
    ? supervise("cleaner", (stageSignal) =>
      tickEvery(
        cleaner,
        Math.min(30_000, Math.max(1000, config.cleaner.cleanupDelay / 4)),
        stageSignal,
        metrics,
      ), supervision)
    : Promise.resolve();
  return [
    watching,
    ticking,
    new Promise<void>((resolve) =>
      signal.addEventListener("abort", () => resolve(), { once: true })
    ).then(sync),
  ];
}

/**
 * `server.maxConnections`, lowered to half the descriptor limit when that is less: every
 * connection holds a descriptor, and the other half is left for the shims' sockets, the
 * state database, the CRI client and the files the collector reads.
 */
async function connectionLimit(configured: number, log: Logger): Promise<number> {
  const files = await openFilesLimit();
  if (files === undefined || configured <= Math.floor(files / 2)) return configured;
  const lowered = Math.max(1, Math.floor(files / 2));
  log.warn("server.maxConnections lowered to half the open files limit", {
    maxConnections: configured,
    openFilesLimit: files,
    lowered,
  });
  return lowered;
}

/**
 * Reads the bearer token the HTTP API requires (none when `file` is empty).
 *
 * @throws {ConfigError} when the file cannot be read or is empty.
 */
export async function readBearerToken(file: string): Promise<string | undefined> {
  if (!file) return undefined;
  let token: string;
  try {
    token = (await Deno.readTextFile(file)).trim();
  } catch (error) {
    throw new ConfigError(
      `Cannot read server.bearerTokenFile "${file}": ${
        error instanceof Error ? error.message : error
      }`,
      { cause: error },
    );
  }
  if (!token) throw new ConfigError(`server.bearerTokenFile "${file}" is empty`);
  return token;
}

/** This node's pods and recent restarts, as correlation sees them. */
interface ClusterView {
  pods: () => PodInfo[];
  restarts: RestartEvent[];
  /** Tells the cluster about an analyzed core (a `CoreDumped` Event on its pod). */
  onCore?: (outcome: CoreOutcome) => Promise<void>;
}

/**
 * The `CoreDumped` Event's message: what crashed, the score, and where the core went. The
 * crash reason comes from the core, and `kubectl describe` prints the message raw: escaped.
 */
export function coreEventMessage(outcome: CoreOutcome): string {
  const r = outcome.record;
  const where = r.state === "stored" && r.storedUri
    ? `stored as ${r.storedUri}`
    : `not stored: ${r.reason ?? r.state}`;
  return escapeControl(
    `${r.crashReason ?? "crashed"}, score ${r.score ?? "?"}, ${where} (node ${
      r.node ?? "?"
    }, matched by ${r.match?.method ?? "none"})`,
  );
}

function recordOutcome(metrics: ReturnType<typeof createMetrics>, outcome: CoreOutcome): void {
  metrics.cores.inc({ outcome: outcome.outcome });
  for (const [stage, seconds] of Object.entries(outcome.durations)) {
    metrics.coreStageSeconds.observe({ stage }, seconds);
  }
  if (outcome.outcome === "stored") metrics.storedBytes.inc(outcome.record.storedBytes ?? 0);
}

/**
 * Applies the retention policy to the store every `storage.retention.interval`, as
 * `agent prune --yes` does, marking what it deletes in the core index.
 */
async function pruneEvery(
  config: Config,
  collection: Awaited<ReturnType<typeof openCollection>>,
  log: Logger,
  signal: AbortSignal,
  metrics: ReturnType<typeof createMetrics>,
): Promise<void> {
  const { store, index } = collection;
  const policy = {
    maxAge: config.storage.retention.maxAge,
    maxBytes: config.storage.retention.maxBytes,
    maxPerGroup: config.storage.maxPerGroup,
    minFreeBytes: config.storage.retention.minFreeBytes,
  };
  while (!signal.aborted) {
    await sleep(config.storage.retention.interval, signal);
    if (signal.aborted) break;
    try {
      const objects = await Array.fromAsync(store.list());
      const free = policy.minFreeBytes > 0 ? await store.freeBytes() : undefined;
      const plan = planRetention(objects, policy, new Date(), free);
      if (plan.deletions.length === 0) continue;
      const results = await applyRetention(store, plan, {
        signal,
        onDeleted: (deletion) => {
          index.markPruned(deletion.key, deletion.reason);
          log.info("core pruned", { uri: deletion.uri, reason: deletion.reason });
        },
      });
      for (const result of results) {
        metrics.pruned.inc({ outcome: result.outcome });
        if (result.outcome === "failed") {
          log.warn("cannot prune a core", { uri: result.uri, error: result.error ?? "" });
        }
      }
    } catch (error) {
      log.error("retention failed", {
        store: store.location,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}

async function tickEvery(
  cleaner: { tick(): Promise<{ outcome: string }[]> },
  intervalMs: number,
  signal: AbortSignal,
  metrics: ReturnType<typeof createMetrics>,
): Promise<void> {
  while (!signal.aborted) {
    await sleep(intervalMs, signal);
    if (signal.aborted) break;
    for (const result of await cleaner.tick()) metrics.cleanups.inc({ outcome: result.outcome });
  }
}
