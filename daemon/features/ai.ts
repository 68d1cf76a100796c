/**
 * AI crash analysis in the background: every core the collector stores (told on `outcomes`)
 * is queued in the state database with its crash context (what the model may see, read from
 * the analysis and from what `cluster` knows of its pod), then explained one at a time within
 * the limits of the `ai` section, once per crash group. The result goes beside the core's
 * metadata as `.ai.json`, into `/cores`, and on `explanations` (the Kubernetes feature adds
 * it to the core's `CoreDumped` Event). Nothing here touches the core, its score or its
 * storage: a failing model API only fails this stage. `lib/ai` (with the core analysis its
 * crash context reads) is loaded when the feature starts, so a daemon with AI off holds none
 * of it.
 *
 * @module
 */
import type {
  AiCoreQueue,
  AiLedger,
  AiOutcome,
  AiSettings,
  ContextRestart,
  CoreAi,
  Explanation,
} from "../../lib/ai/mod.ts";
import type { Channel } from "../../lib/channel.ts";
import type { ClusterReader, CoreOutcome } from "../../lib/collect/mod.ts";
import { errorMessage } from "../../lib/errors.ts";
import { type AiMetrics, createAiMetrics } from "../../lib/metrics/mod.ts";
import {
  CoreIndex,
  type CoreRecord,
  EXPLANATION_SUFFIX,
  openStore,
  type Store,
} from "../../lib/store/mod.ts";
import { type Feature, type FeatureContext, superviseStage } from "../feature.ts";

/** Cores waiting at most: past it a crash storm's cores are recorded as skipped. */
const MAX_QUEUED = 1000;

/** The AI feature, with the AI stage of each core for `/cores`. */
export interface AiFeature extends Feature {
  /** The AI stage of the cores `ids` (nothing while the feature is off). */
  coresAi(ids: readonly number[]): Map<number, CoreAi>;
}

/** What the AI stage needs of the core's pod and its restarts. */
function facts(record: CoreRecord, cluster: ClusterReader, occurrences: number) {
  const pod = cluster.pods().find((p) => p.namespace === record.namespace && p.name === record.pod);
  const container = pod?.containers.find((c) => c.name === record.container);
  const restarts: ContextRestart[] = cluster.restarts()
    .filter((r) =>
      r.namespace === record.namespace && r.pod === record.pod && r.container === record.container
    )
    .map((r) => ({
      at: r.finishedAt,
      exitCode: r.exitCode,
      signal: r.signal,
      reason: r.reason,
    }));
  return {
    occurrences,
    instance: record.instance === "unknown" ? null : record.instance,
    kind: pod?.kind ?? null,
    container: record.container,
    image: container?.image ?? null,
    restarts,
  };
}

