/**
 * What every feature of the daemon is: a module with one factory taking explicit
 * dependencies, returning {@linkcode Feature}. `mod.ts` lists the features, starts them, asks
 * them whether they are ready and to bring their counters into the registry before a scrape,
 * and stops them in reverse order. A feature that cannot start is off (logged,
 * `agent_feature_up` 0) and the others run on; a stage of a feature that fails is restarted
 * by {@linkcode FeatureContext.supervise}. Features talk only through the typed channels the
 * daemon hands their factories (`ClusterFacts`, `Channel<CoreOutcome>`), never through each
 * other.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import type { AiOutcome } from "../lib/ai/mod.ts";
import { Channel } from "../lib/channel.ts";
import { ClusterFacts, type CoreOutcome, KernelCrashes } from "../lib/collect/mod.ts";
import type { Config } from "../lib/config/mod.ts";
import { errorMessage } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import type { AgentMetrics } from "../lib/metrics/mod.ts";
import type { MetricFamily } from "../lib/prom/mod.ts";
import { supervise } from "./supervise.ts";

/** What every feature's factory gets. */
export interface FeatureContext {
  config: Config;
  log: Logger;
  metrics: AgentMetrics;
  /** The state database (one SQLite file; each feature owns its tables). */
  db: DatabaseSync;
  /** Aborts when the daemon stops. */
  signal: AbortSignal;
}

/** A running part of the daemon. */
export interface Feature {
  /** Its name in logs, readiness and `agent_feature_up{feature}`. */
  readonly name: string;
  /** What it is, for the log line when it cannot start ("Kubernetes features off"). */
  readonly title: string;
  /** Whether the configuration turns it on; one that is off is never started. */
  readonly enabled: boolean;
  /** Whether running without it is normal (a node without cluster access): warn, not error. */
  readonly optional?: boolean;
  /**
   * Starts its stages (supervised) and resolves once they run. Throws when the feature cannot
   * run at all (no cluster, no store): it is then off, and the daemon goes on without it.
   */
  start(): Promise<void>;
  /** Resolves once its stages have ended, after the daemon's signal aborted. */
  stop(): Promise<void>;
  /** Whether it is ready (the readiness probe waits for every feature that runs). */
  ready(): boolean;
  /** Brings counters kept outside the registry into it, before a scrape. */
  collect?(): void;
  /** Families it renders itself (text format 0.0.4), added to `/metrics`. */
  exposition?(): Promise<string>;
  /**
   * Families whose names other sources serve too (cAdvisor's `container_*`, also derived for
   * Kata sandboxes): `/metrics` merges them by name with the others' before writing them.
   */
  families?(): Promise<MetricFamily[]>;
}

/**
 * Runs `run(signal)` as the stage `stage`: restarted with backoff when it fails, counted in
 * `agent_stage_restarts_total`; with `upFeature`, `agent_feature_up{feature}` is 0 while it
 * is down. Resolves once the daemon stops.
 */
export function superviseStage(
  context: FeatureContext,
  stage: string,
  run: (signal: AbortSignal) => Promise<unknown>,
  upFeature?: string,
): Promise<void> {
  return supervise(stage, run, {
    log: context.log,
    signal: context.signal,
    onRestart: (name) => context.metrics.stageRestarts.inc({ stage: name }),
    ...(upFeature === undefined ? {} : {
      onUp: (_stage: string, up: boolean) =>
        context.metrics.up.set({ feature: upFeature }, up ? 1 : 0),
    }),
  });
}

/**
 * What features tell each other: the cluster as correlation sees it, the crashes the kernel
 * logged, each core's outcome, and each stored core's AI explanation. A feature's factory
 * takes the ones it reads or writes.
 */
export interface Channels {
  cluster: ClusterFacts;
  kernelCrashes: KernelCrashes;
  outcomes: Channel<CoreOutcome>;
  explanations: Channel<AiOutcome>;
}

/** Creates the channels; a subscriber that fails is logged, and the others still hear. */
export function createChannels(log: Logger): Channels {
  const failed = (what: string) => (error: unknown) =>
    log.warn(`${what}'s subscriber failed`, { error: errorMessage(error) });
  return {
    cluster: new ClusterFacts(),
    kernelCrashes: new KernelCrashes(),
    outcomes: new Channel<CoreOutcome>(failed("a core outcome")),
    explanations: new Channel<AiOutcome>(failed("an AI explanation")),
  };
}

/**
 * Starts the enabled features in order and returns those that started. A feature that fails
 * to start is off (`agent_feature_up` 0, logged, its reason in `failures`); the others run on.
 */
export async function startFeatures(
  features: readonly Feature[],
  context: FeatureContext,
  failures?: Map<string, string>,
): Promise<Feature[]> {
  const running: Feature[] = [];
  for (const feature of features.filter((f) => f.enabled)) {
    try {
      await feature.start();
      running.push(feature);
    } catch (error) {
      context.metrics.up.set({ feature: feature.name }, 0);
      failures?.set(feature.name, errorMessage(error));
      context.log[feature.optional ? "warn" : "error"](`${feature.title} off`, {
        reason: errorMessage(error),
      });
    }
  }
  return running;
}
