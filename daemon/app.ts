/**
 * The daemon's HTTP routes on Hono: health for Kubernetes probes and the agent's metrics.
 * Routes never format errors themselves: one `onError` does.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { Registry } from "prom-client";
import type { CoreRecord, CoreState } from "../lib/store/core_index.ts";

const STATES: readonly CoreState[] = [
  "seen",
  "analyzed",
  "storing",
  "stored",
  "skipped",
  "pruned",
  "failed",
];

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
}

/** The endpoints the index lists, with what each serves. */
export const ENDPOINTS: ReadonlyArray<readonly [path: string, description: string]> = [
  ["/metrics", "the agent's own metrics"],
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

/** Builds the app. */
export function createApp(deps: AppDependencies): Hono {
  const app = new Hono();
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
    deps.beforeScrape?.();
    c.header("content-type", deps.registry.contentType);
    return c.body(await deps.registry.metrics());
  });
  app.get("/cores", (c) => {
    const limit = c.req.query("limit") ?? "100";
    if (!/^\d{1,6}$/.test(limit) || Number(limit) < 1) {
      throw new HTTPException(400, { message: `invalid limit "${limit}": expected 1 to 999999` });
    }
    const states = (c.req.query("state") ?? "").split(",").filter(Boolean);
    const unknown = states.find((s) => !STATES.includes(s as CoreState));
    if (unknown !== undefined) {
      throw new HTTPException(400, {
        message: `invalid state "${unknown}": expected one of ${STATES.join(", ")}`,
      });
    }
    return c.json(
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
    const status = error instanceof HTTPException ? error.status : 500;
    return c.text(`${error.message}\n`, status);
  });
  return app;
}
