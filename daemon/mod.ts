/**
 * The long-running agent: serves health and metrics, watches this node's Milvus pods for
 * restarts, and (when `cleaner.enabled`) uninstalls instances stuck in a crash loop. A
 * failing feature degrades (logged, counted, `agent_feature_up` 0) without stopping the rest.
 *
 * @module
 */
import { type Config, readBearerToken } from "../lib/config/mod.ts";
import { errorMessage } from "../lib/errors.ts";
import { keepRunning, sweepTempDirs } from "../lib/lifecycle.ts";
import { type AgentMetrics, createMetrics } from "../lib/metrics/mod.ts";
import { openState } from "../lib/store/mod.ts";
import { VERSION } from "../lib/version.ts";
import { mergeFamilies, parsePrometheusText } from "../lib/prom/mod.ts";
import { createApp } from "./app.ts";
import { createChannels, type Feature, type FeatureContext, startFeatures } from "./feature.ts";
import { aiFeature } from "./features/ai.ts";
import { anomalyFeature } from "./features/anomaly.ts";
import { collectorFeature } from "./features/collector.ts";
import { kataFeature } from "./features/kata.ts";
import { kubernetesFeature } from "./features/kubernetes.ts";
import { nodeFeature } from "./features/node.ts";
import { platformFeature } from "./features/platform.ts";
import { processesFeature } from "./features/processes.ts";
import { retentionFeature } from "./features/retention.ts";
import { type HttpServer, listen, type ListenOptions } from "./http.ts";
import type { DaemonStatus, FeatureStatus } from "./routes/pages.ts";

/**
 * How long a stopping daemon waits for the work in flight (a core being stored, a scrape)
 * before it exits anyway: well inside Kubernetes' default 30 s termination grace period.
 */
export const GRACE_MS = 20_000;

/** Options of {@linkcode runDaemon}: where to log, when to stop, who to tell the address. */
export type DaemonOptions = ListenOptions;

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
    log.error("uncaught error; the daemon goes on", { error: errorMessage(error) });
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
  metrics: AgentMetrics,
): Promise<void> {
  const { log, signal } = options;
  const db = await openState(config.stateDir);
  const context: FeatureContext = { config, log, metrics, db, signal };
  const channels = createChannels(log);
  const kata = kataFeature(context);
  const collector = collectorFeature(context, channels);
  const ai = aiFeature(context, channels);
  let running: Feature[] = [];
  // The server listens before the features start: not ready until they have.
  let started = false;
  let server: HttpServer | undefined;
  const beforeScrape = () => {
    metrics.httpConnections.set(server?.connections ?? 0);
    metrics.httpRequestsInFlight.set(server?.requests ?? 0);
    for (const feature of running) feature.collect?.();
  };
  const exposition = async (except?: Feature) =>
    (await Promise.all(
      running.map((feature) => feature === except ? "" : feature.exposition?.() ?? ""),
    )).join("");
  const families = async () =>
    (await Promise.all(running.map((feature) => feature.families?.() ?? []))).flat();
  // What the anomaly detectors read: what /metrics serves, less their own families and the
  // sandboxes' own (kata_*) ones, which no rule reads: rendering and parsing those 5 MB at 200
  // sandboxes every interval cost the scrape cycle its timing and the daemon 30-60 MiB.
  const anomaly: Feature = anomalyFeature(context, {
    families: async () => {
      beforeScrape();
      const [own, more, host] = await Promise.all([
        metrics.registry.metrics(),
        exposition(anomaly),
        families(),
      ]);
      const aggregate = await kata.api()?.aggregate({ serve: false });
      return [
        ...parsePrometheusText(own + more, { lenient: true }),
        ...mergeFamilies([...(aggregate?.cadvisorFamilies() ?? []), ...host]),
      ];
    },
  });
  // The AI stage starts before the collector, so that it hears of every core stored.
  const features: Feature[] = [
    kata,
    ai,
    collector,
    retentionFeature(context),
    kubernetesFeature(context, channels),
    nodeFeature(context, channels),
    anomaly,
    processesFeature(context, channels),
    platformFeature(context),
  ];
  /** Why each feature that could not start is off. */
  const failures = new Map<string, string>();
  const startedAt = new Date().toISOString();
  const status = async (): Promise<DaemonStatus> => {
    const up = new Map(
      (await metrics.up.get()).values.map((v) => [String(v.labels.feature), v.value]),
    );
    return {
      version: VERSION,
      node: config.nodeName || Deno.hostname(),
      startedAt,
      features: features.map((feature) => featureStatus(feature, running, failures, up)),
    };
  };
  try {
    server = await listen(
      config,
      options,
      metrics,
      createApp({
        registry: metrics.registry,
        readiness: () => ({
          state: true,
          features: started,
          ...Object.fromEntries(running.map((feature) => [feature.name, feature.ready()])),
        }),
        cores: (query) => {
          const records = collector.cores(query);
          const explained = ai.coresAi(records.map((r) => r.id));
          return records.map((r) => ({ ...r, ai: explained.get(r.id) ?? null }));
        },
        status,
        beforeScrape,
        exposition: () => exposition(),
        families,
        bearerToken,
        kata: () => kata.api(),
        ownMetricsMaxAgeMs: 1000,
      }),
    );
  } catch (error) {
    db.close();
    throw error;
  }
  running = await startFeatures(features, context, failures);
  started = true;
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
  // Stopping: what is in flight gets GRACE_MS to finish; the index makes the rest resume.
  const stopped = (async () => {
    for (const feature of running.toReversed()) await feature.stop();
    await server?.finished;
  })().then(() => true);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const graceOver = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), GRACE_MS);
  });
  if (!(await Promise.race([stopped, graceOver]))) {
    log.warn("grace period over: stopping with work in flight; it resumes at the next start", {
      graceSeconds: GRACE_MS / 1000,
    });
  }
  clearTimeout(timer);
  db.close();
  log.info("stopped");
}

/** What the status page says of `feature`: up, down (a stage restarting), failed, or off. */
function featureStatus(
  feature: Feature,
  running: Feature[],
  failures: Map<string, string>,
  up: Map<string, number>,
): FeatureStatus {
  const base = { name: feature.name, title: feature.title };
  if (!feature.enabled) {
    return { ...base, state: "off", reason: "turned off in the configuration", ready: false };
  }
  const failed = failures.get(feature.name);
  // A feature a node may well lack (a cluster) is off when it cannot start; others failed.
  if (failed !== undefined) {
    return { ...base, state: feature.optional ? "off" : "failed", reason: failed, ready: false };
  }
  if (!running.includes(feature)) {
    return { ...base, state: "starting", reason: "starting", ready: false };
  }
  const ready = feature.ready();
  if (up.get(feature.name) === 0) {
    return {
      ...base,
      state: "down",
      reason: "a stage failed and is restarting (see the log)",
      ready,
    };
  }
  return { ...base, state: "up", reason: ready ? "" : "not ready yet", ready };
}
