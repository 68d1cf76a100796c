/**
 * The daemon's HTTP app on Hono: the health probes, an optional bearer token in front of
 * everything else (`hono/bearer-auth`), `/metrics` (`routes/metrics.ts`) and the pages
 * (`routes/pages.ts`). Routes never format errors themselves: one `onError` does, with the
 * status the error's type calls for (400 bad input, 503 a dependency unavailable, 504 one
 * that timed out).
 *
 * @module
 */
import { Hono } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { HTTPException } from "hono/http-exception";
import { httpStatusOf } from "../lib/errors.ts";
import { metricsRoute, type MetricsRouteOptions } from "./routes/metrics.ts";
import { pageRoutes, type PagesOptions } from "./routes/pages.ts";

export { ENDPOINTS } from "./routes/pages.ts";

/** What the routes need. */
export interface AppDependencies extends MetricsRouteOptions, PagesOptions {
  /** Readiness checks by name: each true when ready. */
  readiness(): Record<string, boolean>;
  /** When set, every route but the health probes needs `Authorization: Bearer TOKEN`. */
  bearerToken?: string;
}

/** The probes, answered without a token so that the kubelet needs none. */
const PROBES = new Set(["/healthz", "/readyz"]);

/** Builds the app. */
export function createApp(deps: AppDependencies): Hono {
  const app = new Hono();
  if (deps.bearerToken) {
    const guard = bearerAuth({
      token: deps.bearerToken,
      realm: "agent",
      noAuthenticationHeader: { message: "unauthorized: bearer token required\n" },
      invalidAuthenticationHeader: { message: "bad request: malformed Authorization header\n" },
      invalidToken: { message: "unauthorized: wrong token\n" },
    });
    app.use("*", (c, next) => PROBES.has(c.req.path) ? next() : guard(c, next));
  }
  app.get("/healthz", (c) => c.text("ok\n"));
  app.get("/readyz", (c) => {
    const failing = Object.entries(deps.readiness()).filter(([, ok]) => !ok).map(([n]) => n);
    if (failing.length > 0) {
      throw new HTTPException(503, { message: `not ready: ${failing.join(", ")}` });
    }
    return c.text("ok\n");
  });
  metricsRoute(app, deps);
  pageRoutes(app, deps);
  app.notFound((c) => c.text(`not found: ${c.req.path}\n`, 404));
  app.onError((error, c) => {
    // A middleware's own answer (bearer auth) goes out as it made it.
    if (error instanceof HTTPException && error.res) return error.getResponse();
    const status = error instanceof HTTPException ? error.status : httpStatusOf(error);
    return c.text(`${error.message}\n`, status);
  });
  return app;
}
