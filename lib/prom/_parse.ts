/**
 * The parser of the Prometheus text exposition formats (0.0.4 and OpenMetrics 1.0 text).
 *
 * This is the hot path of the daemon's `/metrics`, so it scans the text with
 * `indexOf`/`charCodeAt` (no regular expression, no substring per line), reuses the previous
 * line's metric name, label names and label values when the text repeats them (no string is
 * made for them then), and stays linear in the input whatever it holds.
 *
 * @module
 */
import { InputError } from "../errors.ts";
import {
  BACKSLASH,
  BLANK,
  CHARS,
  HASH,
  LBRACE,
  LOWER_N,
  METRIC_CHAR,
  METRIC_START,
  NEWLINE,
  QUOTE,
  quote,
} from "./_chars.ts";
import { LabelReader } from "./_labels.ts";
import type { Labels, MetricFamily, MetricType, Sample } from "./model.ts";

/** Options of {@linkcode parsePrometheusText}. */
export interface ParseOptions {
  /**
   * Read OpenMetrics 1.0 text rather than the text format 0.0.4: timestamps are seconds
   * (kept as milliseconds in the model), exemplars are allowed (and dropped), the text must
   * end with `# EOF` and nothing may follow it. Default `false`.
   */
  openMetrics?: boolean;
  /**
   * Skip a bad line (counted in `stats`) instead of throwing, so that one bad line from a
   * shim does not lose the shim's other series. Default `false`.
   */
  lenient?: boolean;
  /**
   * Stop with an error, lenient or not, when the text holds more samples than this.
   * Default: no limit (the text's own length bounds the result).
   */
  maxSamples?: number;
  /** Counts to add to: pass one object to many calls to sum them over many texts. */
  stats?: ParseStats;
}

/** What {@linkcode parsePrometheusText} counts, added to the object given in its options. */
export interface ParseStats {
  /** Samples kept. */
  samples: number;
  /** Lines skipped in lenient mode (plus one for a missing OpenMetrics `# EOF`). */
  skipped: number;
  /** The messages of the first skipped lines, at most {@linkcode MAX_RECORDED_ERRORS}. */
  errors: string[];
}

/** How many skip messages {@linkcode ParseStats.errors} keeps at most. */
export const MAX_RECORDED_ERRORS = 10;

const TYPES: readonly MetricType[] = [
  "counter",
  "gauge",
  "histogram",
  "summary",
  "untyped",
  "unknown",
  "gaugehistogram",
  "info",
  "stateset",
];

/** The type named by `text` from `q` to `e`, if any. */
function typeAt(text: string, q: number, e: number): MetricType | undefined {
  for (const type of TYPES) if (type.length === e - q && text.startsWith(type, q)) return type;
  return undefined;
}

/** The sample name suffixes that belong to a family of each type, besides its own name. */
const SUFFIXES: Readonly<Record<MetricType, readonly string[]>> = {
  counter: ["_total", "_created"],
  gauge: [],
  histogram: ["_bucket", "_count", "_sum", "_created"],
  gaugehistogram: ["_bucket", "_gcount", "_gsum"],
  summary: ["_count", "_sum", "_created"],
  info: ["_info"],
  stateset: [],
  untyped: [],
  unknown: [],
};
const ALL_SUFFIXES = [
  "_bucket",
  "_count",
  "_sum",
  "_total",
  "_created",
  "_gcount",
  "_gsum",
  "_info",
];

/** A family being read, with what the text has said about it so far. */
interface Entry {
  family: MetricFamily;
  /** Whether a `# TYPE` line set its type (the first one wins). */
  typed: boolean;
  /** Whether a `# HELP` line set its help (the first one wins). */
  helped: boolean;
  /** The suffixes of its type, and its name with each. */
  suffixes: readonly string[];
  names: string[];
  /**
   * The family whose HELP/TYPE/UNIT lines followed this one's last time: texts that merge
   * many shims repeat the same order, so the next descriptor line is guessed, not looked up.
   */
  next: Entry | undefined;
}

/** Whether `text` has `word` at `p`, followed by a blank or the end of the line. */
function isWord(text: string, p: number, end: number, word: string): boolean {
  const after = p + word.length;
  return text.startsWith(word, p) &&
    (after >= end || (CHARS[text.charCodeAt(after)]! & BLANK) !== 0);
}

