/**
 * Collecting cores: the directory watcher, completeness detection, core<->pod correlation,
 * the pipeline that analyzes, scores, groups and stores each core, and `core_pattern` pipe
 * mode. {@linkcode openCollection} wires the state database, the index, the configured
 * store and the pipeline together for the CLI and the daemon.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import type { Config } from "../config/mod.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../store/mod.ts";
import { CoreIndex } from "../store/mod.ts";
import { openStore } from "../store/mod.ts";
import { openState } from "../store/mod.ts";
import type { PipelineOptions } from "./pipeline.ts";
import { LazyPipeline, type Pipeline } from "./_lazy_pipeline.ts";
import type { AnalyzeOptions, CoreAnalysis } from "../core/mod.ts";

export { type Collector, isFinished, runCollector } from "./collector.ts";
// The pipeline and the bundles are loaded on first use (see _lazy_pipeline.ts): only their
// types are re-exported here.
export type { BundleEntry, BundleManifest } from "./bundle.ts";
export { LazyPipeline, type Pipeline } from "./_lazy_pipeline.ts";
export { correlate, type Correlation, parseCgroup, type PodInfo, podInfo } from "./correlate.ts";
export { ClusterFacts, type ClusterReader } from "./cluster_facts.ts";
export {
  type KernelCrash,
  KernelCrashes,
  type KernelCrashMatch,
  type KernelCrashReader,
} from "./kernel_crashes.ts";
export type { CoreHints, CoreOutcome, CorePipeline } from "./pipeline.ts";
export {
  CORE_PATTERN_FILE,
  installCorePattern,
  parsePipeArguments,
  pipePattern,
  restoreCorePattern,
  spoolCore,
  spoolDir,
} from "./pipe.ts";
import { errorMessage } from "../errors.ts";
export { CoreWatcher, isUnnamable, looksLikeCore, unnamableMessage } from "./watch.ts";
export { type CoreNameFacts, parseCoreName } from "./names.ts";

/** The pieces of collection, open. */
export interface Collection {
  db: DatabaseSync;
  index: CoreIndex;
  store: Store;
  /** Created on its first core: see {@linkcode LazyPipeline}. */
  pipeline: Pipeline;
}

/**
 * Opens the state database (or uses `db`), the core index and the configured store, and
 * creates the pipeline. Leftovers of interrupted writes by this node are swept first.
 *
 * @throws {UnavailableError} when the state database cannot be opened.
 * @throws {ConfigError} when the store's settings are incomplete.
 */
export async function openCollection(
  config: Config,
  log: Logger,
  options: Partial<Pick<PipelineOptions, "cluster" | "outcomes" | "kernelCrashes">> & {
    db?: DatabaseSync;
  } = {},
): Promise<Collection> {
  const store = openStore(config.storage, config.nodeName || Deno.hostname());
  const db = options.db ?? await openState(config.stateDir);
  const index = new CoreIndex(db);
  try {
    const swept = await store.sweep();
    if (swept > 0) log.info("removed leftovers of interrupted writes", { count: swept });
  } catch (error) {
    log.warn("cannot sweep the store", {
      store: store.location,
      error: errorMessage(error),
    });
  }
  const pipeline = new LazyPipeline({ config, index, store, log, ...options });
  return { db, index, store, pipeline };
}

/**
 * Analyzes a core with the debug bundle it comes with, when it comes with one; the bundle's
 * stored files are read from the configured store. Problems reaching them become warnings of
 * the analysis. The analysis code is loaded by the first call.
 *
 * @throws {InputError} as `analyzeCore` does.
 *
 * @example
 * ```ts ignore
 * const analysis = await analyzeWithBundle("/var/crash/core.123", analyzeOptions(config), config);
 * ```
 */
export async function analyzeWithBundle(
  path: string,
  options: AnalyzeOptions,
  config: Pick<Config, "storage" | "nodeName">,
): Promise<CoreAnalysis> {
  const bundle = await import("./bundle.ts");
  return await bundle.analyzeWithBundle(path, options, config);
}
