/**
 * Which series the daemon's detectors watch, as data: a small subset of PromQL evaluated over
 * the metric families the daemon serves, so any series on `/metrics` (the node collectors', the
 * cAdvisor-style sandbox series, the agent's own counters, and those of collectors added later)
 * can be watched by naming it:
 *
 * ```
 * node_load1
 * node_memory_MemAvailable_bytes
 * sum(rate(node_cpu_seconds_total{mode!~"idle|iowait|steal"}))
 * sum by (namespace, pod) (rate(container_cpu_usage_seconds_total)) * 100
 * {__name__=~"node_network_(receive|transmit)_errs_total"}
 * ```
 *
 * A selector is a metric name and/or label matchers (`=`, `!=`, `=~`, `!~`, regular expressions
 * anchored as in PromQL); `rate(...)` is the per-second increase of each counter since the
 * previous evaluation (a counter that went down restarted from 0); `sum by (labels) (...)` adds
 * the samples that share those labels (`sum (...)`: all of them); `* N` scales. Without `sum`,
 * each sample is a series of its own, keyed by its labels (and by its name, as the label
 * `metric`, when the selector does not name one metric).
 *
 * @module
 */
import type { Labels, MetricFamily } from "../prom/mod.ts";
import type { SeriesRule } from "./rules.ts";

/** A label matcher. */
export interface Matcher {
  label: string;
  op: "=" | "!=" | "=~" | "!~";
  value: string;
}

/** A parsed expression. */
export interface SeriesExpression {
  matchers: Matcher[];
  rate: boolean;
  /** Labels to sum by; undefined without `sum`, `[]` for `sum (...)`. */
  sumBy: string[] | undefined;
  scale: number;
  /** The expression as written. */
  text: string;
}