class Parser extends LabelReader {
  readonly lenient: boolean;
  readonly maxSamples: number;
  readonly stats: ParseStats | undefined;
  readonly families: MetricFamily[] = [];
  readonly byName = new Map<string, Entry>();
  /** The family of the last HELP, TYPE or sample line. */
  current: Entry | undefined = undefined;
  line = 0;
  samples = 0;
  eof = false;
  // The previous sample's name and family, reused when the next line starts with the name.
  prevName = "";
  prevEntry: Entry | undefined = undefined;
  /** The family of the last HELP, TYPE or UNIT line. */
  lastDescriptor: Entry | undefined = undefined;
  /** The family a descriptor line being read names, and its name (see `descriptor`). */
  named: Entry | undefined = undefined;
  namedAs = "";

  constructor(text: string, options: ParseOptions) {
    super(text, options.openMetrics === true);
    this.lenient = options.lenient === true;
    this.maxSamples = options.maxSamples ?? Infinity;
    this.stats = options.stats;
  }

  run(): MetricFamily[] {
    this.lines();
    if (this.openMetrics && !this.eof) {
      this.reason = `missing "# EOF"`;
      this.skip();
    }
    if (this.stats) this.stats.samples += this.samples;
    return this.families;
  }

  /** The loop over lines, alone in its method so that V8 optimizes it whole. */
  lines(): void {
    const text = this.text;
    const length = text.length;
    let pos = 0;
    while (pos < length) {
      this.line++;
      let end = text.indexOf("\n", pos);
      if (end === -1) end = length;
      let p = pos;
      while (p < end && CHARS[text.charCodeAt(p)]! & BLANK) p++;
      if (p < end) {
        const ok = text.charCodeAt(p) === HASH ? this.comment(p, end) : this.sample(p, end);
        if (!ok) this.skip();
        else if (this.eof) {
          this.afterEof(end + 1);
          break;
        }
      }
      pos = end + 1;
    }
  }

  /** Throws for the current line, or counts it as skipped in lenient mode. */
  skip(): void {
    const message = `Line ${this.line}: ${this.reason}`;
    if (!this.lenient) throw new InputError(message);
    this.distinctKeys = 0;
    const stats = this.stats;
    if (stats) {
      stats.skipped++;
      if (stats.errors.length < MAX_RECORDED_ERRORS) stats.errors.push(message);
    }
  }

  fail(reason: string): false {
    this.reason = reason;
    return false;
  }

  /** OpenMetrics allows nothing but a final newline after `# EOF`; 0.0.4 ignores the rest. */
  afterEof(from: number): void {
    if (!this.openMetrics) return;
    const text = this.text;
    for (let p = from; p < text.length; p++) {
      const c = text.charCodeAt(p);
      if (c === NEWLINE) this.line++;
      else if (!(CHARS[c]! & BLANK)) {
        this.line++;
        this.reason = `content after "# EOF"`;
        this.skip();
        return;
      }
    }
  }

  /** A `#` line: HELP, TYPE, UNIT, EOF, or a comment to ignore. */
  comment(start: number, end: number): boolean {
    const text = this.text;
    let p = start + 1;
    while (p < end && CHARS[text.charCodeAt(p)]! & BLANK) p++;
    switch (text.charCodeAt(p)) {
      case 72: // H
        return isWord(text, p, end, "HELP") ? this.help(p + 4, end) : true;
      case 84: // T
        return isWord(text, p, end, "TYPE") ? this.type(p + 4, end) : true;
      case 85: // U
        return isWord(text, p, end, "UNIT") ? this.unit(p + 4, end) : true;
      case 69: { // E
        if (!isWord(text, p, end, "EOF")) return true;
        let q = p + 3;
        while (q < end && CHARS[text.charCodeAt(q)]! & BLANK) q++;
        if (q === end) this.eof = true;
        return true;
      }
      default:
        return true;
    }
  }

