/**
 * The serializers of the Prometheus text exposition formats (0.0.4 and OpenMetrics 1.0 text),
 * split so that the aggregator renders each sandbox's sample lines once per scrape
 * ({@linkcode serializeSamples}, with the sandbox's labels prepended) and a request only
 * concatenates them under one {@linkcode serializeHeader} per family.
 *
 * @module
 */
import { BACKSLASH, NEWLINE, QUOTE, quote } from "./_chars.ts";
import type { Labels, MetricFamily, MetricType } from "./model.ts";

/** Options of the serializers. */
export interface SerializeOptions {
  /**
   * Write OpenMetrics 1.0 text: counters' family names without `_total` and their samples
   * with it, `# UNIT` lines, `unknown` for `untyped`, timestamps in seconds, and (for
   * {@linkcode serializePrometheusText}) the final `# EOF`. Default `false`: text format
   * 0.0.4, where the OpenMetrics-only types are written as `untyped`.
   */
  openMetrics?: boolean;
}

/** Options of {@linkcode serializeHeader} and {@linkcode serializeSamples}. */
export interface FamilyOptions extends SerializeOptions {
  /**
   * Write the family under this name instead of its own: a sample named after the family
   * keeps its suffix (`go_threads` -> `kata_shim_go_threads`, `x_bucket` -> `y_bucket`).
   */
  name?: string;
  /**
   * In OpenMetrics, keep a counter's `_total` in its family name, and its samples' names as
   * they are: for a counter whose name without `_total` is another family's (the Go client's
   * `go_memstats_alloc_bytes_total` and `go_memstats_alloc_bytes`).
   * {@linkcode serializePrometheusText} sets it where that happens. Default `false`.
   */
  keepTotal?: boolean;
}

// Names already checked by the serializers: a few hundred in practice; emptied if they grow.
const checkedNames = new Set<string>();
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function checkName(name: string, label: boolean): void {
  if (checkedNames.has(label ? name : `:${name}`)) return;
  if (!(label ? LABEL_NAME : METRIC_NAME).test(name)) {
    throw new TypeError(`Invalid ${label ? "label" : "metric"} name ${quote(name)}`);
  }
  if (checkedNames.size >= 10_000) checkedNames.clear();
  checkedNames.add(label ? name : `:${name}`);
}

function escapeLabelValue(value: string): string {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === BACKSLASH || c === QUOTE || c === NEWLINE) return escapeFrom(value, i, true);
  }
  return value;
}

function escapeHelp(help: string, openMetrics: boolean): string {
  for (let i = 0; i < help.length; i++) {
    const c = help.charCodeAt(i);
    if (c === BACKSLASH || c === NEWLINE || (c === QUOTE && openMetrics)) {
      return escapeFrom(help, i, openMetrics);
    }
  }
  return help;
}

/** Escapes `\`, newline and (with `quotes`) `"` from index `start` on. */
function escapeFrom(text: string, start: number, quotes: boolean): string {
  let out = text.slice(0, start);
  let from = start;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const replacement = c === BACKSLASH
      ? "\\\\"
      : c === NEWLINE
      ? "\\n"
      : c === QUOTE && quotes
      ? '\\"'
      : undefined;
    if (replacement === undefined) continue;
    out += text.slice(from, i) + replacement;
    from = i + 1;
  }
  return out + text.slice(from);
}

/**
 * A sample value as the text formats write it: `NaN`, `+Inf`, `-Inf`, `-0`, integers in
 * plain digits (however large), other numbers in JavaScript's shortest exact form.
 */
function formatValue(value: number): string {
  if (value !== value) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (value === 0) return 1 / value < 0 ? "-0" : "0";
  if ((value >= 1e21 || value <= -1e21) && Number.isInteger(value)) {
    return BigInt(value).toString();
  }
  return String(value);
}

/** Milliseconds as 0.0.4 wants them (integer) or as OpenMetrics seconds, exactly. */
function formatTimestamp(ms: number, openMetrics: boolean): string {
  if (!openMetrics) return formatValue(Number.isInteger(ms) ? ms : Math.round(ms));
  if (!Number.isInteger(ms) || Math.abs(ms) >= 1e21) return String(ms / 1000);
  const digits = String(Math.abs(ms)).padStart(4, "0");
  const whole = digits.slice(0, -3);
  const fraction = digits.slice(-3).replace(/0+$/, "");
  return (ms < 0 ? "-" : "") + whole + (fraction === "" ? "" : `.${fraction}`);
}

function typeName(type: MetricType, openMetrics: boolean): string {
  if (openMetrics) return type === "untyped" ? "unknown" : type;
  switch (type) {
    case "counter":
    case "gauge":
    case "histogram":
    case "summary":
    case "untyped":
      return type;
    default:
      return "untyped";
  }
}

/**
 * The name a family's HELP and TYPE lines carry: its own (or `options.name`), except for
 * counters, whose OpenMetrics family name has no `_total`, and whose 0.0.4 family name is the
 * name of their `_total` samples.
 */
function headerName(family: MetricFamily, options: FamilyOptions): string {
  const name = options.name ?? family.name;
  if (family.type !== "counter") return name;
  if (options.openMetrics === true) {
    return name.endsWith("_total") && name.length > 6 && options.keepTotal !== true
      ? name.slice(0, -6)
      : name;
  }
  if (name.endsWith("_total")) return name;
  const total = `${family.name}_total`;
  return family.samples.some((sample) => sample.name === total) ? `${name}_total` : name;
}

