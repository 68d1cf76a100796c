/**
 * The four prom-client classes the agent uses, each imported from its own file of the package.
 * The package's entry also loads the Pushgateway (`node:http`, `node:https`), the cluster
 * aggregator, the default process metrics (with `@opentelemetry/api`) and the Summary (two more
 * packages), none of which the agent uses: about 3 MB of the daemon's idle RSS (measured in
 * bench/README.md, "Daemon idle memory"). The types are the package's own.
 *
 * @module
 */
import type * as PromClient from "prom-client";
import counter from "prom-client/lib/counter.js";
import gauge from "prom-client/lib/gauge.js";
import histogram from "prom-client/lib/histogram.js";
import registry from "prom-client/lib/registry.js";

/** prom-client's `Counter`. */
export const Counter: typeof PromClient.Counter = counter;
/** prom-client's `Gauge`. */
export const Gauge: typeof PromClient.Gauge = gauge;
/** prom-client's `Histogram`. */
export const Histogram: typeof PromClient.Histogram = histogram;
/** prom-client's `Registry`. */
export const Registry: typeof PromClient.Registry = registry;
/** An instance of prom-client's `Counter`. */
export type Counter<T extends string = string> = PromClient.Counter<T>;
/** An instance of prom-client's `Gauge`. */
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
/** An instance of prom-client's `Histogram`. */
export type Histogram<T extends string = string> = PromClient.Histogram<T>;
/** An instance of prom-client's `Registry`. */
export type Registry = PromClient.Registry;
