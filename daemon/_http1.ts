/**
 * HTTP/1.1 on one connection, for `serve_http.ts`: the connection with its deadlines, reading
 * and parsing a request's head and `Content-Length` body within hard limits, and writing
 * answers (ours, byte arrays shared between requests, or a handler's `Response`).
 *
 * @module
 */

/** Which wait of a connection timed out. */
export type TimeoutPhase = "header" | "idle" | "write";
export const MAX_HEAD_BYTES = 16 * 1024;
export const MAX_BODY_BYTES = 64 * 1024;
/** A connection's first read buffer: a GET's head fits; it grows for more. */
export const FIRST_READ = 1024;
/** Least room for one read. */
export const MIN_READ = 512;

export const encoder = new TextEncoder();
export const latin1 = new TextDecoder("latin1");

export const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  411: "Length Required",
  413: "Content Too Large",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

/** An answer the server writes itself and then closes the connection. */
export class Refusal extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** One accepted connection. */
export class Connection {
  /** Waiting for (the rest of) a request's head: what may be closed to make room. */
  waiting = true;
  /** When the current wait for a request began (`performance.now()`). */
  waitingSince = performance.now();
  /** Why the sweep closed it, when it did. */
  timedOut: TimeoutPhase | undefined;
  closed = false;
  /** When the current wait ends (`performance.now()`), and which wait it is. */
  #due = Infinity;
  #phase: TimeoutPhase = "header";
  #buffer = new Uint8Array(0);
  #start = 0;
  #end = 0;

  constructor(readonly conn: Deno.TcpConn) {}

  /** Lets the sweep close the connection when `ms` pass before the next `deadline` or `clear`. */
  deadline(ms: number, phase: TimeoutPhase): void {
    this.#due = performance.now() + ms;
    this.#phase = phase;
  }

  clear(): void {
    this.#due = Infinity;
  }

