/**
 * Small charts as inline SVG, drawn on the server (no script, no external asset): stacked
 * bars over time, and a meter for a used/available pair.
 *
 * @module
 */
import { html } from "hono/html";
import type { Html } from "./_html.ts";

/** Colours of the series, in order; the last one is for "other". */
const PALETTE = ["#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#57606a"];

/** One series of a stacked bar chart. */
export interface Series {
  label: string;
  /** A value per bucket. */
  values: number[];
}

/**
 * A stacked bar chart: one bar per bucket (labelled below every `labelEvery`), one colour per
 * series, a legend under it. At most `maxSeries` series are drawn; the rest add up as "other".
 */
export function stackedBars(
  title: string,
  buckets: string[],
  series: Series[],
  options: { labelEvery?: number; maxSeries?: number; width?: number; height?: number } = {},
): Html {
  const width = options.width ?? 720;
  const height = options.height ?? 160;
  const maxSeries = options.maxSeries ?? PALETTE.length - 1;
  const sorted = [...series].sort((a, b) => total(b.values) - total(a.values));
  const shown = sorted.slice(0, maxSeries);
  const rest = sorted.slice(maxSeries);
  if (rest.length > 0) {
    shown.push({
      label: `${rest.length} other group${rest.length === 1 ? "" : "s"}`,
      values: buckets.map((_, i) => rest.reduce((sum, s) => sum + (s.values[i] ?? 0), 0)),
    });
  }
  const left = 28;
  const bottom = 18;
  const plot = { width: width - left - 4, height: height - bottom - 6 };
  const sums = buckets.map((_, i) => shown.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const max = Math.max(1, ...sums);
  const step = plot.width / Math.max(1, buckets.length);
  const barWidth = Math.max(2, step * 0.75);
  const y = (value: number) => 6 + plot.height - (value / max) * plot.height;
  const every = options.labelEvery ?? Math.max(1, Math.ceil(buckets.length / 8));
  const bars = buckets.flatMap((bucket, i) => {
    let base = 0;
    return shown.map((s, k) => {
      const value = s.values[i] ?? 0;
      if (value === 0) return html``;
      const top = y(base + value);
      const rect = html`
        <rect x="${(left + i * step).toFixed(1)}" y="${top.toFixed(1)}" width="${barWidth.toFixed(
          1,
        )}" height="${(y(base) - top).toFixed(1)}" fill="${color(
          k,
          shown.length,
          rest.length > 0,
        )}">
          <title>${bucket}: ${value} × ${s.label}</title>
        </rect>
      `;
      base += value;
      return rect;
    });
  });
  const labels = buckets.map((bucket, i) =>
    i % every === 0
      ? html`<text x="${(left + i * step).toFixed(1)}" y="${height - 4}">${bucket}</text>`
      : html``
  );
  return html`
    <figure>
      <svg role="img" aria-label="${title}" width="${width}" height="${height}"
        viewBox="0 0 ${width} ${height}">
    <line class="axis" x1="${left}" y1="${6 + plot.height}" x2="${width - 4}" y2="${6 +
      plot.height}"/>
    <text x="0" y="14">${max}</text><text x="0" y="${6 + plot.height}">0</text>
    ${bars}${labels}
      </svg>
      <figcaption>${title}${shown.map((s, k) =>
        html`
          <span
            class="mono"><svg width="10" height="10"><rect width="10" height="10" fill="${color(
              k,
              shown.length,
              rest.length > 0,
            )}"/></svg> ${s.label} (${total(s.values)})</span>
        `
      )}</figcaption>
    </figure>
  `;
}

function total(values: number[]): number {
  return values.reduce((sum, v) => sum + v, 0);
}

function color(index: number, count: number, hasOther: boolean): string {
  if (hasOther && index === count - 1) return PALETTE.at(-1)!;
  return PALETTE[index % (PALETTE.length - 1)]!;
}

/** A meter: `used` of `of` as a filled bar, with the numbers in its title. */
export function meter(used: number, of: number, label: string): Html {
  const fraction = of > 0 ? Math.min(1, Math.max(0, used / of)) : 0;
  const fill = fraction > 0.9 ? "#d1242f" : fraction > 0.75 ? "#9a6700" : "#1a7f37";
  return html`
    <svg width="80" height="10" role="img" aria-label="${label}">
      <title>${label}</title>
      <rect width="80" height="10" rx="2" fill="#8c959f" opacity="0.3" />
      <rect width="${(80 * fraction).toFixed(1)}" height="10" rx="2" fill="${fill}" />
    </svg>
  `;
}
