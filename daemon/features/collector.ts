/**
 * Core collection: the directory watcher, the spool of the core_pattern pipe helper, and the
 * pipeline (analyze, correlate, score, store, index) for every core they hand over. It reads
 * what it knows of the cluster from `cluster` and tells every outcome on `outcomes`; it
 * counts the outcomes in the agent's metrics itself.
 *
 * @module
 */
import type { Channel } from "../../lib/channel.ts";
import {
  type ClusterReader,
  type Collection,
  type Collector,
  type CoreOutcome,
  type KernelCrashReader,
  openCollection,
  runCollector,
  spoolDir,
} from "../../lib/collect/mod.ts";
import type { CoreRecord, CoreState } from "../../lib/store/mod.ts";
import { type Feature, type FeatureContext, superviseStage } from "../feature.ts";

/** The collector, with the core index it serves on `/cores`. */
export interface CollectorFeature extends Feature {
  /** The indexed cores, most recent first (none while the feature is off). */
  cores(query: { states?: CoreState[]; limit: number }): CoreRecord[];
}

/** Creates the collector feature. */
export function collectorFeature(
  context: FeatureContext,
  channels: {
    cluster: ClusterReader;
    outcomes: Channel<CoreOutcome>;
    /** The crashes the kernel logged, for cores that carry no cgroup. */
    kernelCrashes?: KernelCrashReader;
  },
): CollectorFeature {
  const { config, log, metrics } = context;
  let collection: Collection | undefined;
  let collector: Collector | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let unsubscribe = () => {};
  return {
    name: "collector",
    title: "core collection",
    enabled: true,
    async start() {
      collection = await openCollection(config, log, {
        db: context.db,
        cluster: channels.cluster,
        outcomes: channels.outcomes,
        ...(channels.kernelCrashes ? { kernelCrashes: channels.kernelCrashes } : {}),
      });
      const opened = collection;
      unsubscribe = channels.outcomes.subscribe((outcome) => {
        metrics.cores.inc({ outcome: outcome.outcome });
        for (const [stage, seconds] of Object.entries(outcome.durations)) {
          metrics.coreStageSeconds.observe({ stage }, seconds);
        }
        if (outcome.outcome === "stored") {
          metrics.storedBytes.inc(outcome.record.storedBytes ?? 0);
          const { namespace, instance, fingerprint } = outcome.record;
          metrics.groupCores.inc({
            namespace: namespace ?? "",
            instance: instance ?? "",
            group: fingerprint ?? "",
          });
        }
      });
      // The pipe helper's spool is collected like a core directory.
      const paths = [...config.collector.paths, spoolDir(config)];
      running = superviseStage(context, "collector", (signal) => {
        collector = runCollector({
          config: { ...config, collector: { ...config.collector, paths } },
          index: opened.index,
          pipeline: opened.pipeline,
          log,
          signal,
        });
        return collector.done;
      }, "collector");
      metrics.up.set({ feature: "collector" }, 1);
      log.info("collecting cores", {
        paths: config.collector.paths.join(","),
        store: opened.store.location,
      });
    },
    async stop() {
      await running;
      unsubscribe();
    },
    ready: () => true,
    collect() {
      if (!collection) return;
      for (const [state, count] of Object.entries(collection.index.counts())) {
        metrics.coresIndexed.set({ state }, count);
      }
      metrics.coresPending.set((collector?.watcher.pending ?? 0) + (collector?.queued() ?? 0));
    },
    cores: (query) => collection?.index.list(query) ?? [],
  };
}
