/**
 * Kata Containers sandboxes, the kata-monitor way: discovery of sandboxes under the shim
 * roots, scraping each shim's `shim-monitor.sock`, pod metadata from the CRI runtime
 * (`lib/cri`), and the aggregate of every sandbox's metrics (kata-monitor's labels and
 * renaming, cAdvisor-style series) that `/metrics` serves.
 *
 * @module
 */
export {
  MetricsAggregator,
  releaseEntry,
  type SandboxEntry,
  type SandboxScrape,
  type SandboxUsage,
} from "./aggregate.ts";
export { discoverSandboxes, type SandboxView, sandboxView } from "./discover.ts";
export { isValidSandboxId, type Sandbox, SandboxDirectory } from "./sandboxes.ts";
export { type ShimScrape, ShimScraper } from "./scraper.ts";
export { createKataMonitorMetrics, type KataMonitorMetrics } from "./monitor_metrics.ts";
export { type PublishedScrape, ScrapeWorker, ScrapeWorkerCrash } from "./scrape_worker.ts";
export { fetchShimBytes, fetchShimMetrics, ShimError } from "./shim.ts";
