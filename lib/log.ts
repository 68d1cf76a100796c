/**
 * A small structured logger: text lines for people, JSON lines for the daemon, always on
 * stderr so that stdout stays the command's output.
 *
 * @module
 */
import { escapeControl, escapeJsonControl } from "./escape.ts";
import { writeAllSync } from "./io.ts";
import { redactUrls } from "./redact.ts";

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Structured fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** Writes log lines. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** Whether lines of this level are written. */
  enabled(level: LogLevel): boolean;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  level: LogLevel;
  format: "text" | "json";
  /** Receives each line without its newline; default: stderr. */
  write?: (line: string) => void;
  now?: () => Date;
}

const encoder = new TextEncoder();

function writeStderr(line: string): void {
  writeAllSync(Deno.stderr, encoder.encode(line + "\n"));
}

/**
 * Creates a logger.
 *
 * @example Usage
 * ```ts
 * const lines: string[] = [];
 * const log = createLogger({ level: "info", format: "json", write: (l) => lines.push(l) });
 * log.info("started", { port: 8090 });
 * ```
 */
export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? writeStderr;
  const now = options.now ?? (() => new Date());
  const enabled = (level: LogLevel) => RANK[level] >= RANK[options.level];
  const log = (level: LogLevel) => (message: string, fields: LogFields = {}) => {
    if (!enabled(level)) return;
    if (options.format === "json") {
      write(escapeJsonControl(JSON.stringify(
        { time: now().toISOString(), level, msg: message, ...fields },
        (_key, value) => typeof value === "string" ? redactUrls(value) : value,
      )));
      return;
    }
    const extra = Object.entries(fields).map(([k, v]) => ` ${k}=${formatValue(v)}`).join("");
    // One line whatever the values hold: file names and crash reasons come from cores.
    write(escapeControl(redactUrls(`${level}: ${message}${extra}`)));
  };
  return {
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
    enabled,
  };
}

function formatValue(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return /[\s"=]/.test(text) ? JSON.stringify(text) : text;
}
