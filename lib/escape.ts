/**
 * Makes text from untrusted sources (a core's process name and file paths, gdb's frames, a
 * shim's answer) safe to print on a terminal: no byte of it can move the cursor, clear the
 * screen, start a new line or reorder what is shown.
 *
 * @module
 */

/**
 * What a terminal acts on rather than prints: C0 controls (newline, ESC...), DEL, C1 controls
 * (U+009B is CSI on terminals that read them), the line and paragraph separators, and the
 * bidirectional overrides and isolates that display text in another order than it is stored.
 */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** What `JSON.stringify` leaves raw of {@linkcode CONTROL} (it escapes C0 in strings itself). */
const JSON_RAW = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function hex(char: string, digits: number): string {
  return char.charCodeAt(0).toString(16).padStart(digits, "0");
}

/**
 * Escapes every control character in `text` as `\n`, `\r`, `\t`, `\xNN` or `\uNNNN`, the way
 * a string literal would write it; the rest (backslashes included) is unchanged, so ordinary
 * text prints as it is.
 *
 * @example Usage
 * ```ts
 * escapeControl("/tmp/\x1b[2Jevil\nlib.so"); // "/tmp/\\x1b[2Jevil\\nlib.so"
 * ```
 */
export function escapeControl(text: string): string {
  return text.replace(
    CONTROL,
    (char) => NAMED[char] ?? (char <= "\u00ff" ? `\\x${hex(char, 2)}` : `\\u${hex(char, 4)}`),
  );
}

/**
 * The JSON counterpart of {@linkcode escapeControl}: `JSON.stringify` escapes C0 controls but
 * writes DEL, C1 controls and the rest raw. In JSON text they can only be inside strings, so
 * `\uNNNN` escapes keep the value the same while no raw one reaches a terminal. The newlines
 * and spaces of indented JSON are left as they are.
 *
 * @example Usage
 * ```ts
 * escapeJsonControl(JSON.stringify("a\u009bb")); // '"a\\u009bb"'
 * ```
 */
export function escapeJsonControl(json: string): string {
  return json.replace(JSON_RAW, (char) => `\\u${hex(char, 4)}`);
}
