/**
 * The daemon's pages: `/` (the endpoints; for a browser, the status of every feature),
 * `/sandboxes` (kata-monitor's list: ids as text, JSON, or for a browser a table with pods,
 * scrapes, CPU and memory) and `/cores` (the core index as JSON, or for a browser a table and
 * a chart of cores per hour by crash group). Clients that do not ask for HTML get what they
 * always got; every value a core or a shim put there is escaped for the format it goes out in.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { accepts } from "hono/accepts";
import { html } from "hono/html";
import { HTTPException } from "hono/http-exception";
import type { CoreAi } from "../../lib/ai/mod.ts";
import { escapeJsonControl } from "../../lib/escape.ts";
import { CORE_STATES, type CoreRecord, type CoreState } from "../../lib/store/mod.ts";
import type { KataApi } from "../features/kata.ts";
import { ago, badge, bytes, cut, cutStart, type Html, page, table } from "./_html.ts";
import { meter, stackedBars } from "./_charts.ts";

/** The endpoints the index lists, with what each serves. */
export const ENDPOINTS: ReadonlyArray<readonly [path: string, description: string]> = [
  ["/metrics", "the agent's and every sandbox's metrics (?sandbox=ID, ?filter_family=A,B)"],
  ["/sandboxes", "the Kata sandboxes, one id per line (JSON with Accept: application/json)"],
  ["/cores", "indexed cores as JSON (?state=stored,failed&limit=100)"],
  ["/healthz", "liveness"],
  ["/readyz", "readiness"],
];

/** A feature as the status page shows it. */
export interface FeatureStatus {
  name: string;
  title: string;
  /** `up`, `down` (a stage restarting), `failed` (could not start), `off`, or `starting`. */
  state: "up" | "down" | "failed" | "off" | "starting";
  /** Why it is in that state ("" when up and ready). */
  reason: string;
  ready: boolean;
}

/** The daemon as the status page shows it. */
export interface DaemonStatus {
  version: string;
  node: string;
  startedAt: string;
  features: FeatureStatus[];
}

/** An indexed core with, when the AI stage runs, where it is there. */
export type CoreView = CoreRecord & { ai?: CoreAi | null };

