/**
 * Retention: every `storage.retention.interval` the store's objects are listed and the
 * policy `agent prune --yes` applies is applied, what goes being marked `pruned` in the core
 * index.
 *
 * @module
 */
import type { Config } from "../../lib/config/mod.ts";
import type { Logger } from "../../lib/log.ts";
import type { AgentMetrics } from "../../lib/metrics/mod.ts";
import { sleep } from "../../lib/pool.ts";
import { CoreIndex, openStore, type Store } from "../../lib/store/mod.ts";
import { applyRetention, planRetention, retentionPolicy } from "../../lib/store/mod.ts";
import { type Feature, type FeatureContext, superviseStage } from "../feature.ts";
import { errorMessage } from "../../lib/errors.ts";

/** Creates the retention feature. */
export function retentionFeature(context: FeatureContext): Feature {
  let running: Promise<unknown> = Promise.resolve();
  return {
    name: "retention",
    title: "retention",
    enabled: true,
    start() {
      const { config } = context;
      const store = openStore(config.storage, config.nodeName || Deno.hostname());
      const index = new CoreIndex(context.db);
      running = superviseStage(
        context,
        "retention",
        (signal) => pruneEvery(config, store, index, context.log, context.metrics, signal),
      );
      return Promise.resolve();
    },
    async stop() {
      await running;
    },
    ready: () => true,
  };
}

async function pruneEvery(
  config: Config,
  store: Store,
  index: CoreIndex,
  log: Logger,
  metrics: AgentMetrics,
  signal: AbortSignal,
): Promise<void> {
  const policy = retentionPolicy(config.storage);
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
        error: errorMessage(error),
      });
    }
  }
}
