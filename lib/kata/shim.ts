/**
 * The client for a Kata shim's monitor socket: one HTTP/1.1 `GET /metrics` over
 * `<root>/<id>/shim-monitor.sock`, the way kata-monitor asks (a fresh connection per
 * request, 3 s for the whole exchange by default).
 *
 * The HTTP client is written by hand on `Deno.connect({ transport: "unix" })` rather than
 * `fetch` through a unix-socket `Deno.createHttpClient` (which works in Deno 2.9): the
 * exchange has to be bounded in time and size from the first byte to the last, and the
 * errors have to name what went wrong (no socket, refused, timed out, too large) in one
 * line, which `fetch`'s generic "error sending request" does not. It understands what a
 * shim may send: `Content-Length`, `Transfer-Encoding: chunked`, a body ended by closing
 * the connection, and `Content-Encoding: gzip`.
 *
 * @module
 */
import { formatBytes } from "../units.ts";
import { errorMessage, UnavailableError } from "../errors.ts";
import { writeAll } from "../io.ts";
import { after } from "../pool.ts";

/** Why a shim request failed, for callers that count or retry by kind. */
export type ShimErrorReason =
  /** No socket at the path (the shim has not started its monitor yet, or is gone). */
  | "missing"
  /** Nobody listens on the socket. */
  | "refused"
  /** The whole exchange took longer than the timeout. */
  | "timeout"
  /** The caller's signal aborted the request. */
  | "aborted"
  /** The shim answered with a status other than 200. */
  | "status"
  /** The body (raw or decoded) is larger than allowed. */
  | "too-large"
  /** The connection closed before a complete answer. */
  | "closed"
  /** The answer is not HTTP/1.x, or its framing or encoding is broken. */
  | "protocol"
  /** Any other I/O error (permission denied, reset...). */
  | "io";

/**
 * A failed shim request. The message is one line naming the sandbox and the reason:
 * `shim-monitor.sock of sandbox "abc": timed out after 3 s`.
 */
export class ShimError extends UnavailableError {
  /** What kind of failure this is. */
  readonly reason: ShimErrorReason;
  /** The HTTP status, when the shim answered one other than 200. */
  readonly status?: number;

  /** Creates a shim error. */
  constructor(
    message: string,
    reason: ShimErrorReason,
    options?: ErrorOptions & { status?: number },
  ) {
    super(message, { ...options, timedOut: reason === "timeout" });
    this.reason = reason;
    if (options?.status !== undefined) this.status = options.status;
  }
}

/** Options of {@linkcode fetchShimMetrics}. */
export interface FetchShimOptions {
  /** Limit for the whole exchange, connect to last byte (kata-monitor: 3000). */
  timeoutMs: number;
  /** Limit for the body, both as received and after gzip decoding. */
  maxBytes: number;
  /** Aborts the request. */
  signal?: AbortSignal;
  /** The sandbox id used in error messages; default: the socket's directory name. */
  sandboxId?: string;
  /** The request path; default `/metrics`. */
  path?: string;
  /**
   * Asks the shim to gzip the answer (`Accept-Encoding: gzip`). Off by default: over a local
   * socket compression only costs CPU on both ends. A gzipped answer is decoded either way.
   */
  acceptGzip?: boolean;
}

/** Limit of the status line and headers together. */
const MAX_HEAD_BYTES = 64 * 1024;
/** Bytes of a non-200 answer's body quoted in the error. */
const MAX_ERROR_BODY = 200;
/**
 * One read's buffer, one per scrape: a typical shim's answer (13.5 KB) fits, and at 64 KiB
 * the buffers of a 200-sandbox cycle took about 20 MB more RSS (bench/README.md, "Where the
 * time and the memory go", 5).
 */
const READ_CHUNK = 16 * 1024;

