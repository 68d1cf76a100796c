/**
 * The Kubernetes side: the watch of this node's Milvus pods, which publishes the pods and
 * every restart into `cluster` (for core correlation) and feeds the crash-loop cleaner; and a
 * `CoreDumped` Warning Event on the pod of every analyzed core that `outcomes` tells of, its
 * message completed with the core's AI explanation when `explanations` tells of one. Off,
 * with a warning, when no cluster is configured.
 *
 * @module
 */
import type { AiOutcome } from "../../lib/ai/mod.ts";
import type { Channel } from "../../lib/channel.ts";
import { type ClusterFacts, type CoreOutcome, podInfo } from "../../lib/collect/mod.ts";
import { errorMessage, InputError, UnavailableError } from "../../lib/errors.ts";
import { escapeControl } from "../../lib/escape.ts";
import type { KubeClient } from "../../lib/kube/mod.ts";
import { findKubeSource, NO_KUBE_CONFIGURATION } from "../../lib/kube_source.ts";
import type { Logger } from "../../lib/log.ts";
import { sleep } from "../../lib/pool.ts";
import { type Feature, type FeatureContext, superviseStage } from "../feature.ts";

/** Events waiting to be recorded, at most: a crash storm drops the oldest, never blocks. */
const MAX_PENDING_EVENTS = 100;

/** Recorded events remembered for an explanation that comes later, at most. */
const MAX_REMEMBERED_EVENTS = 500;

/** The channels the feature reads. */
export interface KubernetesChannels {
  cluster: ClusterFacts;
  outcomes: Channel<CoreOutcome>;
  /** The AI explanations of stored cores, when the AI feature runs. */
  explanations?: Channel<AiOutcome>;
}

/** Creates the Kubernetes feature. */
export function kubernetesFeature(context: FeatureContext, channels: KubernetesChannels): Feature {
  const { config, log, metrics } = context;
  let synced = false;
  let publishing = false;
  let stages: Promise<unknown>[] = [];
  let collect = () => {};
  let unsubscribe = () => {};
  return {
    name: "kubernetes",
    title: "Kubernetes features",
    enabled: true,
    // A node without cluster access still collects cores and serves sandbox metrics.
    optional: true,
    async start() {
      const kubeOptions = {
        kubeconfig: config.discovery.kubeconfig || undefined,
        context: config.discovery.context || undefined,
      };
      // Looked for before `lib/kube` is loaded: a node without cluster access never holds it.
      if (await findKubeSource(kubeOptions) === undefined) {
        throw new UnavailableError(NO_KUBE_CONFIGURATION);
      }
      // Loaded only when the daemon runs: the other commands never watch.
      const { KubeClient, loadKubeTarget, watchRestarts } = await import("../../lib/kube/mod.ts");
      const target = await loadKubeTarget(kubeOptions);
      for (const warning of target.warnings ?? []) log.warn(warning);
      const client = new KubeClient(target);
      if (!config.nodeName) log.warn("NODE_NAME is not set: watching Milvus pods on every node");
      const cleaner = config.cleaner.enabled ? await createCleaner(context, client) : undefined;
      const informer = watchRestarts({
        client,
        nodeName: config.nodeName || undefined,
        selectors: [...config.discovery.helmSelectors, ...config.discovery.operatorSelectors],
        panicKeywords: config.analyzer.panicKeywords,
        instanceLabels: config.discovery.instanceLabels,
        log,
        // Published once per burst of changes (a relist applies every pod in one go).
        onChange: (pods) => {
          if (publishing) return;
          publishing = true;
          setTimeout(() => {
            publishing = false;
            const labels = config.discovery.instanceLabels;
            channels.cluster.replacePods([...pods.values()].map((pod) => podInfo(pod, labels)));
          }, 0);
        },
        onRestart: (event) => {
          metrics.restartEvents.inc({
            namespace: event.namespace,
            instance: event.instance ?? "",
            panic: String(event.isPanic),
          });
          log.info("container restarted", { ...event });
          channels.cluster.recordRestart(event);
          cleaner?.onRestart(event);
        },
      });
      // The informer's counters become metrics at scrape time.
      let last = { ...informer.stats };
      collect = () => {
        const now = informer.stats;
        metrics.informerEvents.inc(now.events - last.events);
        metrics.informerErrors.inc(now.errors - last.errors);
        metrics.informerRelists.inc(now.lists - last.lists);
        metrics.informerIdleReconnects.inc(now.idleReconnects - last.idleReconnects);
        metrics.informerCachedObjects.set(informer.cache.size);
        metrics.cleanupsPending.set(cleaner?.pending().length ?? 0);
        last = { ...now };
      };
      const events = coreEvents(client, channels, log);
      unsubscribe = events.unsubscribe;
      informer.synced.then(() => {
        synced = true;
        metrics.up.set({ feature: "kubernetes" }, 1);
        log.info("pod watch synced", {
          pods: informer.cache.size,
          node: config.nodeName || "(all)",
        });
      });
      stages = [
        superviseStage(context, "pod-watch", (signal) => informer.run(signal), "kubernetes"),
        superviseStage(context, "core-events", (signal) => events.run(signal)),
      ];
      if (cleaner) {
        const interval = Math.min(30_000, Math.max(1000, config.cleaner.cleanupDelay / 4));
        stages.push(superviseStage(context, "cleaner", async (signal) => {
          while (!signal.aborted) {
            await sleep(interval, signal);
            if (signal.aborted) break;
            for (const result of await cleaner.tick()) {
              metrics.cleanups.inc({ outcome: result.outcome });
            }
          }
        }));
      }
    },
    async stop() {
      await Promise.all(stages);
      unsubscribe();
      collect();
    },
    ready: () => synced,
    collect: () => collect(),
  };
}

