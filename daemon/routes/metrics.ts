/**
 * `GET /metrics`: every sandbox's families (kata-monitor's aggregate, bytes shared by every
 * request until it changes) and the agent's own (one prom-client rendering shared by the
 * requests of `ownMetricsMaxAgeMs`, with the features' families and the `container_*`
 * families of the sandboxes and of the host's containers merged by name), as text 0.0.4 or
 * OpenMetrics, gzipped when accepted, filtered by `filter_family`; and kata-monitor's
 * `?sandbox=ID`, one shim's answer byte for byte.
 *
 * @module
 */
import type { Hono } from "hono";
import { accepts } from "hono/accepts";
import { HTTPException } from "hono/http-exception";
import type { Registry } from "prom-client";
import {
  mergeFamilies,
  type MetricFamily,
  parsePrometheusText,
  serializeHeader,
  serializePrometheusText,
  serializeSamples,
  SharedBody,
} from "../../lib/prom/mod.ts";
import type { KataApi } from "../features/kata.ts";

const TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS = "application/openmetrics-text";
const OPENMETRICS_FORMAT = `${OPENMETRICS}; version=1.0.0; charset=utf-8`;
const encoder = new TextEncoder();
/** The sandboxes' part of `/metrics` when the Kata side is off. */
const NO_SANDBOXES = new SharedBody(new Uint8Array(0));
/** No families: one array, so that "nothing changed" is an identity. */
const NO_FAMILIES: MetricFamily[] = [];

/** One rendering of the agent's own families and the containers', encoded. */
interface Tail {
  /** The `container_*` text it holds (reused while that is the current one). */
  containers: string;
  bytes: Uint8Array;
}

/** One rendering of the agent's own metrics, with the host's containers' families. */
interface Own {
  text: string;
  host: MetricFamily[];
  /** Its encoded forms, by variant. */
  tails: Map<string, Tail>;
}

/**
 * How many `ownMetricsMaxAgeMs` old the last rendering may be and still be served while the
 * next one is made.
 */
const STALE_AGES = 2;

/** What `/metrics` needs. */
export interface MetricsRouteOptions {
  registry: Registry;
  /** Brings counters kept elsewhere into the registry before a rendering. */
  beforeScrape?(): void;
  /** Families rendered elsewhere (text format 0.0.4), served with the agent's own. */
  exposition?(): Promise<string>;
  /**
   * Families rendered elsewhere whose names the Kata sandboxes' derived cAdvisor-style
   * series share (`container_*` of the host's containers): merged with those by name, so
   * that each name has one `# HELP`/`# TYPE` block.
   */
  families?(): Promise<MetricFamily[]>;
  /** The Kata sandboxes, while the Kata side runs. */
  kata?(): KataApi | undefined;
  /**
   * How long one rendering of the agent's own metrics serves the requests that follow it;
   * default 0, a rendering per request. prom-client makes about 100 KB of garbage per
   * rendering of 11 KB: under a burst of scrapes that, not the shared sandbox body, grew the
   * heap.
   */
  ownMetricsMaxAgeMs?: number;
}

/** The agent's own families (prom-client's text) rendered again as OpenMetrics, no `# EOF`. */
function openMetricsOf(text: string, keep: (name: string) => boolean): string {
  let out = "";
  for (const family of parsePrometheusText(text, { lenient: true })) {
    if (!keep(family.name)) continue;
    out += serializeHeader(family, { openMetrics: true }) +
      serializeSamples(family, undefined, { openMetrics: true });
  }
  return out;
}

/** Keeps the families of prom-client's text whose names pass `keep`. */
function filterText(text: string, keep: (name: string) => boolean): string {
  let out = "";
  let keeping = true;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const name = line.startsWith("# ") ? line.split(" ", 3)[2] ?? "" : line.split(/[{ ]/, 1)[0]!;
    if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) keeping = keep(name);
    if (keeping) out += line + "\n";
  }
  return out;
}