/** Bytes backed by a plain ArrayBuffer, as the web streams want them. */
type Bytes = Uint8Array<ArrayBuffer>;

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Fetches `GET /metrics` from a shim's monitor socket and returns the body as text.
 *
 * The timeout covers the whole exchange: a shim that accepts and never answers, or trickles
 * its answer, fails after `timeoutMs`. A body over `maxBytes` is cut there (memory stays
 * bounded by the limit) and fails. The Prometheus text formats are UTF-8, so a body that is
 * not fails too, rather than reaching the aggregate with its bytes replaced by U+FFFD.
 *
 * @throws {ShimError} with a one-line message and a {@linkcode ShimErrorReason}.
 *
 * @example Usage
 * ```ts
 * const text = await fetchShimMetrics("/run/vc/sbs/0123abcd/shim-monitor.sock", {
 *   timeoutMs: 3000,
 *   maxBytes: 16 * 1024 * 1024,
 * });
 * ```
 */
export async function fetchShimMetrics(
  socketPath: string,
  options: FetchShimOptions,
): Promise<string> {
  const bytes = await fetchShimBytes(socketPath, options);
  try {
    return utf8.decode(bytes);
  } catch (error) {
    const id = options.sandboxId ?? sandboxIdOf(socketPath);
    throw new ShimError(
      `shim-monitor.sock of sandbox ${JSON.stringify(id)}: sent a body that is not UTF-8 text`,
      "protocol",
      { cause: error },
    );
  }
}

/**
 * Fetches `GET /metrics` from a shim's monitor socket like {@linkcode fetchShimMetrics}, and
 * returns the body's bytes as the shim sent them (a gzipped body decoded), whatever they are:
 * what `/metrics?sandbox=ID` passes on.
 *
 * @throws {ShimError} with a one-line message and a {@linkcode ShimErrorReason}.
 *
 * @example Usage
 * ```ts
 * const bytes = await fetchShimBytes("/run/vc/sbs/0123abcd/shim-monitor.sock", {
 *   timeoutMs: 3000,
 *   maxBytes: 16 * 1024 * 1024,
 * });
 * ```
 */
export async function fetchShimBytes(
  socketPath: string,
  options: FetchShimOptions,
): Promise<Bytes> {
  const id = options.sandboxId ?? sandboxIdOf(socketPath);
  const fail = (
    reason: ShimErrorReason,
    what: string,
    extra?: ErrorOptions & { status?: number },
  ) => new ShimError(`shim-monitor.sock of sandbox ${JSON.stringify(id)}: ${what}`, reason, extra);

  if (options.signal?.aborted) throw fail("aborted", "request aborted");
  // Why the exchange was cut short, set before the connection is closed under a pending read.
  let cut: ShimError | undefined;
  let conn: Deno.UnixConn | undefined;
  let stopConnect: (() => void) | undefined;
  const stop = (error: ShimError) => {
    if (cut) return;
    cut = error;
    stopConnect?.();
    try {
      conn?.close();
    } catch {
      // Already closed.
    }
  };
  const cancelTimeout = after(
    options.timeoutMs,
    () => stop(fail("timeout", `timed out after ${formatMs(options.timeoutMs)}`)),
  );
  const onAbort = () => stop(fail("aborted", "request aborted"));
  options.signal?.addEventListener("abort", onAbort, { once: true });

  try {
    conn = await new Promise<Deno.UnixConn>((resolve, reject) => {
      stopConnect = () => reject(cut);
      Deno.connect({ transport: "unix", path: socketPath }).then((c) => {
        if (cut) {
          c.close();
          reject(cut);
        } else resolve(c);
      }, reject);
    });
    stopConnect = undefined;
    const request = `GET ${options.path ?? "/metrics"} HTTP/1.1\r\n` +
      "Host: shim\r\n" +
      "User-Agent: agent-kata-monitor\r\n" +
      "Accept: text/plain;version=0.0.4\r\n" +
      (options.acceptGzip ? "Accept-Encoding: gzip\r\n" : "Accept-Encoding: identity\r\n") +
      "Connection: close\r\n\r\n";
    await writeAll(conn, encoder.encode(request));
    const reader = new ConnReader(conn);
    const head = await readHead(reader, fail);
    const body = bodyReader(reader, head, options.maxBytes, fail);
    if (head.status !== 200) {
      const text = new TextDecoder().decode(
        await readBytes(decode(body, head, fail), MAX_ERROR_BODY, true, fail),
      );
      // The shim's words, kept to one printable line: they end up in logs and HTTP answers.
      const detail = text.trim().split("\n", 1)[0]!.slice(0, MAX_ERROR_BODY)
        .replace(/[^\x20-\x7e]/g, "?");
      throw fail("status", `answered ${head.status}${detail ? `: ${detail}` : ""}`, {
        status: head.status,
      });
    }
    return await readBytes(decode(body, head, fail), options.maxBytes, false, fail);
  } catch (error) {
    if (cut) throw cut;
    if (error instanceof ShimError) throw error;
    throw classify(error, fail);
  } finally {
    cancelTimeout();
    options.signal?.removeEventListener("abort", onAbort);
    try {
      conn?.close();
    } catch {
      // Closed by a timeout or abort.
    }
  }
}

