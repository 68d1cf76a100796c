/**
 * The daemon's HTTP routes on Hono: health for Kubernetes probes and the agent's metrics.
 * Routes never format errors themselves: one `onError` does.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { type Context, Hono } from "hono";
import { escapeJsonControl } from "../lib/escape.ts";
import { httpStatusOf } from "../lib/errors.ts";
import { HTTPException } from "hono/http-exception";
import type { Registry } from "prom-client";
import { CORE_STATES, type CoreRecord, type CoreState } from "../lib/store/mod.ts";
import { parsePrometheusText, serializeHeader, serializeSamples } from "../lib/prom/mod.ts";
import { SharedBody } from "../lib/kata/mod.ts";
import type { KataApi } from "./features/kata.ts";

const TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8";
const encoder = new TextEncoder();
/** The sandboxes' part of `/metrics` when the Kata side is off. */
const NO_SANDBOXES = new SharedBody(new Uint8Array(0));
const OPENMETRICS_FORMAT = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/** What the routes need. */
export interface AppDependencies {
  registry: Registry;
  /** Readiness checks by name: each true when ready. */
  readiness(): Record<string, boolean>;
  /** Brings counters kept elsewhere into the registry before a scrape. */
  beforeScrape?(): void;
  /** The indexed cores, most recent first. */
  cores?(query: { states?: CoreState[]; limit: number }): CoreRecord[];
  /** When set, every route but the health probes needs `Authorization: Bearer TOKEN`. */
  bearerToken?: string;
  /** The Kata sandboxes' metrics and list, while the Kata side runs. */
  kata?(): KataApi | undefined;
  /**
   * How long one rendering of the agent's own metrics serves the `/metrics` requests that
   * follow it; default 0, a rendering per request. prom-client makes about 100 KB of garbage
   * per rendering of 11 KB: under a burst of scrapes that, not the shared sandbox body, is what
   * grew the heap.
   */
  ownMetricsMaxAgeMs?: number;
}