/** What the pages show. */
export interface PagesOptions {
  /** The indexed cores, most recent first. */
  cores?(query: { states?: CoreState[]; limit: number }): CoreView[];
  /** The Kata sandboxes, while the Kata side runs. */
  kata?(): KataApi | undefined;
  /** The daemon and its features, for the status page. */
  status?(): Promise<DaemonStatus>;
  /** The clock (milliseconds since the epoch); tests set it. */
  now?(): number;
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

/** How many indexed cores the charts look at, at most. */
const CHART_CORES = 2000;
const HOUR_MS = 3_600_000;

/** When a core crashed, or else when it was found. */
function coreTime(core: CoreRecord): number {
  return Date.parse(core.crashTime ?? core.firstSeen);
}

/** The crash group of a core (instance and fingerprint) and how to name it. */
function crashGroup(core: CoreRecord): { key: string; label: string } {
  const reason = core.crashReason ?? core.signal ?? "unknown crash";
  return {
    key: `${core.instance ?? ""}\0${core.fingerprint ?? reason}`,
    label: `${core.instance && core.instance !== "unknown" ? core.instance : core.pod ?? "?"}: ${
      reason.length > 48 ? `${reason.slice(0, 47)}\u2026` : reason
    }`,
  };
}

/** Cores per hour over the last 24 hours (UTC), one series per crash group. */
function coresPerHour(cores: CoreRecord[], now: number): Html {
  const end = Math.floor(now / HOUR_MS) * HOUR_MS + HOUR_MS;
  const start = end - 24 * HOUR_MS;
  const buckets = Array.from(
    { length: 24 },
    (_, i) => `${String(new Date(start + i * HOUR_MS).getUTCHours()).padStart(2, "0")}:00`,
  );
  const groups = new Map<string, { label: string; values: number[] }>();
  for (const core of cores) {
    const time = coreTime(core);
    if (!(time >= start && time < end)) continue;
    const { key, label } = crashGroup(core);
    const group = groups.get(key) ?? { label, values: new Array(24).fill(0) };
    group.values[Math.floor((time - start) / HOUR_MS)]++;
    groups.set(key, group);
  }
  if (groups.size === 0) return html`<p class="muted">No cores in the last 24 hours.</p>`;
  return stackedBars("Cores per hour by crash group, last 24 hours (UTC)", buckets, [
    ...groups.values(),
  ], { labelEvery: 3 });
}

function sandboxUsage(kata: KataApi, id: string): { cpu: Html; memory: Html } {
  const usage = kata.usage(id);
  const cpu = usage?.cpuCores === undefined
    ? html`<span class="muted">&ndash;</span>`
    : html`${usage.cpuCores.toFixed(usage.cpuCores < 1 ? 3 : 2)}`;
  const memory = usage?.memoryBytes === undefined
    ? html`<span class="muted">&ndash;</span>`
    : usage.memoryLimitBytes
    ? html`${
      meter(
        usage.memoryBytes,
        usage.memoryLimitBytes,
        `${bytes(usage.memoryBytes)} of ${bytes(usage.memoryLimitBytes)}`,
      )
    } ${bytes(usage.memoryBytes)} <span class="muted">of ${bytes(usage.memoryLimitBytes)}</span>`
    : html`${bytes(usage.memoryBytes)}`;
  return { cpu, memory };
}

function statusPage(options: PagesOptions, status: DaemonStatus | undefined, now: number): Html {
  const sandboxes = options.kata?.()?.sandboxes();
  const cores = options.cores?.({ limit: CHART_CORES }) ?? [];
  const recent = cores.filter((core) => coreTime(core) >= now - 24 * HOUR_MS);
  const lastScrape = sandboxes?.map((s) => s.lastScrape).filter((t) => t !== null).sort().at(-1);
  const features = status?.features ?? [];
  const up = features.filter((f) => f.state === "up").length;
  const enabled = features.filter((f) => f.state !== "off").length;
  const failing = sandboxes?.filter((s) => s.lastError).length ?? 0;
  return page(
    `agent on ${status?.node ?? "this node"}`,
    status ? `version ${status.version}, started ${new Date(status.startedAt).toISOString()}` : "",
    html`
      <div class="cards">
        <div class="card">
          <div class="muted">Features up</div>
          <div class="value">${up} of ${enabled}</div>
        </div>
        <div class="card">
          <div class="muted">Kata sandboxes</div>
          <div class="value">${sandboxes ? sandboxes.length : "off"}</div>
          <div class="muted">${sandboxes
            ? html`last scrape ${ago(lastScrape, now)}${
              failing ? html`, <span class="error">${failing} failing</span>` : ""
            }`
            : "kata.enabled is false"}</div>
        </div>
        <div class="card">
          <div class="muted">Cores, last 24 h</div>
          <div class="value">${recent.length}</div>
          <div class="muted">${recent.filter((c) => c.state === "stored").length} stored</div>
        </div>
      </div>
      <h2>Features</h2>
      ${table(
        ["feature", "what", "state", "ready", "why"],
        features.map((f) => [
          html`<code>${f.name}</code>`,
          html`${f.title}`,
          badge(f.state),
          html`${f.state === "off" ? "\u2013" : f.ready ? "yes" : "no"}`,
          f.state === "failed" ? html`<span class="error">${f.reason}</span>` : html`${f.reason}`,
        ]),
        { wrap: [4], empty: "The daemon did not say." },
      )}
      <h2>Cores</h2>
      ${coresPerHour(cores, now)}
      <h2>Endpoints</h2>
      <ul>
      ${ENDPOINTS.map(([path, description]) =>
        html`
          <li><a href="${path}">${path}</a>: ${description}</li>
        `
      )}</ul>
    `,
  );
}

function sandboxesPage(kata: KataApi | undefined, now: number): Html {
  const list = kata?.sandboxes() ?? [];
  return page(
    "Kata sandboxes",
    kata ? `${list.length} on this node` : "kata.enabled is false",
    table(
      ["sandbox", "pod", "namespace", "runtime", "last scrape", "error", "CPUs", "memory"],
      list.map((s) => {
        const { cpu, memory } = sandboxUsage(kata!, s.id);
        return [
          html`<a class="mono" href="/metrics?sandbox=${
            encodeURIComponent(s.id)
          }" title="${s.id}">${s.id.slice(0, 13)}</a>`,
          s.name ? html`${s.name}` : html`<span class="muted">unknown</span>`,
          s.namespace ? html`${s.namespace}` : html`<span class="muted">&ndash;</span>`,
          html`${s.runtime}`,
          ago(s.lastScrape, now),
          // The table names the sandbox already.
          s.lastError
            ? html`<span class="error">${
              cut(
                s.lastError.replace(`shim-monitor.sock of sandbox ${JSON.stringify(s.id)}: `, ""),
                100,
              )
            }</span>`
            : html``,
          cpu,
          memory,
        ];
      }),
      {
        numeric: [6],
        wrap: [5],
        empty: kata ? "No Kata sandboxes on this node." : "The Kata side is off.",
      },
    ),
  );
}

function scoreCell(core: CoreRecord): Html {
  if (core.score === null) return html`<span class="muted">&ndash;</span>`;
  if (!core.breakdown || core.breakdown.length === 0) return html`${core.score.toFixed(1)}`;
  return html`<details><summary>${core.score.toFixed(1)}</summary>${
    core.breakdown.map((item) =>
      html`<div class="mono">${
        item.points >= 0 ? "+" : ""
      }${item.points} ${item.rule}: ${item.detail}</div>`
    )
  }</details>`;
}

function storedCell(core: CoreRecord): Html {
  if (core.storedUri) {
    return html`<span class="mono">${cutStart(core.storedUri, 64)}</span> <span class="muted">${
      bytes(core.storedBytes)
    }</span>`;
  }
  const why = core.error ?? core.reason;
  return html`${badge(core.state === "failed" ? "failed" : "off")} ${
    core.state === "failed"
      ? html`<span class="error">${cut(why, 80)}</span>`
      : cut(why ?? core.state, 80)
  }`;
}

/** The AI stage's explanation of a core: its summary (the root cause on hover), or its state. */
function aiCell(core: CoreView): Html {
  const ai = core.ai;
  if (!ai) return html`<span class="muted">&ndash;</span>`;
  if (ai.result) {
    return html`<span title="${ai.result.rootCause}">${cut(ai.result.summary, 200)}</span>${
      ai.state === "cached"
        ? html`
          <span class="muted">(cached)</span>
        `
        : html``
    }`;
  }
  const state = html`<span class="muted">${ai.state}</span>`;
  return ai.reason ? html`${state} ${cut(ai.reason, 80)}` : state;
}

function coresPage(cores: CoreView[], chart: CoreRecord[], now: number): Html {
  return page(
    "Cores",
    `${cores.length} most recent`,
    html`${coresPerHour(chart, now)}
${
      table(
        ["time", "pod", "instance", "signal", "crash reason", "score", "stored", "AI summary"],
        cores.map((core) => [
          ago(core.crashTime ?? core.firstSeen, now),
          core.pod
            ? html`${core.namespace ? `${core.namespace}/` : ""}${core.pod}`
            : html`<span class="muted">unknown</span>`,
          core.instance ? html`${core.instance}` : html`<span class="muted">&ndash;</span>`,
          core.signal ? html`${core.signal}` : html`<span class="muted">&ndash;</span>`,
          cut(core.crashReason, 100),
          scoreCell(core),
          storedCell(core),
          aiCell(core),
        ]),
        { numeric: [5], wrap: [4, 6, 7], empty: "No cores indexed yet." },
      )
    }`,
  );
}

/** Adds `/`, `/sandboxes` and `/cores` to `app`. */
export function pageRoutes(app: Hono, options: PagesOptions): void {
  const now = options.now ?? Date.now;
  app.get("/", async (c) => {
    if (negotiate(c, ["text/plain", "text/html"]) === "text/html") {
      return c.html(statusPage(options, await options.status?.(), now()));
    }
    return c.text(
      `Available HTTP endpoints:\n${ENDPOINTS.map(([p, d]) => `${p}: ${d}`).join("\n")}\n`,
    );
  });
  app.get("/sandboxes", async (c) => {
    const kata = options.kata?.();
    const list = kata?.sandboxes() ?? [];
    switch (negotiate(c, ["text/plain", "application/json", "text/html"])) {
      case "application/json":
        return safeJson(c, list);
      case "text/html":
        // The usage columns read the aggregate: brought up to date, and kept following the
        // cycles for a while, so that the next look has CPU rates.
        await kata?.aggregate();
        return c.html(sandboxesPage(kata, now()));
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
    const cores = options.cores?.({ states: states as CoreState[], limit: Number(limit) }) ?? [];
    // JSON for anyone who does not ask for HTML first (curl, scripts), as before.
    if (negotiate(c, ["application/json", "text/html"]) === "text/html") {
      return c.html(coresPage(cores, options.cores?.({ limit: CHART_CORES }) ?? [], now()));
    }
    return safeJson(c, cores);
  });
}