  /** Closes the connection if its wait is over. */
  sweep(now: number): void {
    if (now < this.#due) return;
    this.timedOut = this.#phase;
    this.close();
  }

  close(): void {
    this.clear();
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }

  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Reads more bytes; false at the end of the stream. */
  async fill(): Promise<boolean> {
    if (this.#buffer.length - this.#end < MIN_READ) {
      // Room for one more read: move what is left to the front, growing when it is full.
      const live = this.#buffer.subarray(this.#start, this.#end);
      if (live.length + MIN_READ > this.#buffer.length) {
        const next = new Uint8Array(Math.max(FIRST_READ, live.length * 2));
        next.set(live);
        this.#buffer = next;
      } else {
        this.#buffer.copyWithin(0, this.#start, this.#end);
      }
      this.#end -= this.#start;
      this.#start = 0;
    }
    const n = await this.conn.read(this.#buffer.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    return true;
  }

  /** The index just past the blank line ending a head in the buffer, or -1. */
  headEnd(): number {
    const b = this.#buffer;
    for (let i = this.#start; i < this.#end; i++) {
      if (b[i] !== 0x0a) continue;
      if (b[i + 1] === 0x0a) return i + 2 - this.#start;
      if (b[i + 1] === 0x0d && b[i + 2] === 0x0a) return i + 3 - this.#start;
    }
    return -1;
  }

  /** Removes and returns `n` buffered bytes (a copy: the buffer is reused). */
  take(n: number): Uint8Array<ArrayBuffer> {
    const out = this.#buffer.slice(this.#start, this.#start + n);
    this.#start += n;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return out;
  }

  /** Drops the read buffer of a connection that waits between requests. */
  compact(): void {
    if (this.buffered === 0 && this.#buffer.length > FIRST_READ) {
      this.#buffer = new Uint8Array(0);
      this.#start = this.#end = 0;
    }
  }
}

export interface Head {
  method: string;
  target: string;
  minor: 0 | 1;
  headers: [string, string][];
}

/** Reads a request head; null when the client closed cleanly between requests. */
export async function readHead(
  connection: Connection,
  first: boolean,
  headerTimeoutMs: number,
): Promise<Head | null> {
  let started = first || connection.buffered > 0;
  if (!first && started) connection.deadline(headerTimeoutMs, "header");
  for (;;) {
    const end = connection.headEnd();
    if (end > MAX_HEAD_BYTES || (end < 0 && connection.buffered > MAX_HEAD_BYTES)) {
      throw new Refusal(431, `request head over ${MAX_HEAD_BYTES} bytes`);
    }
    if (end >= 0) return parseHead(connection.take(end));
    let more: boolean;
    try {
      more = await connection.fill();
    } catch (error) {
      if (connection.closed || isGone(error)) return null;
      throw error;
    }
    if (!more) return null;
    if (!started) {
      // The next request began: its head must come within the header timeout from now.
      started = true;
      connection.deadline(headerTimeoutMs, "header");
    }
  }
}

export function parseHead(bytes: Uint8Array): Head {
  const lines = latin1.decode(bytes).split("\n").map((l) => l.endsWith("\r") ? l.slice(0, -1) : l);
  // Some clients send a blank line between requests (RFC 9112 §2.2): skip it.
  while (lines[0] === "") lines.shift();
  const match = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/1\.([01])$/.exec(lines[0] ?? "");
  if (!match) {
    if (/^\S+ \S+ HTTP\/\d/.test(lines[0] ?? "")) {
      throw new Refusal(505, "only HTTP/1.0 and HTTP/1.1 are served");
    }
    throw new Refusal(400, "malformed request line");
  }
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    // No whitespace before the colon, no folded lines (RFC 9112 §5.1, §5.2).
    if (colon <= 0 || /[\s]/.test(line.slice(0, colon))) {
      throw new Refusal(400, "malformed header line");
    }
    headers.push([line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return {
    method: match[1]!,
    target: match[2]!,
    minor: match[3] === "0" ? 0 : 1,
    headers,
  };
}

export function header(head: Head, name: string): string | undefined {
  const values = head.headers.filter(([n]) => n === name).map(([, v]) => v);
  return values.length === 0 ? undefined : values.join(", ");
}

export function hasToken(value: string | undefined, token: string): boolean {
  return (value ?? "").toLowerCase().split(",").some((t) => t.trim() === token);
}

export function wantsKeepAlive(head: Head): boolean {
  const connection = header(head, "connection");
  return head.minor === 1 ? !hasToken(connection, "close") : hasToken(connection, "keep-alive");
}

/** Reads the body a request announces with `Content-Length`. */
export async function readBody(
  connection: Connection,
  head: Head,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  if (header(head, "transfer-encoding") !== undefined) {
    throw new Refusal(411, "request bodies need a Content-Length");
  }
  const lengthText = header(head, "content-length");
  if (lengthText === undefined) return undefined;
  const values = new Set(lengthText.split(",").map((v) => v.trim()));
  const text = [...values][0]!;
  if (values.size !== 1 || !/^\d{1,15}$/.test(text)) {
    throw new Refusal(400, "invalid Content-Length");
  }
  const length = Number(text);
  if (length > MAX_BODY_BYTES) throw new Refusal(413, `request body over ${MAX_BODY_BYTES} bytes`);
  if (length === 0) return undefined;
  if (hasToken(header(head, "expect"), "100-continue") && connection.buffered < length) {
    await writeAll(connection, encoder.encode("HTTP/1.1 100 Continue\r\n\r\n"));
  }
  while (connection.buffered < length) {
    if (!await connection.fill()) throw new Refusal(400, "request body cut short");
  }
  return connection.take(length);
}

export function pathOf(target: string): string {
  if (target.startsWith("/")) {
    const end = target.search(/[?#]/);
    return end < 0 ? target : target.slice(0, end);
  }
  try {
    return new URL(target).pathname;
  } catch {
    return target;
  }
}

export function plain(status: number, text: string): Response {
  return new Response(text, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

/** An answer that closes the connection, encoded once per second (for its `date`). */
export class CannedAnswer {
  #second = -1;
  #bytes = new Uint8Array(0);

  constructor(
    readonly status: number,
    readonly headers: Record<string, string>,
    readonly body: string,
  ) {}

  bytes(): Uint8Array {
    const date = httpDate();
    if (dateCache.second !== this.#second) {
      this.#second = dateCache.second;
      const body = encoder.encode(this.body);
      let head = `HTTP/1.1 ${this.status} ${REASONS[this.status] ?? ""}\r\n`;
      for (const [name, value] of Object.entries(this.headers)) head += `${name}: ${value}\r\n`;
      head += `content-length: ${body.length}\r\ndate: ${date}\r\nconnection: close\r\n\r\n`;
      const headBytes = encoder.encode(head);
      this.#bytes = new Uint8Array(headBytes.length + body.length);
      this.#bytes.set(headBytes);
      this.#bytes.set(body, headBytes.length);
    }
    return this.#bytes;
  }
}

let dateCache = { second: -1, text: "" };

export function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateCache.second) dateCache = { second, text: new Date(now).toUTCString() };
  return dateCache.text;
}

/** Writes the response; a write that makes no progress for `stallMs` closes the connection. */
export async function writeResponse(
  connection: Connection,
  head: Head,
  response: Response,
  keepAlive: boolean,
  stallMs: number,
): Promise<void> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  const noBody = response.status < 200 || response.status === 204 || response.status === 304;
  if (response.body !== null) {
    // Stream chunks are kept as they are: the cached /metrics body is never copied.
    const reader = response.body.getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      chunks.push(read.value);
      length += read.value.length;
    }
  }
  let text = `HTTP/1.1 ${response.status} ${REASONS[response.status] ?? ""}\r\n`;
  for (const [name, value] of response.headers) {
    if (name === "content-length" || name === "connection" || name === "transfer-encoding") {
      continue;
    }
    text += `${name}: ${value}\r\n`;
  }
  text += `date: ${httpDate()}\r\n`;
  // A HEAD answer from Hono has no body: its length is unknown, so none is claimed.
  if (!noBody && !(head.method === "HEAD" && response.body === null)) {
    text += `content-length: ${length}\r\n`;
  }
  if (!keepAlive) text += "connection: close\r\n";
  else if (head.minor === 0) text += "connection: keep-alive\r\n";
  text += "\r\n";
  const headBytes = encoder.encode(text);
  const sendBody = head.method !== "HEAD" && !noBody;
  // Small answers go out in one write; large ones as the head, then each chunk as it is.
  if (sendBody && length <= 16 * 1024) {
    const all = new Uint8Array(headBytes.length + length);
    all.set(headBytes);
    let at = headBytes.length;
    for (const chunk of chunks) {
      all.set(chunk, at);
      at += chunk.length;
    }
    await writeAll(connection, all, stallMs);
  } else {
    await writeAll(connection, headBytes, stallMs);
    if (sendBody) { for (const chunk of chunks) await writeAll(connection, chunk, stallMs); }
  }
}

/** Writes an answer the server makes itself (4xx, 5xx) and ends the connection. */
export async function writeRefusal(
  connection: Connection,
  status: number,
  message: string,
): Promise<void> {
  const body = encoder.encode(`${message}\n`);
  const text = `HTTP/1.1 ${status} ${REASONS[status] ?? ""}\r\ncontent-type: text/plain; ` +
    `charset=utf-8\r\ncontent-length: ${body.length}\r\ndate: ${httpDate()}\r\n` +
    "connection: close\r\n\r\n";
  const all = new Uint8Array([...encoder.encode(text), ...body]);
  try {
    await writeAll(connection, all, 1000);
  } catch {
    // The client is gone: nothing to tell.
  }
}

export async function writeAll(
  connection: Connection,
  bytes: Uint8Array,
  stallMs?: number,
): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    if (stallMs !== undefined) connection.deadline(stallMs, "write");
    written += await connection.conn.write(bytes.subarray(written));
  }
  if (stallMs !== undefined) connection.clear();
}

export function isGone(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted || error instanceof Deno.errors.UnexpectedEof;
}