type Fail = (
  reason: ShimErrorReason,
  what: string,
  extra?: ErrorOptions & { status?: number },
) => ShimError;

function classify(error: unknown, fail: Fail): ShimError {
  const message = errorMessage(error);
  if (error instanceof Deno.errors.NotFound) return fail("missing", "no socket", { cause: error });
  if (error instanceof Deno.errors.ConnectionRefused) {
    return fail("refused", "connection refused", { cause: error });
  }
  if (error instanceof TypeError && message.includes("SUN_LEN")) {
    return fail("io", "socket path too long for a unix socket (limit 107 bytes)", { cause: error });
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return fail("io", "permission denied", { cause: error });
  }
  if (
    error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.UnexpectedEof
  ) {
    return fail("closed", "closed the connection before a complete answer", { cause: error });
  }
  return fail("io", message.split("\n", 1)[0]!, { cause: error });
}

/** A buffered reader over a connection. */
class ConnReader {
  #buffer: Bytes = new Uint8Array(0);
  #eof = false;
  /** Read into, reused: allocating per read is what made memory grow, not the bodies. */
  readonly #chunk = new Uint8Array(READ_CHUNK);

  constructor(readonly conn: Deno.Conn) {}

  /** Bytes buffered and not consumed yet. */
  get buffered(): Bytes {
    return this.#buffer;
  }

  get eof(): boolean {
    return this.#eof;
  }