  /**
   * Reads the family name of a HELP, TYPE or UNIT line, leaving `pos` after it, and the
   * family in `named` (undefined when new: {@linkcode Parser.described} makes it once the line
   * is known good). The last such line's family, or the one that followed it before, is
   * recognized without cutting the name.
   */
  descriptor(p: number, end: number, what: string): boolean {
    const text = this.text;
    while (p < end && CHARS[text.charCodeAt(p)]! & BLANK) p++;
    const last = this.lastDescriptor;
    if (last !== undefined) {
      if (isWord(text, p, end, last.family.name)) {
        this.pos = p + last.family.name.length;
        this.named = last;
        return true;
      }
      const next = last.next;
      if (next !== undefined && isWord(text, p, end, next.family.name)) {
        this.pos = p + next.family.name.length;
        this.named = next;
        return true;
      }
    }
    let q = p;
    if (q < end && CHARS[text.charCodeAt(q)]! & METRIC_START) {
      q++;
      while (q < end && CHARS[text.charCodeAt(q)]! & METRIC_CHAR) q++;
    }
    if (q === p || (q < end && !(CHARS[text.charCodeAt(q)]! & BLANK))) {
      let e = q;
      while (e < end && !(CHARS[text.charCodeAt(e)]! & BLANK)) e++;
      return this.fail(`invalid metric name ${quote(text.slice(p, e))} in ${what}`);
    }
    this.pos = q;
    this.namedAs = text.slice(p, q);
    this.named = this.byName.get(this.namedAs);
    return true;
  }

  /** The family the last good descriptor line names, made if new, and made current. */
  described(): Entry {
    const entry = this.named ?? this.create(this.namedAs);
    const last = this.lastDescriptor;
    if (last !== undefined && last !== entry) last.next = entry;
    this.lastDescriptor = entry;
    this.current = entry;
    this.prevName = "";
    this.prevEntry = undefined;
    return entry;
  }

  help(p: number, end: number): boolean {
    if (!this.descriptor(p, end, "HELP")) return false;
    const after = this.pos;
    const entry = this.described();
    if (!entry.helped) {
      // One blank separates the name from the text, which may itself start with blanks.
      entry.family.help = after < end ? this.unescapeHelp(after + 1, end) : "";
      entry.helped = true;
    }
    return true;
  }

  type(p: number, end: number): boolean {
    const text = this.text;
    if (!this.descriptor(p, end, "TYPE")) return false;
    const known = this.named;
    let q = this.pos;
    while (q < end && CHARS[text.charCodeAt(q)]! & BLANK) q++;
    let e = q;
    let type = known?.family.type;
    if (known?.typed === true && text.startsWith(type!, q)) {
      e += type!.length;
    } else {
      while (e < end && !(CHARS[text.charCodeAt(e)]! & BLANK)) e++;
      type = typeAt(text, q, e);
    }
    if (type === undefined || (e < end && !(CHARS[text.charCodeAt(e)]! & BLANK))) {
      while (e < end && !(CHARS[text.charCodeAt(e)]! & BLANK)) e++;
      return this.fail(
        e === q ? "missing type" : `invalid type ${quote(text.slice(q, e))}`,
      );
    }
    while (e < end && CHARS[text.charCodeAt(e)]! & BLANK) e++;
    if (e < end) return this.fail(`unexpected ${quote(text.slice(e, end))} after type`);
    const entry = this.described();
    if (!entry.typed) {
      entry.family.type = type;
      this.setSuffixes(entry, type);
      entry.typed = true;
    }
    return true;
  }

  setSuffixes(entry: Entry, type: MetricType): void {
    entry.suffixes = SUFFIXES[type];
    entry.names = entry.suffixes.map((suffix) => entry.family.name + suffix);
  }

  unit(p: number, end: number): boolean {
    const text = this.text;
    if (!this.descriptor(p, end, "UNIT")) return false;
    let q = this.pos;
    while (q < end && CHARS[text.charCodeAt(q)]! & BLANK) q++;
    let e = q;
    while (e < end && !(CHARS[text.charCodeAt(e)]! & BLANK)) e++;
    const unit = text.slice(q, e);
    while (e < end && CHARS[text.charCodeAt(e)]! & BLANK) e++;
    if (e < end) return this.fail(`unexpected ${quote(text.slice(e, end))} after unit`);
    const entry = this.described();
    if (entry.family.unit === undefined && unit !== "") entry.family.unit = unit;
    return true;
  }

  create(name: string): Entry {
    const type: MetricType = this.openMetrics ? "unknown" : "untyped";
    const family: MetricFamily = { name, help: "", type, samples: [] };
    const entry: Entry = {
      family,
      typed: false,
      helped: false,
      suffixes: SUFFIXES[type],
      names: [],
      next: undefined,
    };
    this.families.push(family);
    this.byName.set(name, entry);
    return entry;
  }

