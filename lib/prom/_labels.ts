/**
 * The label sets of sample lines, read in place: label names and escape-free values are
 * taken from the previous line when the text repeats them (no string is made then), and
 * strings that repeat across lines are shared through a small table. The parser extends
 * {@linkcode LabelReader}.
 *
 * @module
 */
import type { Labels } from "./model.ts";
import { NumberReader } from "./_number.ts";
import {
  BACKSLASH,
  BLANK,
  CHARS,
  COMMA,
  EQUALS,
  LABEL_CHAR,
  LABEL_START,
  LOWER_N,
  QUOTE,
  quote,
  RBRACE,
} from "./_chars.ts";

/** Slots of a parse's table of shared strings (a power of two), and their longest string. */
const INTERNED_SLOTS = 4096;
const MAX_INTERNED = 200;

/** Reads label sets out of `text` by position. */
export abstract class LabelReader extends NumberReader {
  /** Why the current line is bad. */
  reason = "";
  /** Where the last sub-scanner stopped. */
  pos = 0;
  /** Strings already cut, by hash (see `intern`): fewer slots for a short text. */
  readonly strings: (string | undefined)[];
  // Label names and raw (escape-free) values by position, from the previous lines; the first
  // `distinctKeys` names are one line's, so distinct, and need no duplicate check.
  readonly keys: string[] = [];
  readonly values: (string | undefined)[] = [];
  distinctKeys = 0;

  /** Reads from `text`, in OpenMetrics rules when `openMetrics`. */
  constructor(text: string, readonly openMetrics: boolean) {
    super(text);
    let slots = 64;
    while (slots < INTERNED_SLOTS && slots * 32 < text.length) slots *= 2;
    this.strings = new Array(slots);
  }

  /** Marks the current line bad for `reason`; returns false. */
  abstract fail(reason: string): false;

  /**
   * Reads labels from just after `{` to just after `}`, leaving `pos` there. With `cache`
   * (sample labels, not exemplars), names and values repeated from the previous lines at the
   * same position are reused rather than cut anew.
   */
  labels(p: number, end: number, cache: boolean): Labels | undefined {
    const text = this.text;
    const keys = this.keys;
    const values = this.values;
    const labels: Labels = {};
    let checking = !cache;
    let i = 0;
    for (;;) {
      while (p < end && CHARS[text.charCodeAt(p)]! & BLANK) p++;
      if (p >= end) return this.noLabels(`unterminated label set`);
      const c = text.charCodeAt(p);
      if (c === RBRACE) {
        p++;
        break;
      }
      let key = cache ? keys[i] : undefined;
      if (
        key !== undefined && text.startsWith(key, p) &&
        !(CHARS[text.charCodeAt(p + key.length)]! & LABEL_CHAR)
      ) {
        p += key.length;
        if (i >= this.distinctKeys) checking = true;
      } else {
        let q = p;
        let hash = 0;
        if (CHARS[c]! & LABEL_START) {
          hash = c;
          q++;
          let d = 0;
          while (q < end && CHARS[d = text.charCodeAt(q)]! & LABEL_CHAR) {
            hash = (hash * 31 + d) | 0;
            q++;
          }
        }
        if (q === p) {
          let e = p + 1;
          while (e < end && CHARS[text.charCodeAt(e)]! & LABEL_CHAR) e++;
          return this.noLabels(`invalid label name ${quote(text.slice(p, e))}`);
        }
        key = this.intern(p, q, hash);
        p = q;
        if (cache) keys[i] = key;
        checking = true;
      }
      if (checking && Object.hasOwn(labels, key)) {
        return this.noLabels(`duplicate label ${quote(key)}`);
      }
      while (p < end && CHARS[text.charCodeAt(p)]! & BLANK) p++;
      if (p >= end || text.charCodeAt(p) !== EQUALS) {
        return this.noLabels(`expected "=" after label ${quote(key)}`);
      }
      p++;
      while (p < end && CHARS[text.charCodeAt(p)]! & BLANK) p++;
      if (p >= end || text.charCodeAt(p) !== QUOTE) {
        return this.noLabels(`expected '"' after "${key}="`);
      }
      p++;
      let value = cache ? values[i] : undefined;
      if (
        value !== undefined && text.charCodeAt(p + value.length) === QUOTE &&
        text.startsWith(value, p)
      ) {
        p += value.length + 1;
      } else {
        let q = p;
        let d = 0;
        let hash = 0;
        while (q < end && (d = text.charCodeAt(q)) !== QUOTE && d !== BACKSLASH) {
          hash = (hash * 31 + d) | 0;
          q++;
        }
        if (q >= end) return this.noLabels(`unterminated value of label ${quote(key)}`);
        if (d === QUOTE) {
          value = this.intern(p, q, hash);
          p = q + 1;
          if (cache) values[i] = value;
        } else {
          value = this.unescapeLabel(p, q, end, key);
          if (value === undefined) return undefined;
          p = this.pos;
          if (cache) values[i] = undefined;
        }
      }
      if (key === "__proto__") {
        Object.defineProperty(labels, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else {
        labels[key] = value;
      }
      i++;
      while (p < end && CHARS[text.charCodeAt(p)]! & BLANK) p++;
      const next = text.charCodeAt(p);
      if (p < end && next === COMMA) {
        p++;
      } else if (p < end && next === RBRACE) {
        p++;
        break;
      } else {
        return this.noLabels(`expected "," or "}" after label ${quote(key)}`);
      }
    }
    if (cache) this.distinctKeys = i;
    this.pos = p;
    return labels;
  }

  /**
   * `text.slice(p, q)`, or the same string cut before (`hash` is of its characters): names and
   * label values repeat across the lines, and sharing them saves time and memory.
   */
  intern(p: number, q: number, hash: number): string {
    const table = this.strings;
    const slot = (hash ^ (hash >>> 12)) & (table.length - 1);
    const known = table[slot];
    if (known !== undefined && known.length === q - p && this.text.startsWith(known, p)) {
      return known;
    }
    const fresh = this.text.slice(p, q);
    if (q - p <= MAX_INTERNED) table[slot] = fresh;
    return fresh;
  }

  noLabels(reason: string): undefined {
    this.reason = reason;
    return undefined;
  }

  /** A label value with escapes, from `start` (its first character); `first` is a backslash. */
  unescapeLabel(start: number, first: number, end: number, key: string): string | undefined {
    const text = this.text;
    let out = "";
    let from = start;
    for (let q = first; q < end; q++) {
      const c = text.charCodeAt(q);
      if (c === QUOTE) {
        this.pos = q + 1;
        return out + text.slice(from, q);
      }
      if (c !== BACKSLASH) continue;
      if (q + 1 >= end) break;
      out += text.slice(from, q);
      const n = text.charCodeAt(q + 1);
      if (n === BACKSLASH) out += "\\";
      else if (n === QUOTE) out += '"';
      else if (n === LOWER_N) out += "\n";
      else {
        return this.noLabels(
          `invalid escape ${quote(text.slice(q, q + 2))} in value of label ${quote(key)}`,
        );
      }
      q++;
      from = q + 1;
    }
    return this.noLabels(`unterminated value of label ${quote(key)}`);
  }
}
