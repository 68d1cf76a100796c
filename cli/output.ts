/**
 * Rendering of command results: aligned tables for people, JSON for scripts.
 *
 * @module
 */
import { escapeControl, escapeJsonControl } from "../lib/escape.ts";
import { writeAll } from "../lib/io.ts";

const encoder = new TextEncoder();

/**
 * Writes text to stdout completely (a pipe may take it in pieces). A reader that has gone
 * (`agent ... | head`) ends the output quietly, as it does for other command-line tools.
 */
export async function print(text: string): Promise<void> {
  try {
    await writeAll(Deno.stdout, encoder.encode(text.endsWith("\n") ? text : text + "\n"));
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}

/**
 * Renders a value as indented JSON, with the control characters `JSON.stringify` leaves raw
 * (DEL, C1) escaped too: a core's strings must not reach a terminal that shows the output.
 *
 * @example Usage
 * ```ts
 * renderJson({ path: "a\u009bb" }); // '{\n  "path": "a\\u009bb"\n}'
 * ```
 */
export function renderJson(value: unknown): string {
  return escapeJsonControl(JSON.stringify(value, null, 2));
}

/**
 * Renders rows as a table with a header row, columns separated by three spaces like
 * kubectl's; the last column is never padded. Cells are escaped (see `escapeControl`): a
 * newline or an escape sequence in one would break the table or take over the terminal.
 *
 * @example Usage
 * ```ts
 * renderTable(["NAME", "SCORE"], [["core.1", "8.5"]]);
 * ```
 */
export function renderTable(headers: string[], cells: string[][]): string {
  const rows = cells.map((row) => row.map(escapeControl));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join("   ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}