  /**
   * The family a sample name belongs to: the current family when the name is its own or its
   * own plus a suffix of its type, else the family of that exact name, else a family whose
   * name plus a suffix of its type gives the name, else a new untyped family.
   */
  resolve(name: string): Entry {
    const current = this.current;
    if (current !== undefined && belongs(current, name)) return current;
    const exact = this.byName.get(name);
    if (exact !== undefined) return exact;
    for (const suffix of ALL_SUFFIXES) {
      if (name.length > suffix.length && name.endsWith(suffix)) {
        const base = this.byName.get(name.slice(0, name.length - suffix.length));
        if (base !== undefined && base.suffixes.includes(suffix)) return base;
      }
    }
    return this.create(name);
  }

  /** A sample line: `name[{labels}] value [timestamp] [# exemplar]`. */
  sample(start: number, end: number): boolean {
    const text = this.text;
    let p = start;
    let name = this.prevName;
    let entry = this.prevEntry;
    if (entry === undefined || !this.isName(name, p)) {
      // The current family's name, or its name and a suffix of its type: taken from it.
      entry = this.current;
      name = "";
      if (entry !== undefined) {
        const own = entry.family.name;
        if (this.isName(own, p)) name = own;
        else if (entry.names.length !== 0 && text.startsWith(own, p)) {
          for (const full of entry.names) {
            if (this.isName(full, p)) {
              name = full;
              break;
            }
          }
        }
      }
    }
    if (name !== "") {
      p += name.length;
    } else {
      let q = p;
      if (CHARS[text.charCodeAt(q)]! & METRIC_START) {
        q++;
        while (q < end && CHARS[text.charCodeAt(q)]! & METRIC_CHAR) q++;
      }
      const next = text.charCodeAt(q);
      if (q === p || (q < end && next !== LBRACE && !(CHARS[next]! & BLANK))) {
        let e = q;
        while (e < end && text.charCodeAt(e) !== LBRACE && !(CHARS[text.charCodeAt(e)]! & BLANK)) {
          e++;
        }
        return this.fail(`invalid metric name ${quote(text.slice(p, e))}`);
      }
      name = text.slice(p, q);
      entry = undefined;
      p = q;
    }
    while (p < end && CHARS[text.charCodeAt(p)]! & BLANK) p++;
    let labels: Labels;
    if (p < end && text.charCodeAt(p) === LBRACE) {
      const parsed = this.labels(p + 1, end, true);
      if (parsed === undefined) return false;
      labels = parsed;
      p = this.pos;
      while (p < end && CHARS[text.charCodeAt(p)]! & BLANK) p++;
    } else {
      labels = {};
    }
    if (p >= end) return this.fail(`missing value for ${quote(name)}`);
    let e = p;
    while (e < end && !(CHARS[text.charCodeAt(e)]! & BLANK)) e++;
    const value = this.number(p, e);
    if (!this.ok) return this.fail(`invalid value ${quote(text.slice(p, e))}`);
    p = e;
    while (p < end && CHARS[text.charCodeAt(p)]! & BLANK) p++;
    let timestamp: number | undefined;
    if (p < end && text.charCodeAt(p) !== HASH) {
      e = p;
      while (e < end && !(CHARS[text.charCodeAt(e)]! & BLANK)) e++;
      timestamp = this.openMetrics ? this.seconds(p, e) : this.integer(p, e);
      if (!this.ok) return this.fail(`invalid timestamp ${quote(text.slice(p, e))}`);
      p = e;
      while (p < end && CHARS[text.charCodeAt(p)]! & BLANK) p++;
    }
    if (p < end) {
      if (!this.openMetrics || text.charCodeAt(p) !== HASH) {
        return this.fail(`unexpected ${quote(text.slice(p, end))} after value`);
      }
      if (!this.exemplar(p + 1, end)) return false;
    }
    if (entry === undefined) entry = this.resolve(name);
    if (++this.samples > this.maxSamples) {
      throw new InputError(`Line ${this.line}: more than ${this.maxSamples} samples`);
    }
    const sample: Sample = timestamp === undefined
      ? { name, labels, value }
      : { name, labels, value, timestamp };
    entry.family.samples.push(sample);
    this.prevName = name;
    this.prevEntry = entry;
    this.current = entry;
    return true;
  }

  /** Whether the text at `p` is the metric name `name`, followed by `{` or a blank. */
  isName(name: string, p: number): boolean {
    const text = this.text;
    if (!text.startsWith(name, p)) return false;
    const after = text.charCodeAt(p + name.length);
    return after === LBRACE || (CHARS[after]! & BLANK) !== 0;
  }

