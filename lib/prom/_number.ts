/**
 * Numbers of the text format read in place, without cutting substrings in the common case:
 * sample values (Go's ParseFloat syntax), 0.0.4 integer timestamps and OpenMetrics ones in
 * seconds. The parser extends {@linkcode NumberReader}; `ok` says whether the last number
 * read was valid, so the hot path allocates nothing to report it.
 *
 * @module
 */
import { CHARS, DIGIT, DOT, MINUS, PLUS } from "./_chars.ts";

const SPECIAL_VALUES = new Map<string, number>([
  ["nan", NaN],
  ["inf", Infinity],
  ["+inf", Infinity],
  ["-inf", -Infinity],
  ["infinity", Infinity],
  ["+infinity", Infinity],
  ["-infinity", -Infinity],
]);

/** Exact powers of ten, for the fast path of decimal conversion. */
const POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));

/** Reads numbers out of `text` by position. */
export class NumberReader {
  /** Whether the last number scanned was valid. */
  ok = false;

  /** Reads from `text`. */
  constructor(readonly text: string) {}

  /**
   * A float in `[a, b)`: decimal with optional fraction and exponent, or NaN and [+-]Inf(inity)
   * in any case, as Go's ParseFloat reads them, but no hex, no underscores, no blanks.
   */
  number(a: number, b: number): number {
    const text = this.text;
    let p = a;
    let c = text.charCodeAt(p);
    const negative = c === MINUS;
    if (negative || c === PLUS) p++;
    // The common case, an integer of at most 15 digits, is read here exactly.
    let n = 0;
    let q = p;
    while (q < b && (c = text.charCodeAt(q)) >= 48 && c <= 57) {
      n = n * 10 + (c - 48);
      q++;
    }
    if (q === b && q > p && q - p <= 15) {
      this.ok = true;
      return negative ? -n : n;
    }
    const exact = this.exactDecimal(q, b, n, q - p);
    if (exact === exact) {
      this.ok = true;
      return negative ? -exact : exact;
    }
    if (this.decimal(a, b) !== -1) return Number(text.slice(a, b));
    const special = b - a <= 9 ? SPECIAL_VALUES.get(text.slice(a, b).toLowerCase()) : undefined;
    this.ok = special !== undefined;
    return special ?? 0;
  }

  /**
   * The rest of a decimal after its integer digits (`n`, `digits` of them, ending at `q`):
   * `.fraction` and `e±exponent`, when the value is exactly one IEEE operation away (digits
   * making an exact integer, and a power of ten up to 22: Clinger's fast path), else NaN for
   * the general path to take over.
   */
  exactDecimal(q: number, b: number, n: number, digits: number): number {
    const text = this.text;
    let c = 0;
    let scale = 0;
    if (q < b && text.charCodeAt(q) === DOT) {
      q++;
      while (q < b && (c = text.charCodeAt(q)) >= 48 && c <= 57) {
        n = n * 10 + (c - 48);
        scale--;
        digits++;
        q++;
      }
    }
    // Every step of `n` was exact while it stays an exact integer.
    if (digits === 0 || n > Number.MAX_SAFE_INTEGER) return NaN;
    if (q < b) {
      c = text.charCodeAt(q);
      if (c !== 101 && c !== 69) return NaN;
      q++;
      c = text.charCodeAt(q);
      const negative = c === MINUS;
      if (negative || c === PLUS) q++;
      const from = q;
      let exponent = 0;
      while (q < b && (c = text.charCodeAt(q)) >= 48 && c <= 57 && exponent < 1000) {
        exponent = exponent * 10 + (c - 48);
        q++;
      }
      if (q !== b || q === from) return NaN;
      scale += negative ? -exponent : exponent;
    }
    if (scale < -22 || scale > 22) return NaN;
    return scale < 0 ? n / POWERS_OF_TEN[-scale]! : n * POWERS_OF_TEN[scale]!;
  }

  /**
   * Checks the shape `[+-](digits[.digits] | .digits)[(e|E)[+-]digits]` of `[a, b)`: sets
   * `ok` and returns where the exponent starts (`b` without one), or -1 when not a decimal.
   */
  decimal(a: number, b: number): number {
    const text = this.text;
    this.ok = false;
    let p = a;
    let c = text.charCodeAt(p);
    if (c === PLUS || c === MINUS) p++;
    const whole = p;
    while (p < b && CHARS[text.charCodeAt(p)]! & DIGIT) p++;
    let digits = p - whole;
    if (p < b && text.charCodeAt(p) === DOT) {
      const fraction = ++p;
      while (p < b && CHARS[text.charCodeAt(p)]! & DIGIT) p++;
      digits += p - fraction;
    }
    if (digits === 0) return -1;
    const exponent = p;
    if (p < b && ((c = text.charCodeAt(p)) === 101 || c === 69)) {
      p++;
      c = text.charCodeAt(p);
      if (p < b && (c === PLUS || c === MINUS)) p++;
      const from = p;
      while (p < b && CHARS[text.charCodeAt(p)]! & DIGIT) p++;
      if (p === from) return -1;
    }
    if (p !== b) return -1;
    this.ok = true;
    return exponent;
  }

  /** A 0.0.4 timestamp: integer milliseconds. */
  integer(a: number, b: number): number {
    const text = this.text;
    let p = a;
    const sign = text.charCodeAt(p);
    if (sign === PLUS || sign === MINUS) p++;
    let n = 0;
    let q = p;
    let c = 0;
    while (q < b && (c = text.charCodeAt(q)) >= 48 && c <= 57) {
      n = n * 10 + (c - 48);
      q++;
    }
    this.ok = q === b && q > p;
    if (q - p > 15) return Number(text.slice(a, b));
    return sign === MINUS ? -n : n;
  }

  /**
   * An OpenMetrics timestamp, in seconds, as milliseconds: the decimal point is moved in the
   * text, so that `1520879607.789` gives exactly 1520879607789.
   */
  seconds(a: number, b: number): number {
    const text = this.text;
    const exponent = this.decimal(a, b);
    if (exponent === -1) return 0;
    if (exponent !== b) return Number(text.slice(a, b)) * 1000;
    const token = text.slice(a, b);
    const dot = token.indexOf(".");
    if (dot === -1) return Number(token) * 1000;
    const fraction = token.slice(dot + 1);
    return Number(
      token.slice(0, dot) + fraction.slice(0, 3).padEnd(3, "0") +
        (fraction.length > 3 ? `.${fraction.slice(3)}` : ""),
    );
  }
}
