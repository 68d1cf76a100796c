/**
 * Reading a series from CSV: a header naming a `timestamp` and a `value` column (others are
 * ignored), then one point per line, streamed, so a series of any length reads in fixed
 * memory. Timestamps are ISO 8601 (`2014-04-01 00:05:00`, `2014-04-01T00:05:00Z`, with or
 * without fractions and offset; no offset means UTC) or Unix seconds.
 *
 * @module
 */
import { InputError } from "../errors.ts";

/** One point of the series, with the text it was read from. */
export interface CsvPoint {
  /** Line number in the file (the header is line 1). */
  line: number;
  /** The timestamp as written. */
  timestamp: string;
  /** The timestamp in seconds since the epoch. */
  time: number;
  /** The value as written. */
  text: string;
  value: number;
}

/** The longest line read; a longer one is not a series' line. */
const MAX_LINE = 65_536;

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Seconds since the epoch of an ISO 8601 date and time (UTC unless it says otherwise) or of a
 * number of Unix seconds; NaN when `text` is neither.
 *
 * @example Usage
 * ```ts
 * parseTimestamp("2014-04-01 00:05:00"); // 1396310700
 * parseTimestamp("1396310700.5"); // 1396310700.5
 * ```
 */
export function parseTimestamp(text: string): number {
  const t = text.trim();
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  const m = ISO.exec(t);
  if (!m) return NaN;
  const [, y, mo, d, h = "0", mi = "0", s = "0", frac, zone] = m;
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > 31 || Number(h) > 23 || Number(mi) > 59) {
    return NaN;
  }
  let seconds = Date.UTC(Number(y), month - 1, day, Number(h), Number(mi), Number(s)) / 1000;
  if (frac) seconds += Number(frac);
  if (zone && zone.toUpperCase() !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    seconds -= sign * (Number(digits.slice(0, 2)) * 3600 + Number(digits.slice(2)) * 60);
  }
  return seconds;
}

function fields(line: string): string[] {
  return line.split(",").map((f) => {
    const t = f.trim();
    return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
  });
}

async function* lines(stream: ReadableStream<Uint8Array>, source: string) {
  let rest = "";
  let line = 0;
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const text = rest + chunk;
    let start = 0;
    for (let at = text.indexOf("\n"); at >= 0; at = text.indexOf("\n", start)) {
      yield { line: ++line, text: text.slice(start, at).replace(/\r$/, "") };
      start = at + 1;
    }
    rest = text.slice(start);
    if (rest.length > MAX_LINE) {
      throw new InputError(
        `Cannot read ${source}: line ${line + 1} is longer than ${MAX_LINE} bytes`,
      );
    }
  }
  if (rest.length > 0) yield { line: ++line, text: rest.replace(/\r$/, "") };
}

/**
 * Reads the points of a `timestamp,value` CSV from `stream`; `source` names it in errors
 * (`"data.csv"`, `standard input`). Blank lines are skipped.
 *
 * @throws {InputError} when the header lacks a column, or a line's timestamp or value cannot
 * be read (naming the line).
 *
 * @example Usage
 * ```ts ignore
 * for await (const point of readSeriesCsv(Deno.stdin.readable, "standard input")) {
 *   console.log(point.time, point.value);
 * }
 * ```
 */
export async function* readSeriesCsv(
  stream: ReadableStream<Uint8Array>,
  source: string,
): AsyncGenerator<CsvPoint> {
  let columns: { time: number; value: number; width: number } | undefined;
  for await (const { line, text } of lines(stream, source)) {
    if (text.trim() === "") continue;
    const row = fields(text);
    if (!columns) {
      const names = row.map((f) => f.replace(/^\uFEFF/, "").toLowerCase());
      const time = names.indexOf("timestamp");
      const value = names.indexOf("value");
      if (time < 0 || value < 0) {
        throw new InputError(
          `Cannot read ${source}: the header must name the columns "timestamp" and "value", it is ${
            JSON.stringify(text.slice(0, 200))
          }`,
        );
      }
      columns = { time, value, width: Math.max(time, value) + 1 };
      continue;
    }
    if (row.length < columns.width) {
      throw new InputError(
        `Cannot read ${source}: line ${line} has ${row.length} columns, not ${columns.width}`,
      );
    }
    const timestamp = row[columns.time]!;
    const time = parseTimestamp(timestamp);
    if (!Number.isFinite(time)) {
      throw new InputError(
        `Cannot read ${source}: line ${line}: timestamp ${
          JSON.stringify(timestamp.slice(0, 100))
        } is not a date`,
      );
    }
    const valueText = row[columns.value]!;
    const value = valueText === "" ? NaN : Number(valueText);
    if (!Number.isFinite(value)) {
      throw new InputError(
        `Cannot read ${source}: line ${line}: value ${
          JSON.stringify(valueText.slice(0, 100))
        } is not a number`,
      );
    }
    yield { line, timestamp, time, text: valueText, value };
  }
  if (!columns) throw new InputError(`Cannot read ${source}: it is empty (no header)`);
}