  /** HELP text: `\\` and `\n` (and `\"` in OpenMetrics) unescaped, other backslashes kept. */
  unescapeHelp(start: number, end: number): string {
    const text = this.text;
    let out = "";
    let from = start;
    for (let q = start; q < end - 1; q++) {
      if (text.charCodeAt(q) !== BACKSLASH) continue;
      const n = text.charCodeAt(q + 1);
      const replacement = n === BACKSLASH
        ? "\\"
        : n === LOWER_N
        ? "\n"
        : n === QUOTE && this.openMetrics
        ? '"'
        : undefined;
      if (replacement === undefined) continue;
      out += text.slice(from, q) + replacement;
      q++;
      from = q + 1;
    }
    return from === start ? text.slice(start, end) : out + text.slice(from, end);
  }

  /** Checks an OpenMetrics exemplar, ` {labels} value [timestamp]`, and drops it. */
  exemplar(p: number, end: number): boolean {
    const text = this.text;
    while (p < end && CHARS[text.charCodeAt(p)]! & BLANK) p++;
    if (p >= end || text.charCodeAt(p) !== LBRACE) {
      return this.fail(`invalid exemplar ${quote(text.slice(p, end))}`);
    }
    if (this.labels(p + 1, end, false) === undefined) return false;
    p = this.pos;
    for (let token = 0; token < 2; token++) {
      while (p < end && CHARS[text.charCodeAt(p)]! & BLANK) p++;
      if (p >= end) {
        if (token === 0) return this.fail("missing exemplar value");
        break;
      }
      let e = p;
      while (e < end && !(CHARS[text.charCodeAt(e)]! & BLANK)) e++;
      if (token === 0) this.number(p, e);
      else this.decimal(p, e);
      if (!this.ok) {
        return this.fail(
          `invalid exemplar ${token === 0 ? "value" : "timestamp"} ${quote(text.slice(p, e))}`,
        );
      }
      p = e;
    }
    while (p < end && CHARS[text.charCodeAt(p)]! & BLANK) p++;
    if (p < end) return this.fail(`unexpected ${quote(text.slice(p, end))} after exemplar`);
    return true;
  }
}

/** Whether a sample `name` belongs to the family of `entry`. */
function belongs(entry: Entry, name: string): boolean {
  const own = entry.family.name;
  if (name === own) return true;
  const suffixes = entry.suffixes;
  if (suffixes.length === 0 || name.length <= own.length || !name.startsWith(own)) return false;
  for (const suffix of suffixes) {
    if (name.length === own.length + suffix.length && name.endsWith(suffix)) return true;
  }
  return false;
}

/**
 * Parses Prometheus text format 0.0.4, or OpenMetrics 1.0 text with `openMetrics`, into
 * families in the order they first appear.
 *
 * - `# HELP` (`\\` and `\n` unescaped, and `\"` in OpenMetrics), `# TYPE` (any type of
 *   {@linkcode MetricType}), `# UNIT`; other `#` lines are comments; blank lines are ignored.
 * - `# EOF` ends the text; in OpenMetrics it is required and nothing may follow it.
 * - Samples of a histogram, summary, counter, gauge histogram or info family (`_bucket`,
 *   `_sum`, `_count`, `_created`, `_total`, `_gcount`, `_gsum`, `_info`) go to that family.
 *   A sample with no family gets its own, `untyped` (`unknown` in OpenMetrics).
 * - A family named twice is one family: its first HELP, TYPE and UNIT are kept and the
 *   samples of both go to it, as kata-monitor merges shims.
 * - Values: decimal with optional exponent, `NaN`, `+Inf`, `-Inf`, `Inf` (case ignored).
 *   Timestamps: integer milliseconds in 0.0.4, seconds in OpenMetrics (kept as milliseconds).
 *   OpenMetrics exemplars (`# {labels} value [timestamp]` after the value) are checked and
 *   dropped.
 *
 * Repeated series (same name and labels twice) are not looked for. Label values are cut from
 * `text` (V8 may keep `text` alive while they are).
 *
 * @throws {InputError} `Line N: reason` for the first bad line (unless `lenient`), and when
 * there are more than `maxSamples` samples (even when `lenient`).
 *
 * @example Usage
 * ```ts
 * const [family] = parsePrometheusText(
 *   '# TYPE kata_shim_fds gauge\nkata_shim_fds{sandbox_id="abc"} 12\n',
 * );
 * family!.samples[0]; // { name: "kata_shim_fds", labels: { sandbox_id: "abc" }, value: 12 }
 * ```
 */
export function parsePrometheusText(text: string, options: ParseOptions = {}): MetricFamily[] {
  return new Parser(text, options).run();
}