/** Adds `GET /metrics` to `app`. */
export function metricsRoute(app: Hono, options: MetricsRouteOptions): void {
  const maxAge = options.ownMetricsMaxAgeMs ?? 0;
  /** The last rendering of the agent's own metrics that completed. */
  let current: { at: number; own: Own } | undefined;
  /** The rendering under way. */
  let next: { at: number; done: Promise<Own> } | undefined;
  /**
   * The agent's own metrics and the host's containers' families: one rendering shared by the
   * requests of `ownMetricsMaxAgeMs`. Past that age a new one is started; while it is under
   * way, requests that come within a few ages of the last get the last (under a steady load
   * no request waits for the node collectors and prom-client), older ones wait for it.
   */
  const ownMetrics = (): Own | Promise<Own> => {
    const now = Date.now();
    if (current !== undefined && now - current.at < maxAge) return current.own;
    if (next === undefined || now - next.at >= maxAge) {
      const done = (async () => {
        options.beforeScrape?.();
        const [own, more, host] = await Promise.all([
          options.registry.metrics(),
          options.exposition?.() ?? "",
          options.families?.() ?? NO_FAMILIES,
        ]);
        return { text: own + more, host, tails: new Map<string, Tail>() };
      })();
      const started = { at: now, done };
      next = started;
      // A failed rendering is not kept: the next request tries again.
      done.then((own) => {
        if (current === undefined || current.at < started.at) current = { at: started.at, own };
      }, () => {}).finally(() => next === started && (next = undefined));
    }
    if (current !== undefined && now - current.at < maxAge * STALE_AGES) return current.own;
    return next.done;
  };
  /**
   * The `container_*` families of the sandboxes (derived, out of the shared body) and of the
   * host's containers, merged by name: rendered again only when either changes (a scrape of
   * the shims, a collection of the node), so that it always matches the body it goes with.
   */
  let merged: { derived: MetricFamily[]; host: MetricFamily[]; text: string } | undefined;
  const containerText = (derived: MetricFamily[], host: MetricFamily[]) => {
    if (merged?.derived !== derived || merged.host !== host) {
      const text = serializePrometheusText(mergeFamilies([...derived, ...host]));
      merged = { derived, host, text };
    }
    return merged.text;
  };
  app.get("/metrics", async (c) => {
    const kata = options.kata?.();
    const id = c.req.query("sandbox");
    if (id !== undefined) {
      // kata-monitor's per-sandbox view: that shim's answer, fetched now, byte for byte.
      if (!kata) {
        throw new HTTPException(404, { message: "no Kata sandboxes: kata.enabled is false" });
      }
      const sandbox = kata.lookup(id);
      if (sandbox === "invalid") {
        throw new HTTPException(400, { message: `invalid sandbox id ${JSON.stringify(id)}` });
      }
      if (sandbox === "unknown") {
        throw new HTTPException(404, { message: `unknown sandbox ${JSON.stringify(id)}` });
      }
      c.header("content-type", TEXT_FORMAT);
      return c.body(await kata.fetchOne(sandbox));
    }
    const prefixes = (c.req.query("filter_family") ?? "").split(",").map((p) => p.trim())
      .filter(Boolean);
    const keep = (name: string) =>
      prefixes.length === 0 || prefixes.some((prefix) => name.startsWith(prefix));
    const openMetrics = accepts(c, {
      header: "Accept",
      supports: [OPENMETRICS, "text/plain"],
      default: "text/plain",
    }) === OPENMETRICS;
    const gzip = accepts(c, {
      header: "Accept-Encoding",
      supports: ["gzip", "identity"],
      default: "identity",
    }) === "gzip";
    const own = await ownMetrics();
    const host = own.host;
    // The shared body and the sandboxes' derived families from one state of the aggregate,
    // with nothing awaited between them: they always describe the same scrapes.
    const aggregate = await kata?.aggregate({ gzip });
    const shared = aggregate?.body({ families: prefixes, openMetrics, cadvisor: false }) ??
      NO_SANDBOXES;
    const containers = containerText(aggregate?.cadvisorFamilies() ?? NO_FAMILIES, host);
    c.header("content-type", openMetrics ? OPENMETRICS_FORMAT : TEXT_FORMAT);
    if (gzip) {
      c.header("content-encoding", "gzip");
      c.header("vary", "accept-encoding");
    }
    // The sandboxes' families first, as bytes shared by every request until the aggregate
    // changes, then the agent's own, shared by the requests of one rendering.
    const variant = `${openMetrics ? "om" : "text"}|${prefixes.join(",")}`;
    let tail = own.tails.get(variant);
    if (tail?.containers !== containers) {
      const text = own.text + containers;
      tail = {
        containers,
        bytes: encoder.encode(
          openMetrics
            ? openMetricsOf(text, keep) + "# EOF\n"
            : prefixes.length > 0
            ? filterText(text, keep)
            : text,
        ),
      };
      // A few variants at most: `filter_family` can be anything.
      if (own.tails.size < 8 || own.tails.has(variant)) own.tails.set(variant, tail);
    }
    const parts = gzip ? shared.gzipWith(tail.bytes) : [shared.bytes, tail.bytes];
    // A stream hands the server these arrays as they are; a Uint8Array body would be copied.
    return c.body(
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (const part of parts) controller.enqueue(part);
          controller.close();
        },
      }),
    );
  });
}
