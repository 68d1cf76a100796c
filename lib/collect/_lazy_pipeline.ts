/**
 * The core pipeline, loaded when the first core arrives: until then the daemon holds none of
 * the analysis (the ELF note reader, gdb's runner and parser, the score, the bundles, the
 * compressors), which is most of what it would otherwise carry at idle.
 *
 * @module
 */
import type { CoreRecord } from "../store/mod.ts";
import type { CoreHints, CoreOutcome, CorePipeline, PipelineOptions } from "./pipeline.ts";

/** What the collector and the CLI ask of the pipeline. */
export type Pipeline = Pick<CorePipeline, "busy" | "process" | "abandon">;

/**
 * A {@linkcode CorePipeline} created on its first use.
 *
 * @example
 * ```ts ignore
 * const pipeline = new LazyPipeline({ config, index, store, log });
 * await pipeline.process("/var/crash/core.123"); // loads the pipeline, then processes
 * ```
 */
export class LazyPipeline implements Pipeline {
  readonly #options: PipelineOptions;
  #pipeline?: Promise<CorePipeline>;
  /** Cores handed over while the pipeline loads, so that `busy` counts them too. */
  readonly #waiting = new Set<string>();
  #loaded?: CorePipeline;

  /** Keeps `options` for the pipeline it will create. */
  constructor(options: PipelineOptions) {
    this.#options = options;
  }

  /** Whether the core at `path` is being processed (or waits for the pipeline to load). */
  busy(path: string): boolean {
    return this.#waiting.has(path) || (this.#loaded?.busy(path) ?? false);
  }

  /** As {@linkcode CorePipeline.process}, once the pipeline is loaded. */
  async process(path: string, hints?: CoreHints): Promise<CoreOutcome | undefined> {
    if (this.#loaded) return await this.#loaded.process(path, hints);
    if (this.#waiting.has(path)) return undefined;
    this.#waiting.add(path);
    try {
      const pipeline = await this.#load();
      return await pipeline.process(path, hints);
    } finally {
      this.#waiting.delete(path);
    }
  }

  /** As {@linkcode CorePipeline.abandon}, once the pipeline is loaded. */
  async abandon(record: CoreRecord): Promise<void> {
    await (await this.#load()).abandon(record);
  }

  #load(): Promise<CorePipeline> {
    return this.#pipeline ??= import("./pipeline.ts").then(({ CorePipeline }) =>
      this.#loaded = new CorePipeline(this.#options)
    );
  }
}
