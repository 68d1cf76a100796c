/**
 * kata-monitor's own metrics, with its exact names, types and buckets, in the registry passed
 * in. Their meaning follows the cache: `kata_monitor_scrape_count` and
 * `kata_monitor_scrape_failed_count` count shim scrapes (kata-monitor counts `/metrics`
 * requests and failed aggregations), and the histogram observes each shim scrape. Kept apart
 * from the scrape loop, which runs in a worker that does not load prom-client.
 *
 * @module
 */
import { Counter, Gauge, Histogram, type Registry } from "../metrics/mod.ts";
import type { ScrapeRecorder } from "./scraper.ts";

/** kata-monitor's own metric families, as it names and buckets them. */
export interface KataMonitorMetrics extends ScrapeRecorder {
  runningShimCount: Gauge;
  scrapeCount: Counter;
  scrapeFailedCount: Counter;
  scrapeDurations: Histogram;
}

/** kata-monitor's buckets: `prometheus.ExponentialBuckets(1, 2, 10)`. */
export const SCRAPE_DURATION_BUCKETS: readonly number[] = Array.from(
  { length: 10 },
  (_, i) => 2 ** i,
);

/**
 * Declares kata-monitor's own families in `registry`. prom-client keeps counter names as
 * given (no `_total` added), so they are exposed exactly as kata-monitor exposes them.
 *
 * @example Usage
 * ```ts
 * const metrics = createKataMonitorMetrics(new Registry(), () => sandboxes.size);
 * ```
 */
export function createKataMonitorMetrics(
  registry: Registry,
  runningShims: () => number,
): KataMonitorMetrics {
  const registers = [registry];
  const metrics: Omit<KataMonitorMetrics, "record"> = {
    runningShimCount: new Gauge({
      name: "kata_monitor_running_shim_count",
      help: "Running shims (sandboxes) found under the sandbox roots.",
      registers,
      collect() {
        this.set(runningShims());
      },
    }),
    scrapeCount: new Counter({
      name: "kata_monitor_scrape_count",
      help: "Scrapes of shim metrics.",
      registers,
    }),
    scrapeFailedCount: new Counter({
      name: "kata_monitor_scrape_failed_count",
      help: "Scrapes of shim metrics that failed.",
      registers,
    }),
    scrapeDurations: new Histogram({
      name: "kata_monitor_scrape_durations_histogram_milliseconds",
      help: "Time taken to scrape the metrics of one shim, in milliseconds.",
      buckets: [...SCRAPE_DURATION_BUCKETS],
      registers,
    }),
  };
  return {
    ...metrics,
    record(durationMs, ok) {
      metrics.scrapeCount.inc();
      metrics.scrapeDurations.observe(durationMs);
      if (!ok) metrics.scrapeFailedCount.inc();
    },
  };
}
