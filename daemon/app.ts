/**
 * The daemon's HTTP routes on Hono: health for Kubernetes probes and the agent's metrics.
 * Routes never format errors themselves: one `onError` does.
 *
 * @module
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { Registry } from "prom-client";

/** What the routes need. */
export interface AppDependencies {
  registry: Registry;
  /** Readiness checks by name: each true when ready. */
  readiness(): Record<string, boolean>;
  /** Brings counters kept elsewhere into the registry before a scrape. */
  beforeScrape?(): void;
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
  app.get("/", (c) =>
    c.text(
      "Available HTTP endpoints:\n/healthz: liveness\n/readyz: readiness\n/metrics: the agent's own metrics\n",
    ));
  app.notFound((c) => c.text(`not found: ${c.req.path}\n`, 404));
  app.onError((error, c) => {
    const status = error instanceof HTTPException ? error.status : 500;
    return c.text(`${error.message}\n`, status);
  });
  return app;
}