/** One value of an evaluation: a series' labels and value. */
export interface SeriesValue {
  labels: Labels;
  value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/** Raw counters whose last value one expression keeps for `rate` (a bound on its memory). */
export const MAX_RATE_SERIES = 10_000;

class Cursor {
  at = 0;
  constructor(readonly text: string) {}
  skip(): void {
    while (/\s/.test(this.text[this.at] ?? "")) this.at++;
  }
  take(pattern: RegExp): string | undefined {
    this.skip();
    const m = pattern.exec(this.text.slice(this.at));
    if (!m) return undefined;
    this.at += m[0].length;
    return m[0];
  }
  word(word: string): boolean {
    this.skip();
    const rest = this.text.slice(this.at);
    if (!rest.startsWith(word) || /[a-zA-Z0-9_:]/.test(rest[word.length] ?? "")) return false;
    this.at += word.length;
    return true;
  }
  char(c: string): boolean {
    this.skip();
    if (this.text[this.at] !== c) return false;
    this.at++;
    return true;
  }
  expect(c: string): void {
    if (!this.char(c)) this.fail(`expected "${c}"`);
  }
  fail(what: string): never {
    throw new SyntaxError(`${what} at column ${this.at + 1}`);
  }
}

function parseString(cursor: Cursor): string {
  cursor.skip();
  const quote = cursor.text[cursor.at];
  if (quote !== '"' && quote !== "'") cursor.fail("expected a quoted string");
  let out = "";
  for (let i = cursor.at + 1; i < cursor.text.length; i++) {
    const c = cursor.text[i]!;
    if (c === "\\") {
      const next = cursor.text[++i];
      out += next === "n" ? "\n" : next ?? "";
    } else if (c === quote) {
      cursor.at = i + 1;
      return out;
    } else out += c;
  }
  return cursor.fail("unterminated string");
}

function parseSelector(cursor: Cursor): Matcher[] {
  const matchers: Matcher[] = [];
  const name = cursor.take(NAME);
  if (name) matchers.push({ label: "__name__", op: "=", value: name });
  if (cursor.char("{")) {
    while (!cursor.char("}")) {
      const label = cursor.take(LABEL) ?? cursor.fail("expected a label name");
      const op =
        (cursor.take(/^(=~|!~|!=|=)/) ?? cursor.fail("expected =, !=, =~ or !~")) as Matcher["op"];
      const value = parseString(cursor);
      if (op === "=~" || op === "!~") {
        try {
          new RegExp(value);
        } catch {
          cursor.fail(`bad regular expression ${JSON.stringify(value)}`);
        }
      }
      matchers.push({ label, op, value });
      if (!cursor.char(",")) {
        cursor.expect("}");
        break;
      }
    }
  }
  if (matchers.length === 0) cursor.fail("expected a metric name or {matchers}");
  return matchers;
}

function parseInner(cursor: Cursor): { matchers: Matcher[]; rate: boolean } {
  if (cursor.word("rate")) {
    cursor.expect("(");
    const matchers = parseSelector(cursor);
    cursor.expect(")");
    return { matchers, rate: true };
  }
  return { matchers: parseSelector(cursor), rate: false };
}

/**
 * Parses an expression (see the module's comment).
 *
 * @throws {SyntaxError} naming what was expected and where.
 *
 * @example Usage
 * ```ts
 * parseSeriesExpression('sum by (pod) (rate(container_cpu_usage_seconds_total))').sumBy; // ["pod"]
 * ```
 */
export function parseSeriesExpression(text: string): SeriesExpression {
  const cursor = new Cursor(text);
  let sumBy: string[] | undefined;
  let inner: { matchers: Matcher[]; rate: boolean };
  if (cursor.word("sum")) {
    sumBy = [];
    if (cursor.word("by")) {
      cursor.expect("(");
      while (!cursor.char(")")) {
        sumBy.push(cursor.take(LABEL) ?? cursor.fail("expected a label name"));
        if (!cursor.char(",")) {
          cursor.expect(")");
          break;
        }
      }
    }
    cursor.expect("(");
    inner = parseInner(cursor);
    cursor.expect(")");
  } else inner = parseInner(cursor);
  let scale = 1;
  if (cursor.char("*")) {
    const number = cursor.take(/^[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?/i) ??
      cursor.fail("expected a number");
    scale = Number(number);
  }
  cursor.skip();
  if (cursor.at < text.length) cursor.fail("unexpected text");
  return { ...inner, sumBy, scale, text };
}

function compile(matchers: Matcher[]): (name: string, labels: Labels) => boolean {
  const tests = matchers.map(({ label, op, value }) => {
    const regex = op === "=~" || op === "!~" ? new RegExp(`^(?:${value})$`) : undefined;
    return (get: (label: string) => string) => {
      const actual = get(label);
      switch (op) {
        case "=":
          return actual === value;
        case "!=":
          return actual !== value;
        case "=~":
          return regex!.test(actual);
        case "!~":
          return !regex!.test(actual);
      }
    };
  });
  return (name, labels) => {
    const get = (label: string) => label === "__name__" ? name : labels[label] ?? "";
    return tests.every((test) => test(get));
  };
}

function keyOf(name: string, labels: Labels): string {
  return name + JSON.stringify(Object.entries(labels).sort(([a], [b]) => a < b ? -1 : 1));
}

/** An expression evaluated again and again: it remembers the counters `rate` needs. */
export class SeriesEvaluator {
  readonly #match: (name: string, labels: Labels) => boolean;
  readonly #names: Set<string> | undefined;
  readonly #last = new Map<string, { time: number; value: number; seen: number }>();
  #evaluations = 0;

  /** Evaluates `expression`. */
  constructor(readonly expression: SeriesExpression) {
    this.#match = compile(expression.matchers);
    const exact = expression.matchers.find((m) => m.label === "__name__" && m.op === "=");
    this.#names = exact ? new Set([exact.value]) : undefined;
  }

  /**
   * The expression's series at `time` (seconds) over `families`. A `rate` has no value for a
   * counter seen for the first time.
   */
  evaluate(families: readonly MetricFamily[], time: number): SeriesValue[] {
    const { rate, sumBy, scale } = this.expression;
    const evaluation = ++this.#evaluations;
    const groups = new Map<string, SeriesValue>();
    for (const family of families) {
      if (this.#names && !this.#names.has(family.name)) continue;
      for (const sample of family.samples) {
        if (!this.#match(sample.name, sample.labels) || !Number.isFinite(sample.value)) continue;
        let value = sample.value;
        if (rate) {
          const key = keyOf(sample.name, sample.labels);
          const last = this.#last.get(key);
          if (last || this.#last.size < MAX_RATE_SERIES) {
            this.#last.set(key, { time, value, seen: evaluation });
          }
          if (!last || !(time > last.time)) continue;
          value = (value >= last.value ? value - last.value : value) / (time - last.time);
        }
        const labels: Labels = {};
        if (sumBy) { for (const l of sumBy) labels[l] = sample.labels[l] ?? ""; }
        else {
          // Without `sum`, a selector of several metrics keeps them apart by name.
          if (!this.#names) labels.metric = sample.name;
          Object.assign(labels, sample.labels);
        }
        const key = keyOf("", labels);
        const group = groups.get(key);
        if (group) group.value += value * scale;
        else groups.set(key, { labels, value: value * scale });
      }
    }
    if (rate) {
      // Counters gone from the families are forgotten.
      for (const [key, last] of this.#last) if (last.seen !== evaluation) this.#last.delete(key);
    }
    return [...groups.values()];
  }
}

/**
 * Parses a rule `NAME = EXPRESSION`: the series' name (the `series` label) and what it is.
 *
 * @throws {SyntaxError} when the name or the expression is malformed.
 *
 * @example Usage
 * ```ts
 * parseSeriesRule("load = node_load1"); // { name: "load", expression: "node_load1" }
 * ```
 */
export function parseSeriesRule(text: string): SeriesRule {
  const m = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=(?![=~])(.*)$/s.exec(text);
  if (!m) throw new SyntaxError('expected "NAME = EXPRESSION"');
  const expression = m[2]!.trim();
  parseSeriesExpression(expression);
  return { name: m[1]!, expression };
}