/** Creates the AI feature. */
export function aiFeature(
  context: FeatureContext,
  channels: {
    cluster: ClusterReader;
    outcomes: Channel<CoreOutcome>;
    explanations: Channel<AiOutcome>;
  },
): AiFeature {
  const { config, log, db } = context;
  let queue: AiCoreQueue | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let unsubscribe = () => {};
  let collect = () => {};
  let wake = () => {};
  return {
    name: "ai",
    title: "AI crash analysis",
    enabled: config.ai.enabled,
    async start() {
      const {
        AiCoreQueue,
        aiSettings,
        crashContext,
        Explainer,
        explanationDocument,
        NANO,
        SKIP_REASONS,
      } = await import("../../lib/ai/mod.ts");
      const settings = await aiSettings(config);
      const index = new CoreIndex(db);
      const work = new AiCoreQueue(db);
      queue = work;
      const store = openStore(config.storage, config.nodeName || Deno.hostname());
      const metrics = createAiMetrics(context.metrics.registry, SKIP_REASONS);
      const explainer = new Explainer({
        settings,
        ledger: work.ledger,
        signal: context.signal,
        onRequest: (event) => {
          metrics.requests.inc({ outcome: event.outcome });
          metrics.requestSeconds.observe(event.seconds);
          metrics.tokens.inc({ direction: "input" }, event.inputTokens);
          metrics.tokens.inc({ direction: "output" }, event.outputTokens);
          metrics.cost.inc(event.cost);
        },
      });
      unsubscribe = channels.outcomes.subscribe((outcome) => {
        const { record, analysis, score } = outcome;
        if (outcome.outcome !== "stored" || !analysis || !record.fingerprint) return;
        const occurrences = index.groupCount(record.instance ?? "unknown", record.fingerprint);
        const queued = work.enqueue({
          coreId: record.id,
          fingerprint: record.fingerprint,
          score: score?.score ?? record.score,
          context: crashContext(analysis, facts(record, channels.cluster, occurrences)),
        }, MAX_QUEUED);
        if (!queued) {
          log.warn("AI analysis skipped: too many cores waiting", {
            path: record.path,
            waiting: MAX_QUEUED,
          });
          metrics.explanations.inc({ status: "skipped" });
        }
        wake();
      });
      collect = () => report(metrics, work.ledger, work, settings, NANO);
      running = superviseStage(context, "ai", async (signal) => {
        while (!signal.aborted) {
          const next = work.next();
          if (!next) {
            await new Promise<void>((resolve) => {
              wake = resolve;
              signal.addEventListener("abort", () => resolve(), { once: true });
            });
            continue;
          }
          const record = index.byId(next.coreId);
          if (!record || record.state !== "stored" || !record.storedKey) {
            work.finish(next.coreId, "skipped", "the core is no longer stored", null, null);
            metrics.explanations.inc({ status: "skipped" });
            continue;
          }
          let explanation: Explanation;
          try {
            explanation = await explainer.explain({ context: next.context, score: next.score });
          } catch (error) {
            // Stopping: the core stays queued and is explained after the restart.
            if (signal.aborted) break;
            throw error;
          }
          await finish(record, explanation, { work, index, store, metrics, explanationDocument });
          channels.explanations.publish({ coreId: record.id, explanation });
        }
      }, "ai");
      context.metrics.up.set({ feature: "ai" }, 1);
      log.info("AI crash analysis on", {
        provider: settings.provider,
        model: settings.model,
        endpoint: new URL(settings.url).origin,
        maxCostPerMonth: settings.maxCostPerMonth,
        maxAnalysisPerHour: settings.maxAnalysisPerHour,
        minScore: settings.minScore,
        apiKey: settings.hasKey ? "given" : "none",
      });
    },
    async stop() {
      wake();
      await running;
      unsubscribe();
    },
    ready: () => true,
    collect: () => collect(),
    coresAi: (ids) => queue?.of(ids) ?? new Map(),
  };

  /** Records what became of a core, writes `.ai.json` for a result, logs and counts it. */
  async function finish(
    record: CoreRecord,
    explanation: Explanation,
    parts: {
      work: AiCoreQueue;
      index: CoreIndex;
      store: Store;
      metrics: AiMetrics;
      explanationDocument: typeof import("../../lib/ai/mod.ts").explanationDocument;
    },
  ): Promise<void> {
    const { work, index, store, metrics, explanationDocument } = parts;
    const key = record.storedKey!;
    const fields = { uri: record.storedUri, group: explanation.fingerprint };
    if (explanation.result) {
      try {
        await store.putText(
          `${key}${EXPLANATION_SUFFIX}`,
          JSON.stringify(
            explanationDocument({ key, uri: record.storedUri ?? "" }, explanation),
            null,
            2,
          ) + "\n",
        );
        // Pruned meanwhile: the explanation goes with the core it was for.
        if (index.byId(record.id)?.state !== "stored") await store.delete(key);
      } catch (error) {
        // Kept in the state database all the same, and shown on /cores.
        log.warn("cannot store the AI explanation beside the core", {
          ...fields,
          error: errorMessage(error),
        });
      }
    }
    work.finish(
      record.id,
      explanation.status,
      explanation.reason,
      explanation.analysisId,
      explanation.result ? explanation.at : null,
    );
    metrics.explanations.inc({ status: explanation.status });
    if (explanation.skip) metrics.skips.inc({ reason: explanation.skip });
    switch (explanation.status) {
      case "explained":
        log.info("core explained", {
          ...fields,
          summary: explanation.result!.summary,
          cost: explanation.usage.cost,
        });
        break;
      case "cached":
        log.info("core explained by its crash group's earlier analysis", fields);
        break;
      case "skipped":
        log.info("AI analysis skipped", { ...fields, reason: explanation.reason });
        break;
      case "failed":
        log.warn("AI analysis failed", { ...fields, reason: explanation.reason });
        break;
    }
  }
}

/** Brings the ledger's month into the gauges. */
function report(
  metrics: AiMetrics,
  ledger: AiLedger,
  queue: AiCoreQueue,
  settings: AiSettings,
  nano: number,
) {
  metrics.monthCost.set(ledger.monthCostNano(new Date()) / nano);
  metrics.monthLimit.set(settings.maxCostPerMonth);
  metrics.queued.set(queue.pending());
}
