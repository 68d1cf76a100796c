/**
 * Online anomaly detection over the node's own series: streaming detectors that score each
 * point from that point and the past only, in fixed memory per series (robust statistics,
 * change points, daily and weekly baselines, shape novelty, and their ensemble), a linear
 * forecast of when a filling resource is full, and an isolation forest over several metrics
 * at once. Measured on the Numenta Anomaly Benchmark (see `bench/README.md`).
 *
 * @module
 */
export {
  Detector,
  DETECTOR_NAMES,
  type DetectorName,
  type DetectorOptions,
  DETECTORS,
  isDetectorName,
} from "./detector.ts";
export { type CsvPoint, parseTimestamp, readSeriesCsv } from "./csv.ts";
export { LinearForecast } from "./forecast.ts";
export { IsolationForest, type IsolationForestOptions } from "./iforest.ts";
export { VectorDetector, type VectorDetectorOptions } from "./vector.ts";
export {
  type Matcher,
  MAX_RATE_SERIES,
  parseSeriesExpression,
  parseSeriesRule,
  SeriesEvaluator,
  type SeriesExpression,
  type SeriesValue,
} from "./series.ts";
export {
  FILL_RULES,
  type FillRule,
  SERIES_RULE_NAMES,
  SERIES_RULES,
  type SeriesRule,
  VECTOR_RULES,
  type VectorRule,
} from "./rules.ts";
export { type Baseline, type BaselineStore, SqliteBaselines } from "./baselines.ts";
export { AnomalyWatch, type WatchOptions } from "./watch.ts";