/**
 * Renders the `# HELP` (when there is help text), `# TYPE` and, in OpenMetrics, `# UNIT` lines
 * of one family.
 *
 * @throws {TypeError} When the name is not a valid metric name.
 *
 * @example Usage
 * ```ts
 * serializeHeader({ name: "kata_shim_fds", help: "Open FDs.", type: "gauge", samples: [] });
 * // "# HELP kata_shim_fds Open FDs.\n# TYPE kata_shim_fds gauge\n"
 * ```
 */
export function serializeHeader(family: MetricFamily, options: FamilyOptions = {}): string {
  const openMetrics = options.openMetrics === true;
  const name = headerName(family, options);
  checkName(name, false);
  let out = family.help === "" ? "" : `# HELP ${name} ${escapeHelp(family.help, openMetrics)}\n`;
  out += `# TYPE ${name} ${typeName(family.type, openMetrics)}\n`;
  if (openMetrics && family.unit !== undefined && family.unit !== "") {
    out += `# UNIT ${name} ${family.unit}\n`;
  }
  return out;
}

/**
 * Renders the sample lines of one family, with `extraLabels` written first in every sample
 * (a sample's own label of the same name is dropped), so that the aggregator renders each
 * sandbox's samples once per scrape and a request only concatenates them under one
 * {@linkcode serializeHeader} per family.
 *
 * @throws {TypeError} When a metric or label name is not valid.
 *
 * @example Usage
 * ```ts
 * serializeSamples(
 *   { name: "kata_guest_load", help: "", type: "gauge", samples: [
 *     { name: "kata_guest_load", labels: { item: "load1" }, value: 0.5 },
 *   ] },
 *   { sandbox_id: "abc" },
 * );
 * // 'kata_guest_load{sandbox_id="abc",item="load1"} 0.5\n'
 * ```
 */
export function serializeSamples(
  family: MetricFamily,
  extraLabels?: Labels,
  options: FamilyOptions = {},
): string {
  const openMetrics = options.openMetrics === true;
  let prefix = "";
  const extraNames: string[] = [];
  if (extraLabels !== undefined) {
    for (const key in extraLabels) {
      checkName(key, true);
      prefix += `${prefix === "" ? "" : ","}${key}="${escapeLabelValue(extraLabels[key]!)}"`;
      extraNames.push(key);
    }
  }
  const own = family.name;
  const rename = options.name;
  // In OpenMetrics a counter's samples named after its family get `_total`.
  let bareTotal = openMetrics && family.type === "counter" ? headerName(family, options) : "";
  if (bareTotal.endsWith("_total")) bareTotal = "";
  let lastName: string | undefined;
  let written = "";
  let out = "";
  for (const sample of family.samples) {
    if (sample.name !== lastName) {
      lastName = sample.name;
      written = rename !== undefined && lastName.startsWith(own)
        ? rename + lastName.slice(own.length)
        : lastName;
      if (written === bareTotal) written += "_total";
      checkName(written, false);
    }
    let labels = prefix;
    const sampleLabels = sample.labels;
    for (const key in sampleLabels) {
      if (extraNames.length !== 0 && extraNames.includes(key)) continue;
      checkName(key, true);
      labels += `${labels === "" ? "" : ","}${key}="${escapeLabelValue(sampleLabels[key]!)}"`;
    }
    out += labels === "" ? written : `${written}{${labels}}`;
    out += sample.timestamp === undefined
      ? ` ${formatValue(sample.value)}\n`
      : ` ${formatValue(sample.value)} ${formatTimestamp(sample.timestamp, openMetrics)}\n`;
  }
  return out;
}

/**
 * Renders families as Prometheus text format 0.0.4, or OpenMetrics 1.0 text (ending with
 * `# EOF`) with `openMetrics`. Families of the same name are written as one, under the first
 * one's HELP and TYPE, so every family has one HELP and one TYPE line. In OpenMetrics a counter
 * keeps `_total` in its family name when the name without it is another family's (see
 * {@linkcode FamilyOptions.keepTotal}).
 *
 * @throws {TypeError} When a metric or label name is not valid.
 *
 * @example Usage
 * ```ts
 * serializePrometheusText([{
 *   name: "kata_shim_threads", help: "Shim threads.", type: "gauge",
 *   samples: [{ name: "kata_shim_threads", labels: {}, value: 12 }],
 * }]);
 * // "# HELP kata_shim_threads Shim threads.\n# TYPE kata_shim_threads gauge\nkata_shim_threads 12\n"
 * ```
 */
export function serializePrometheusText(
  families: Iterable<MetricFamily>,
  options: SerializeOptions = {},
): string {
  const groups = new Map<string, MetricFamily[]>();
  for (const family of families) {
    const group = groups.get(family.name);
    if (group === undefined) groups.set(family.name, [family]);
    else group.push(family);
  }
  const parts: string[] = [];
  for (const [name, group] of groups) {
    const first = group[0]!;
    const keepTotal = options.openMetrics === true && first.type === "counter" &&
      name.endsWith("_total") && groups.has(name.slice(0, -6));
    const familyOptions = keepTotal ? { ...options, keepTotal } : options;
    parts.push(serializeHeader(first, familyOptions));
    for (const family of group) parts.push(serializeSamples(family, undefined, familyOptions));
  }
  if (options.openMetrics === true) parts.push("# EOF\n");
  // One flat string: cheaper to encode, and to keep, than a rope of a million pieces.
  return parts.join("");
}
