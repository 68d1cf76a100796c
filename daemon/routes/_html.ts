/**
 * The pieces the daemon's HTML pages are made of: one layout with its stylesheet inline (a
 * node has no internet: no external asset, font or script), tables, state badges, and how
 * times and sizes read. Every value goes through `hono/html`, which escapes it.
 *
 * @module
 */
import { html, raw } from "hono/html";

/** What `html` returns. */
export type Html = ReturnType<typeof html>;

const STYLE = `
:root { color-scheme: light dark; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0;
  --head: #f6f8fa; --ok: #1a7f37; --warn: #9a6700; --bad: #d1242f; --off: #59636e; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #9198a1; --line: #3d444d;
  --head: #151b23; --ok: #3fb950; --warn: #d29922; --bad: #f85149; --off: #9198a1; } }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
  margin: 0 auto; padding: 16px 24px 40px; max-width: 1400px; }
header { display: flex; align-items: baseline; gap: 24px; flex-wrap: wrap;
  border-bottom: 1px solid var(--line); padding-bottom: 8px; margin-bottom: 16px; }
header h1 { font-size: 20px; margin: 0; }
nav a { margin-right: 16px; }
a { color: #0969da; text-decoration: none; } a:hover { text-decoration: underline; }
h2 { font-size: 16px; margin: 24px 0 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line);
  vertical-align: top; white-space: nowrap; }
td.wrap { white-space: normal; }
th { background: var(--head); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px;
  font-weight: 600; color: #fff; white-space: nowrap; }
.up { background: var(--ok); } .down, .starting { background: var(--warn); }
.failed { background: var(--bad); } .off { background: var(--off); }
.cards { display: flex; gap: 16px; flex-wrap: wrap; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 16px; min-width: 160px; }
.card .value { font-size: 24px; font-weight: 600; }
.error { color: var(--bad); }
details summary { cursor: pointer; }
svg text { fill: var(--fg); font: 11px system-ui, sans-serif; }
figcaption .key { display: inline-block; margin-right: 16px; }
svg .axis { stroke: var(--line); }
`;

/** A whole page: the layout around `body`, `title` in the tab and the heading. */
export function page(title: string, subtitle: string, body: Html): Html {
  return html`
    <!DOCTYPE html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>${title} · agent</title>
        <link rel="icon" href="data:,">
        <style>${raw(STYLE)}</style>
      </head>
      <body>
    <header>
    <h1>${title}</h1>
    <nav><a href="/">Status</a><a href="/sandboxes">Sandboxes</a><a href="/cores">Cores</a><a href="/metrics">Metrics</a></nav>
    <span class="muted">${subtitle}</span>
    </header>
    ${body}
      </body>
    </html>
  `;
}

/** A table with its header row; `numeric` columns are right-aligned. */
export function table(
  headers: string[],
  rows: Html[][],
  options: { numeric?: number[]; wrap?: number[]; empty?: string } = {},
): Html {
  const numeric = new Set(options.numeric ?? []);
  const wrap = new Set(options.wrap ?? []);
  const cls = (i: number) => numeric.has(i) ? "num" : wrap.has(i) ? "wrap" : "";
  if (rows.length === 0) return html`<p class="muted">${options.empty ?? "Nothing yet."}</p>`;
  return html`
    <table>
      <thead>
        <tr>${headers.map((h, i) => html`<th class="${cls(i)}">${h}</th>`)}</tr>
      </thead>
      <tbody>
    ${rows.map((row) =>
      html`
        <tr>${row.map((cell, i) => html`<td class="${cls(i)}">${cell}</td>`)}</tr>
      `
    )}</tbody>
    </table>
  `;
}

/** A state as a coloured badge. */
export function badge(state: string): Html {
  return html`<span class="badge ${state}">${state}</span>`;
}

/** `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`; the time itself in the title. */
export function ago(iso: string | null | undefined, now = Date.now()): Html {
  if (!iso) return html`<span class="muted">never</span>`;
  const ms = now - Date.parse(iso);
  const s = Math.max(0, Math.round(ms / 1000));
  const text = s < 60
    ? `${s} s ago`
    : s < 3600
    ? `${Math.round(s / 60)} min ago`
    : s < 86400
    ? `${Math.round(s / 3600)} h ago`
    : `${Math.round(s / 86400)} d ago`;
  return html`<time datetime="${iso}" title="${iso}">${text}</time>`;
}

/** A byte count as people read it: `512 B`, `1.5 KiB`, `24.4 MiB`, `3.1 GiB`. */
export function bytes(count: number | null | undefined): string {
  if (count === null || count === undefined || !Number.isFinite(count)) return "\u2013";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = count;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Text cut to `max` characters with an ellipsis, the whole in the title. */
export function cut(text: string | null | undefined, max: number): Html {
  if (!text) return html`<span class="muted">&ndash;</span>`;
  if (text.length <= max) return html`${text}`;
  return html`<span title="${text}">${text.slice(0, max - 1)}&hellip;</span>`;
}

/** Text cut from the start to `max` characters (`...` and its end), the whole in the title. */
export function cutStart(text: string, max: number): Html {
  if (text.length <= max) return html`${text}`;
  return html`<span title="${text}">&hellip;${text.slice(text.length - max + 1)}</span>`;
}
