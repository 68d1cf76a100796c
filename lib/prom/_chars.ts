/**
 * What the parser and the serializers of the text format share: the character codes they
 * test for, and how an error message quotes a piece of text.
 *
 * @module
 */

/** `\n`. */
export const NEWLINE = 10;
/** `"`. */
export const QUOTE = 34;
/** `\\`. */
export const BACKSLASH = 92;

/** Quotes a piece of text for an error message, cut to a readable length. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}\u2026` : text);
}

/** Character classes, one bit each, for every UTF-16 code unit (see {@linkcode CHARS}). */
export const METRIC_START = 1;
export const METRIC_CHAR = 2;
export const LABEL_START = 4;
export const LABEL_CHAR = 8;
export const BLANK = 16;
export const DIGIT = 32;

/** The classes of each UTF-16 code unit. */
export const CHARS = new Uint8Array(65536);
for (let c = 0; c < 128; c++) {
  const letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
  const digit = c >= 48 && c <= 57;
  if (letter || c === 58) CHARS[c]! |= METRIC_START | METRIC_CHAR;
  if (digit) CHARS[c]! |= METRIC_CHAR | LABEL_CHAR | DIGIT;
  if (letter) CHARS[c]! |= LABEL_START | LABEL_CHAR;
}
// A carriage return counts as a blank between tokens, so CRLF text parses.
CHARS[32] = CHARS[9] = CHARS[13] = BLANK;

export const HASH = 35;
export const PLUS = 43;
export const COMMA = 44;
export const MINUS = 45;
export const DOT = 46;
export const EQUALS = 61;
export const LOWER_N = 110;
export const LBRACE = 123;
export const RBRACE = 125;
