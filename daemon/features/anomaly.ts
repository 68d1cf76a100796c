/**
 * Anomaly detection over the daemon's own series, on when `anomaly.enabled`: every
 * `anomaly.interval` the series rules (`anomaly.series`, `anomaly.rules`) are evaluated over
 * the metric families the daemon serves, each series is scored by its detector, and the
 * filling of filesystems and memory is forecast; the results are on `/metrics`
 * (`agent_anomaly_score`, `agent_anomaly_active`, `agent_forecast_seconds_to_full`). What the
 * detectors learned is written to the state database every `anomaly.saveInterval` and when the
 * daemon stops, and read back when a series is seen again.
 *
 * @module
 */
import {
  AnomalyWatch,
  type DetectorName,
  FILL_RULES,
  SERIES_RULES,
  SqliteBaselines,
  VECTOR_RULES,
} from "../../lib/anomaly/mod.ts";
import { errorMessage } from "../../lib/errors.ts";
import { sleep } from "../../lib/pool.ts";
import { type MetricFamily, serializePrometheusText } from "../../lib/prom/mod.ts";
import { type Feature, type FeatureContext, superviseStage } from "../feature.ts";

/** What the anomaly feature reads: the families the daemon serves, but its own. */
export interface AnomalyDeps {
  families(): Promise<readonly MetricFamily[]>;
}

/** Creates the anomaly feature. */
export function anomalyFeature(context: FeatureContext, deps: AnomalyDeps): Feature {
  const { config, log } = context;
  const settings = config.anomaly;
  let watch: AnomalyWatch | undefined;
  let running: Promise<unknown> = Promise.resolve();
  return {
    name: "anomaly",
    title: "anomaly detection",
    enabled: settings.enabled,
    start() {
      const all = settings.series.includes("all");
      const series = [
        ...SERIES_RULES.filter((rule) => all || settings.series.includes(rule.name)),
        ...settings.rules,
      ];
      const store = new SqliteBaselines(context.db);
      const current = new AnomalyWatch({
        series,
        vectors: VECTOR_RULES,
        fills: FILL_RULES,
        detector: settings.detector as DetectorName,
        threshold: settings.threshold,
        holdSeconds: settings.hold / 1000,
        maxSeries: settings.maxSeries,
        forecastHorizonSeconds: settings.forecastHorizon / 1000,
        store,
      });
      watch = current;
      log.info("watching series for anomalies", {
        series: series.map((s) => s.name).join(","),
        interval: `${settings.interval / 1000}s`,
      });
      running = superviseStage(context, "anomaly", async (signal) => {
        let saved = Date.now();
        try {
          while (!signal.aborted) {
            try {
              current.observe(await deps.families(), Date.now() / 1000);
            } catch (error) {
              log.warn("anomaly evaluation failed", { error: errorMessage(error) });
            }
            if (Date.now() - saved >= settings.saveInterval) {
              current.save(Date.now());
              saved = Date.now();
            }
            await sleep(settings.interval, signal);
          }
        } finally {
          current.save(Date.now());
        }
      }, "anomaly");
      context.metrics.up.set({ feature: "anomaly" }, 1);
      return Promise.resolve();
    },
    async stop() {
      await running;
    },
    ready: () => true,
    exposition: () => Promise.resolve(watch ? serializePrometheusText(watch.families()) : ""),
  };
}
