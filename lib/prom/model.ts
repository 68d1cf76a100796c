/**
 * The data model of Prometheus metrics shared by the text parser and serializer, the
 * shim scraper, the aggregator and the cAdvisor-style derivations: a family (one `# HELP`/
 * `# TYPE` block) and its samples, labels in the order they were written.
 *
 * @module
 */

/** A family's type, as `# TYPE` names it (OpenMetrics types included). */
export type MetricType =
  | "counter"
  | "gauge"
  | "histogram"
  | "summary"
  | "untyped"
  | "unknown"
  | "gaugehistogram"
  | "info"
  | "stateset";

/** Label names to values, in the order they were written. */
export type Labels = Record<string, string>;

/** One sample line: `name{labels} value [timestamp]`. */
export interface Sample {
  /** The sample's own name: the family's, or with `_bucket`, `_sum`, `_count`, `_total`... */
  name: string;
  labels: Labels;
  /** NaN, +Inf and -Inf included. */
  value: number;
  /** Milliseconds since the epoch, when the line carries one. */
  timestamp?: number;
}

/** A metric family: its name, help, type and samples. */
export interface MetricFamily {
  name: string;
  /** `# HELP` text, unescaped; empty when there was none. */
  help: string;
  type: MetricType;
  /** OpenMetrics `# UNIT`, when given. */
  unit?: string;
  samples: Sample[];
}
