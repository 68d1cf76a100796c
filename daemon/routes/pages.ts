/**
 * The daemon's pages: `/` (the endpoints), `/sandboxes` (kata-monitor's list: ids as text,
 * JSON or HTML by `Accept`) and `/cores` (the core index as JSON). Text by default, HTML for
 * a browser; every value a core or a shim put there is escaped for the format it goes out in.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { accepts } from "hono/accepts";
import { html } from "hono/html";
import { HTTPException } from "hono/http-exception";
import { escapeJsonControl } from "../../lib/escape.ts";
import { CORE_STATES, type CoreRecord, type CoreState } from "../../lib/store/mod.ts";
import type { KataApi } from "../features/kata.ts";

/** The endpoints the index lists, with what each serves. */
export const ENDPOINTS: ReadonlyArray<readonly [path: string, description: string]> = [
  ["/metrics", "the agent's and every sandbox's metrics (?sandbox=ID, ?filter_family=A,B)"],
  ["/sandboxes", "the Kata sandboxes, one id per line (JSON with Accept: application/json)"],
  ["/cores", "indexed cores as JSON (?state=stored,failed&limit=100)"],
  ["/healthz", "liveness"],
  ["/readyz", "readiness"],
];

/** What the pages show. */
export interface PagesOptions {
  /** The indexed cores, most recent first. */
  cores?(query: { states?: CoreState[]; limit: number }): CoreRecord[];
  /** The Kata sandboxes, while the Kata side runs. */
  kata?(): KataApi | undefined;
}

/** Which of `types` the request's `Accept` prefers, else the first. */
function negotiate<T extends string>(c: Context, types: readonly [T, ...T[]]): T {
  return accepts(c, { header: "Accept", supports: [...types], default: types[0] }) as T;
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

/** Adds `/`, `/sandboxes` and `/cores` to `app`. */
export function pageRoutes(app: Hono, options: PagesOptions): void {
  app.get("/", (c) => {
    if (negotiate(c, ["text/plain", "text/html"]) === "text/html") {
      return c.html(html`
        <!DOCTYPE html>
        <html>
          <head>
            <title>agent</title>
          </head>
          <body>
            <h1>Available HTTP endpoints</h1>
            <ul>
        ${ENDPOINTS.map(([path, description]) =>
          html`
            <li><a href="${path}">${path}</a>: ${description}</li>
          `
        )}</ul>
          </body>
        </html>
      `);
    }
    return c.text(
      `Available HTTP endpoints:\n${ENDPOINTS.map(([p, d]) => `${p}: ${d}`).join("\n")}\n`,
    );
  });
  app.get("/sandboxes", (c) => {
    const list = options.kata?.()?.sandboxes() ?? [];
    switch (negotiate(c, ["text/plain", "application/json", "text/html"])) {
      case "application/json":
        return safeJson(c, list);
      case "text/html":
        return c.html(html`
          <!DOCTYPE html>
          <html>
            <head>
              <title>Sandboxes</title>
            </head>
            <body>
              <h1>Sandboxes</h1>
              <ul>
          ${list.map((s) =>
            html`
              <li><a href="/metrics?sandbox=${encodeURIComponent(s.id)}">${s.id}</a>${s.name
                ? html`
                  (${s.namespace}/${s.name})
                `
                : ""}</li>
            `
          )}</ul>
            </body>
          </html>
        `);
      default:
        return c.text(list.map((s) => `${s.id}\n`).join(""));
    }
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
      options.cores?.({ states: states as CoreState[], limit: Number(limit) }) ?? [],
    );
  });
}
