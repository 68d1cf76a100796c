/**
 * The daemon's HTTP routes on Hono: health for Kubernetes probes and the agent's metrics.
 * Routes never format errors themselves: one `onError` does.
 *
 * @module
 */
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
}

/** Builds the app. */
export function createApp(deps: AppDependencies): Hono {
  const app = new Hono();
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
  app.get("/", (c) =>
    c.text(
      "Available HTTP endpoints:\n/healthz: liveness\n/readyz: readiness\n/metrics: the agent's own metrics\n/cores: indexed cores as JSON (?state=stored,failed&limit=100)\n",
    ));
  app.notFound((c) => c.text(`not found: ${c.req.path}\n`, 404));
  app.onError((error, c) => {
    const status = error instanceof HTTPException ? error.status : 500;
    return c.text(`${error.message}\n`, status);
  });
  return app;
}