/** The crash-loop cleaner, uninstalling through `client` (or the helm binary, if set). */
async function createCleaner(context: FeatureContext, client: KubeClient) {
  const { config, log, db } = context;
  const { Cleaner } = await import("../../lib/kube/mod.ts");
  const { applyUninstall, planUninstall } = await import("../../lib/kube/mod.ts");
  return new Cleaner({
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
  });
}

/**
 * Records a `CoreDumped` Event on the pod of each analyzed core tied to one, from a bounded
 * queue fed by the outcomes channel, so that a slow API server never slows collection. An
 * explanation that comes before the Event is recorded goes into its message; one that comes
 * after replaces the message of the Event recorded.
 */
function coreEvents(client: KubeClient, channels: KubernetesChannels, log: Logger) {
  const pending: CoreOutcome[] = [];
  /** Explanations (one line each) by core id, until their Event has them. */
  const explained = new Map<number, string>();
  /** Recorded Events by core id, for an explanation that comes later. */
  const recorded = new Map<number, { namespace: string; name: string; outcome: CoreOutcome }>();
  const updates: number[] = [];
  let wake = () => {};
  const unsubscribeOutcomes = channels.outcomes.subscribe((outcome) => {
    const { namespace, pod, match } = outcome.record;
    if (!namespace || !pod || !match || match.confidence === "none") return;
    if (pending.length >= MAX_PENDING_EVENTS) {
      const dropped = pending.shift()!;
      log.warn("too many CoreDumped events pending: one dropped", { path: dropped.record.path });
    }
    pending.push(outcome);
    wake();
  });
  const unsubscribeExplanations =
    channels.explanations?.subscribe(async ({ coreId, explanation }) => {
      if (!explanation.result) return;
      // Loaded by the AI feature that sent the explanation: imported here, the module is not
      // held by a daemon whose AI is off.
      const { summaryLine } = await import("../../lib/ai/mod.ts");
      explained.set(coreId, summaryLine(explanation.result));
      if (explained.size > MAX_REMEMBERED_EVENTS) explained.delete(explained.keys().next().value!);
      if (recorded.has(coreId)) {
        updates.push(coreId);
        wake();
      }
    }) ?? (() => {});
  const remember = (
    id: number,
    event: { namespace: string; name: string; outcome: CoreOutcome },
  ) => {
    recorded.set(id, event);
    if (recorded.size > MAX_REMEMBERED_EVENTS) recorded.delete(recorded.keys().next().value!);
  };
  const run = async (signal: AbortSignal) => {
    const { recordPodEvent, updateEventMessage } = await import("../../lib/kube/mod.ts");
    while (!signal.aborted) {
      const update = updates.shift();
      if (update !== undefined) {
        const event = recorded.get(update);
        const line = explained.get(update);
        if (!event || line === undefined) continue;
        recorded.delete(update);
        explained.delete(update);
        try {
          await updateEventMessage(
            client,
            event.namespace,
            event.name,
            coreEventMessage(event.outcome, line),
          );
        } catch (error) {
          log.warn("cannot add the AI explanation to the CoreDumped event", {
            pod: `${event.namespace}/${event.outcome.record.pod}`,
            error: errorMessage(error),
          });
        }
        continue;
      }
      const outcome = pending.shift();
      if (!outcome) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          signal.addEventListener("abort", () => resolve(), { once: true });
        });
        continue;
      }
      const { id, namespace, pod } = outcome.record;
      const uid = channels.cluster.pods().find((p) => p.namespace === namespace && p.name === pod)
        ?.uid;
      const line = explained.get(id);
      if (line !== undefined) explained.delete(id);
      try {
        const name = await recordPodEvent(
          client,
          { namespace: namespace!, name: pod!, uid: uid ?? null },
          "CoreDumped",
          coreEventMessage(outcome, line),
        );
        if (name && line === undefined) {
          remember(id, { namespace: namespace!, name, outcome });
          // Explained while the Event was being recorded.
          if (explained.has(id)) updates.push(id);
        }
      } catch (error) {
        log.warn("cannot record the CoreDumped event", {
          pod: `${namespace}/${pod}`,
          error: errorMessage(error),
        });
      }
    }
  };
  return {
    run,
    unsubscribe: () => {
      unsubscribeOutcomes();
      unsubscribeExplanations();
    },
  };
}

/**
 * The `CoreDumped` Event's message: what crashed, the score, and where the core went. The
 * crash reason comes from the core, and `kubectl describe` prints the message raw: escaped.
 */
export function coreEventMessage(outcome: CoreOutcome, explanation?: string): string {
  const r = outcome.record;
  const where = r.state === "stored" && r.storedUri
    ? `stored as ${r.storedUri}`
    : `not stored: ${r.reason ?? r.state}`;
  // The explanation last: a message cut at the Event's limit loses the end of it first.
  return escapeControl(
    `${r.crashReason ?? "crashed"}, score ${r.score ?? "?"}, ${where} (node ${
      r.node ?? "?"
    }, matched by ${r.match?.method ?? "none"})${explanation ? `. ${explanation}` : ""}`,
  );
}