  /** Reads more bytes into the buffer; false at end of stream. */
  async fill(): Promise<boolean> {
    if (this.#eof) return false;
    const n = await this.conn.read(this.#chunk);
    if (n === null) {
      this.#eof = true;
      return false;
    }
    if (this.#buffer.length === 0) {
      this.#buffer = this.#chunk.slice(0, n);
    } else {
      const next = new Uint8Array(this.#buffer.length + n);
      next.set(this.#buffer);
      next.set(this.#chunk.subarray(0, n), this.#buffer.length);
      this.#buffer = next;
    }
    return true;
  }

  /** Removes and returns up to `n` buffered bytes. */
  take(n: number): Bytes {
    const taken = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(taken.length);
    return taken;
  }

  /** Reads a CRLF- (or LF-) terminated line of at most `max` bytes; null at end of stream. */
  async line(max: number): Promise<string | null> {
    for (let searched = 0;;) {
      const at = this.#buffer.indexOf(0x0a, searched);
      if (at >= 0) {
        const line = latin1.decode(this.take(at + 1).subarray(0, at));
        return line.endsWith("\r") ? line.slice(0, -1) : line;
      }
      searched = this.#buffer.length;
      if (searched > max) throw new RangeError("line too long");
      if (!await this.fill()) return null;
    }
  }
}

/** A body read piece by piece: `next` gives null at the end. */
interface Body {
  next(): Promise<Bytes | null>;
  /** Releases what reading holds (the decompressor); the connection is closed apart. */
  cancel(): void;
}

interface Head {
  status: number;
  headers: Map<string, string>;
}

async function readHead(reader: ConnReader, fail: Fail): Promise<Head> {
  let budget = MAX_HEAD_BYTES;
  const nextLine = async () => {
    let line: string | null;
    try {
      line = await reader.line(budget);
    } catch (error) {
      if (error instanceof RangeError) {
        throw fail("protocol", `sent headers over ${formatBytes(MAX_HEAD_BYTES)}`);
      }
      throw error;
    }
    if (line === null) return null;
    budget -= line.length + 2;
    if (budget < 0) throw fail("protocol", `sent headers over ${formatBytes(MAX_HEAD_BYTES)}`);
    return line;
  };
  for (;;) {
    const statusLine = await nextLine();
    if (statusLine === null) {
      throw fail(
        "closed",
        reader.buffered.length === 0
          ? "closed the connection without answering"
          : "closed the connection in the middle of the headers",
      );
    }
    const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
    if (!match) {
      throw fail("protocol", `sent something that is not HTTP: ${quoteStart(statusLine)}`);
    }
    const status = Number(match[1]);
    const headers = new Map<string, string>();
    for (;;) {
      const line = await nextLine();
      if (line === null) throw fail("closed", "closed the connection in the middle of the headers");
      if (line === "") break;
      const colon = line.indexOf(":");
      if (colon <= 0) throw fail("protocol", `sent a malformed header: ${quoteStart(line)}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      const known = headers.get(name);
      headers.set(name, known === undefined ? value : `${known}, ${value}`);
    }
    // 1xx answers (100 Continue, 103 Early Hints) precede the real one.
    if (status >= 100 && status < 200) continue;
    return { status, headers };
  }
}

/** The raw body, framed by chunked encoding, Content-Length or the close. */
function bodyReader(
  reader: ConnReader,
  head: Head,
  maxBytes: number,
  fail: Fail,
): Body {
  const tooLarge = () => fail("too-large", `response over ${formatBytes(maxBytes)}`);
  let received = 0;
  const count = (bytes: Bytes) => {
    received += bytes.length;
    if (received > maxBytes) throw tooLarge();
    return bytes;
  };
  const noBody = head.status === 204 || head.status === 304;
  const transfer = (head.headers.get("transfer-encoding") ?? "").toLowerCase();
  const lengthText = head.headers.get("content-length");

  let next: () => Promise<Bytes | null>;
  if (noBody) {
    next = () => Promise.resolve(null);
  } else if (transfer !== "" && transfer !== "identity") {
    const codings = transfer.split(",").map((c) => c.trim());
    if (codings.at(-1) !== "chunked" || codings.length > 1) {
      throw fail("protocol", `sent an unsupported transfer encoding ${JSON.stringify(transfer)}`);
    }
    next = chunkedReader(reader, fail);
  } else if (lengthText !== undefined) {
    // Repeated identical Content-Length headers are allowed (RFC 9110 §8.6).
    const values = new Set(lengthText.split(",").map((v) => v.trim()));
    const length = values.size === 1 && /^\d{1,15}$/.test([...values][0]!)
      ? Number([...values][0])
      : NaN;
    if (!Number.isFinite(length)) {
      throw fail("protocol", `sent an invalid Content-Length ${JSON.stringify(lengthText)}`);
    }
    if (length > maxBytes) throw tooLarge();
    let left = length;
    next = async () => {
      if (left === 0) return null;
      if (reader.buffered.length === 0 && !await reader.fill()) {
        throw fail("closed", `closed the connection ${left} bytes before the end of the body`);
      }
      const bytes = reader.take(left);
      left -= bytes.length;
      return bytes;
    };
  } else {
    next = async () => {
      if (reader.buffered.length === 0 && !await reader.fill()) return null;
      return reader.take(reader.buffered.length);
    };
  }

  return {
    async next() {
      const bytes = await next();
      return bytes === null ? null : count(bytes);
    },
    cancel() {},
  };
}

/** Returns a function giving the next piece of a chunked body, null after the last chunk. */
function chunkedReader(reader: ConnReader, fail: Fail): () => Promise<Bytes | null> {
  let left = 0;
  let done = false;
  const closed = () => fail("closed", "closed the connection in the middle of a chunked body");
  const line = async () => {
    try {
      const text = await reader.line(4096);
      if (text === null) throw closed();
      return text;
    } catch (error) {
      if (error instanceof RangeError) throw fail("protocol", "sent a malformed chunked body");
      throw error;
    }
  };
  return async () => {
    if (done) return null;
    if (left === 0) {
      const size = (await line()).split(";", 1)[0]!.trim();
      if (!/^[0-9a-fA-F]{1,12}$/.test(size)) {
        throw fail("protocol", `sent a malformed chunk size ${quoteStart(size)}`);
      }
      left = parseInt(size, 16);
      if (left === 0) {
        // Trailers, then the empty line.
        while ((await line()) !== "");
        done = true;
        return null;
      }
    }
    if (reader.buffered.length === 0 && !await reader.fill()) throw closed();
    const bytes = reader.take(left);
    left -= bytes.length;
    if (left === 0) {
      if ((await line()) !== "") throw fail("protocol", "sent a malformed chunked body");
    }
    return bytes;
  };
}

/** Undoes the Content-Encoding. */
function decode(body: Body, head: Head, fail: Fail): Body {
  const coding = (head.headers.get("content-encoding") ?? "").trim().toLowerCase();
  if (coding === "" || coding === "identity") return body;
  if (coding !== "gzip" && coding !== "x-gzip" && coding !== "deflate") {
    throw fail("protocol", `sent an unsupported content encoding ${JSON.stringify(coding)}`);
  }
  const raw = new ReadableStream<Bytes>({
    async pull(controller) {
      const bytes = await body.next();
      if (bytes === null) controller.close();
      else controller.enqueue(bytes);
    },
  }, { highWaterMark: 0 });
  const reader = raw.pipeThrough(new DecompressionStream(coding === "deflate" ? "deflate" : "gzip"))
    .getReader();
  return {
    async next() {
      try {
        const { done, value } = await reader.read();
        return done ? null : value;
      } catch (error) {
        if (error instanceof ShimError) throw error;
        if (error instanceof TypeError) {
          // DecompressionStream reports a corrupt or truncated stream as a TypeError.
          throw fail("protocol", `sent a corrupt compressed body (${error.message})`, {
            cause: error,
          });
        }
        throw error;
      }
    },
    cancel() {
      reader.cancel().catch(() => {});
    },
  };
}

/**
 * Reads a body whole, at most `max` bytes: beyond that, fails with "too-large", or with
 * `truncate`, stops and returns what it has.
 */
async function readBytes(body: Body, max: number, truncate: boolean, fail: Fail): Promise<Bytes> {
  const pieces: Bytes[] = [];
  let total = 0;
  try {
    for (let piece = await body.next(); piece !== null; piece = await body.next()) {
      if (total + piece.length > max) {
        if (!truncate) throw fail("too-large", `response over ${formatBytes(max)}`);
        pieces.push(piece.subarray(0, max - total));
        total = max;
        break;
      }
      pieces.push(piece);
      total += piece.length;
    }
  } finally {
    body.cancel();
  }
  // One buffer, decoded once by the caller: a one-byte string for ASCII text.
  const all = pieces.length === 1 ? pieces[0]! : new Uint8Array(total);
  if (pieces.length > 1) {
    let at = 0;
    for (const piece of pieces) {
      all.set(piece, at);
      at += piece.length;
    }
  }
  return all;
}

function quoteStart(text: string): string {
  const printable = text.replace(/[^\x20-\x7e]/g, "?");
  return JSON.stringify(printable.length > 40 ? `${printable.slice(0, 40)}\u2026` : printable);
}

/** Renders a duration for messages: `3 s`, `1.5 s`, `250 ms`. */
function formatMs(ms: number): string {
  return ms >= 1000 ? `${Number((ms / 1000).toFixed(2))} s` : `${ms} ms`;
}

/** The sandbox id in `<root>/<id>/shim-monitor.sock` (no `node:path`: the scrape worker loads none). */
function sandboxIdOf(socketPath: string): string {
  return socketPath.split("/").at(-2) ?? "";
}