/** Whether the `Accept` header (split on `,`) names `type`. */
function accepts(header: string | undefined, type: string): boolean {
  return (header ?? "").split(",").some((part) => part.trim().toLowerCase().startsWith(type));
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

/** The endpoints the index lists, with what each serves. */
export const ENDPOINTS: ReadonlyArray<readonly [path: string, description: string]> = [
  ["/metrics", "the agent's and every sandbox's metrics (?sandbox=ID, ?filter_family=A,B)"],
  ["/sandboxes", "the Kata sandboxes, one id per line (JSON with Accept: application/json)"],
  ["/cores", "indexed cores as JSON (?state=stored,failed&limit=100)"],
  ["/healthz", "liveness"],
  ["/readyz", "readiness"],
];

/** Compares two secrets in constant time (their digests, so lengths do not leak either). */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * JSON whose strings carry what cores and shims said (crash reasons, paths, errors): DEL and
 * C1 controls, which `JSON.stringify` leaves raw, are escaped too, so no byte of a core can
 * act on the terminal of someone running `curl`.
 */
function safeJson(c: Context, value: unknown): Response {
  c.header("content-type", "application/json");
  return c.body(escapeJsonControl(JSON.stringify(value)));
}

/** Builds the app. */
export function createApp(deps: AppDependencies): Hono {
  const app = new Hono();
  let rendering:
    | { at: number; done: Promise<{ text: string; tails: Map<string, Uint8Array> }> }
    | undefined;
  /** The agent's own metrics: one rendering shared by the requests of `ownMetricsMaxAgeMs`. */
  const ownMetrics = () => {
    const now = Date.now();
    if (rendering === undefined || now - rendering.at >= (deps.ownMetricsMaxAgeMs ?? 0)) {
      const done = (async () => {
        deps.beforeScrape?.();
        return { text: await deps.registry.metrics(), tails: new Map<string, Uint8Array>() };
      })();
      rendering = { at: now, done };
      // A failed rendering is not shared: the next request tries again.
      done.catch(() => rendering?.done === done && (rendering = undefined));
    }
    return rendering.done;
  };
  if (deps.bearerToken) {
    const token = deps.bearerToken;
    app.use("*", async (c, next) => {
      if (c.req.path === "/healthz" || c.req.path === "/readyz") return await next();
      const header = c.req.header("authorization") ?? "";
      const given = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
      if (given === undefined || !sameSecret(given, token)) {
        c.header("www-authenticate", 'Bearer realm="agent"');
        return c.text(
          given === undefined
            ? "unauthorized: bearer token required\n"
            : "unauthorized: wrong token\n",
          401,
        );
      }
      await next();
    });
  }
  app.get("/healthz", (c) => c.text("ok\n"));
  app.get("/readyz", (c) => {
    const checks = deps.readiness();
    const failing = Object.entries(checks).filter(([, ok]) => !ok).map(([name]) => name);
    if (failing.length > 0) {
      throw new HTTPException(503, { message: `not ready: ${failing.join(", ")}` });
    }
    return c.text("ok\n");
  });
  app.get("/metrics", async (c) => {
    const kata = deps.kata?.();
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
    const openMetrics = accepts(c.req.header("accept"), "application/openmetrics-text");
    const gzip = /\bgzip\b/i.test(c.req.header("accept-encoding") ?? "");
    const own = await ownMetrics();
    c.header("content-type", openMetrics ? OPENMETRICS_FORMAT : TEXT_FORMAT);
    if (gzip) {
      c.header("content-encoding", "gzip");
      c.header("vary", "accept-encoding");
    }
    // The sandboxes' families first, as bytes shared by every request until the aggregate
    // changes, then the agent's own, shared by the requests of one rendering.
    const variant = `${openMetrics ? "om" : "text"}|${prefixes.join(",")}`;
    let tail = own.tails.get(variant);
    if (tail === undefined) {
      tail = encoder.encode(
        openMetrics
          ? openMetricsOf(own.text, keep) + "# EOF\n"
          : prefixes.length > 0
          ? filterText(own.text, keep)
          : own.text,
      );
      // A few variants at most: `filter_family` can be anything.
      if (own.tails.size < 8) own.tails.set(variant, tail);
    }
    const shared = kata?.aggregate().body({ families: prefixes, openMetrics }) ?? NO_SANDBOXES;
    const parts = gzip ? shared.gzipWith(tail) : [shared.bytes, tail];
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
  app.get("/sandboxes", (c) => {
    const list = deps.kata?.()?.sandboxes() ?? [];
    const accept = c.req.header("accept");
    if (accepts(accept, "application/json")) return safeJson(c, list);
    if (accepts(accept, "text/html")) {
      const items = list.map((s) =>
        `<li><a href="/metrics?sandbox=${encodeURIComponent(s.id)}">${escapeHtml(s.id)}</a>${
          s.name ? ` (${escapeHtml(s.namespace)}/${escapeHtml(s.name)})` : ""
        }</li>`
      ).join("\n");
      return c.html(
        `<!DOCTYPE html>\n<html><head><title>Sandboxes</title></head><body>\n<h1>Sandboxes</h1>\n<ul>\n${items}\n</ul>\n</body></html>\n`,
      );
    }
    return c.text(list.map((s) => `${s.id}\n`).join(""));
  });
  app.get("/cores", (c) => {
    const limit = c.req.query("limit") ?? "100";
    if (!/^\d{1,6}$/.test(limit) || Number(limit) < 1) {
      throw new HTTPException(400, { message: `invalid limit "${limit}": expected 1 to 999999` });
    }
    const states = (c.req.query("state") ?? "").split(",").filter(Boolean);
    const unknown = states.find((s) => !CORE_STATES.includes(s as CoreState));
    if (unknown !== undefined) {
      throw new HTTPException(400, {
        message: `invalid state "${unknown}": expected one of ${CORE_STATES.join(", ")}`,
      });
    }
    return safeJson(
      c,
      deps.cores?.({ states: states as CoreState[], limit: Number(limit) }) ?? [],
    );
  });
  app.get("/", (c) => {
    const html = (c.req.header("accept") ?? "").split(",").some((type) =>
      type.trim().toLowerCase().startsWith("text/html")
    );
    if (html) {
      const items = ENDPOINTS.map(([path, description]) =>
        `<li><a href="${escapeHtml(path)}">${escapeHtml(path)}</a>: ${escapeHtml(description)}</li>`
      ).join("\n");
      return c.html(
        `<!DOCTYPE html>\n<html><head><title>agent</title></head><body>\n<h1>Available HTTP endpoints</h1>\n<ul>\n${items}\n</ul>\n</body></html>\n`,
      );
    }
    return c.text(
      `Available HTTP endpoints:\n${ENDPOINTS.map(([p, d]) => `${p}: ${d}`).join("\n")}\n`,
    );
  });
  app.notFound((c) => c.text(`not found: ${c.req.path}\n`, 404));
  app.onError((error, c) => {
    const status = error instanceof HTTPException ? error.status : httpStatusOf(error);
    return c.text(`${error.message}\n`, status);
  });
  return app;
}
