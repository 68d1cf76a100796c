/**
 * The daemon's HTTP/1.1 server: a fetch-style handler (the Hono app) served on a TCP
 * listener this module accepts on itself, so that the process keeps answering under abuse.
 *
 * Why not `Deno.serve`, nor `node:http`: measured on Deno 2.9.6 (`bench/README.md`, "HTTP
 * server"), `Deno.serve` has no header or idle timeout and no connection limit (half-sent
 * requests and silent connections stay open), and when `accept` fails with EMFILE its listener
 * dies for good, with the process alive and nothing logged. `node:http`'s `createServer` in
 * Deno honours `maxConnections` but ignores `headersTimeout` and `requestTimeout`, and its
 * listener dies the same way on EMFILE. Neither takes a listener from the caller. So:
 *
 * - the accept loop never ends on an error: out of descriptors (EMFILE, ENFILE) it closes the
 *   connections that wait for a request, backs off (10 ms doubling to 1 s) and accepts again;
 * - at most `maxConnections` are open: a new one beyond that replaces the oldest connection
 *   that has waited over a second (or half the header timeout) for a request, a slow or
 *   silent client, or is closed when none has, so that a probe is answered even while slow
 *   clients hold every slot, and a burst is shed at the cost of a close;
 * - a request's head must arrive within `headerTimeoutMs` (from the connection's start for
 *   the first request, from the first byte for the next ones), a kept-alive connection may
 *   wait `idleTimeoutMs` for its next request, and a response write that makes no progress
 *   for `idleTimeoutMs` ends the connection;
 * - at most `maxRequests` requests are answered at once, counting until the response is
 *   written; more get 503 with `Retry-After`, and their connection is closed (paths passing
 *   `exempt` always run);
 * - shedding is logged once per episode ("shedding load", then "load shedding over" with
 *   counts) and counted through `observer`.
 *
 * The cost, measured with wrk against `Deno.serve` (same section): `/metrics` at 200
 * sandboxes is as fast or faster (306 vs 217 req/s with one connection, 456 vs 295 with 8),
 * as a body given as a stream goes to the socket chunk by chunk, never copied; tiny answers
 * cost more (`/healthz`, 8 connections: 25,000 vs 69,000-79,000 req/s), far beyond need.
 *
 * It speaks what the daemon's clients use: HTTP/1.0 and 1.1, keep-alive, pipelined requests
 * answered in order, `Content-Length` request bodies up to 64 KiB (`Transfer-Encoding` is
 * refused with 411: no route takes a body), and answers with `Content-Length` (the body is
 * gathered first: every route's answer is in memory already).
 *
 * @module
 */
import type { Logger } from "../lib/log.ts";
import {
  CannedAnswer,
  Connection,
  type Head,
  header,
  pathOf,
  plain,
  readBody,
  readHead,
  Refusal,
  type TimeoutPhase,
  wantsKeepAlive,
  writeAll,
  writeRefusal,
  writeResponse,
} from "./_http1.ts";

export type { TimeoutPhase };
import { errorMessage } from "../lib/errors.ts";

/** Why connections or requests were refused. */
export type ShedReason =
  /** A connection beyond `maxConnections` (closed, or one waiting for a request closed). */
  | "max_connections"
  /** `accept` failed for want of descriptors (or a connection was closed to free one). */
  | "descriptors"
  /** A request beyond `maxRequests`, answered 503. */
  | "max_requests";

/** What the server tells its metrics. */
export interface ServeObserver {
  shed?(reason: ShedReason): void;
  timedOut?(phase: TimeoutPhase): void;
}

/** Options of {@linkcode serveHttp}. */
export interface ServeHttpOptions {
  hostname: string;
  port: number;
  /** Stops accepting, closes idle connections, lets answers in progress finish. */
  signal: AbortSignal;
  log: Logger;
  /** Told the address once listening. */
  onListen?(address: { hostname: string; port: number }): void;
  /** Connections open at once, at most. */
  maxConnections: number;
  /** Requests answered at once, at most (see `exempt`). */
  maxRequests: number;
  /** Requests that run whatever `maxRequests` says (the health probes). */
  exempt?(path: string): boolean;
  /** Limit for a request's head (and body) to arrive. */
  headerTimeoutMs: number;
  /** Limit for waiting for the next request, and for a stalled response write. */
  idleTimeoutMs: number;
  observer?: ServeObserver;
  /** Seconds in `Retry-After` of a 503; default 1. */
  retryAfterS?: number;
}

/** A running server. */
export interface HttpServer {
  /** Where it listens. */
  addr: { hostname: string; port: number };
  /** Settles once stopped: the listener closed and every connection ended. */
  finished: Promise<void>;
  /** Connections open now. */
  readonly connections: number;
  /** Requests being answered now. */
  readonly requests: number;
}

/** A request handler: the Hono app's `fetch`. */
export type Handler = (request: Request) => Response | Promise<Response>;

/** How long without a shed ends an episode of shedding (for the log). */
const EPISODE_QUIET_MS = 10_000;

/**
 * Serves `handler` on `hostname:port` until `options.signal` aborts.
 *
 * @throws {Deno.errors.AddrInUse} and the like, synchronously, when it cannot listen.
 *
 * @example Usage
 * ```ts
 * const server = serveHttp({
 *   hostname: "127.0.0.1", port: 8090, signal, log,
 *   maxConnections: 256, maxRequests: 64, headerTimeoutMs: 10_000, idleTimeoutMs: 60_000,
 * }, app.fetch);
 * await server.finished;
 * ```
 */
export function serveHttp(options: ServeHttpOptions, handler: Handler): HttpServer {
  const { log, signal, observer } = options;
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const addr = listener.addr as Deno.NetAddr;
  const connections = new Set<Connection>();
  const handlers = new Set<Promise<void>>();
  let requests = 0;
  let stopping = false;
  const shedding = new Shedding(log, () => ({ connections: connections.size, requests }));
  const overloaded = new CannedAnswer(
    503,
    { "content-type": "text/plain; charset=utf-8", "retry-after": `${options.retryAfterS ?? 1}` },
    "overloaded: too many requests in flight, retry later\n",
  );

  const shed = (reason: ShedReason) => {
    observer?.shed?.(reason);
    shedding.add(reason, options);
  };
  /**
   * Closes the oldest connection that has waited at least `minWaitMs` for a request; false
   * when there is none. In a burst every connection is fresh and none is closed: the new
   * one is, which costs nothing; slow or silent clients holding slots are old and make room.
   */
  const closeWaiting = (minWaitMs: number): boolean => {
    const before = performance.now() - minWaitMs;
    // A Set iterates in insertion order: oldest connections first.
    for (const connection of connections) {
      if (connection.waiting && !connection.closed && connection.waitingSince <= before) {
        connection.close();
        return true;
      }
    }
    return false;
  };
  const evictAfterMs = Math.min(1000, options.headerTimeoutMs / 2);

  const stop = () => {
    stopping = true;
    try {
      listener.close();
    } catch {
      // Closed already.
    }
    for (const connection of connections) if (connection.waiting) connection.close();
  };
  if (signal.aborted) stop();
  else signal.addEventListener("abort", stop, { once: true });
  // One sweep over the connections instead of a timer per wait: requests come faster than
  // timers are cheap. A wait ends up to a tenth of the shorter timeout (at most 1 s) late.
  const sweepMs = Math.min(
    1000,
    Math.max(5, Math.min(options.headerTimeoutMs, options.idleTimeoutMs) / 10),
  );
  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const connection of connections) connection.sweep(now);
  }, sweepMs);

  const accepting = (async () => {
    let backoff = 0;
    while (!stopping) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (stopping) break;
        const code = (error as { code?: string }).code;
        if (code === "EMFILE" || code === "ENFILE" || code === "ENOBUFS" || code === "ENOMEM") {
          shed("descriptors");
          // Those waiting for a request hold descriptors for nothing: free them for new ones.
          while (closeWaiting(0)) shed("descriptors");
        } else if (!(error instanceof Deno.errors.ConnectionAborted)) {
          log.warn("cannot accept a connection", { error: oneLine(error) });
        }
        backoff = Math.min(1000, Math.max(10, backoff * 2));
        await pause(backoff, signal);
        continue;
      }
      backoff = 0;
      if (connections.size >= options.maxConnections && !closeWaiting(evictAfterMs)) {
        shed("max_connections");
        try {
          conn.close();
        } catch {
          // Gone already.
        }
        continue;
      }
      if (connections.size >= options.maxConnections) shed("max_connections");
      const connection = new Connection(conn);
      connections.add(connection);
      const handling = serveConnection(connection).finally(() => {
        if (connection.timedOut) observer?.timedOut?.(connection.timedOut);
        connection.close();
        connections.delete(connection);
        handlers.delete(handling);
      });
      handlers.add(handling);
    }
  })();

  async function serveConnection(connection: Connection): Promise<void> {
    try {
      connection.conn.setNoDelay(true);
    } catch {
      // Closed before it started.
      return;
    }
    // The first request's head must come within the header timeout of the connection.
    connection.deadline(options.headerTimeoutMs, "header");
    for (let first = true;; first = false) {
      connection.waiting = true;
      if (!first) {
        connection.waitingSince = performance.now();
        if (stopping) return;
        connection.compact();
        connection.deadline(options.idleTimeoutMs, "idle");
      }
      let head: Head | null;
      let body: Uint8Array<ArrayBuffer> | undefined;
      try {
        head = await readHead(connection, first, options.headerTimeoutMs);
        if (head === null) return;
        body = await readBody(connection, head);
      } catch (error) {
        if (error instanceof Refusal && !connection.closed) {
          await writeRefusal(connection, error.status, error.message);
        }
        return;
      }
      connection.waiting = false;
      connection.clear();
      let keepAlive = false;
      const exempt = options.exempt?.(pathOf(head.target)) ?? false;
      if (!exempt && requests >= options.maxRequests) {
        // Refused with ready-made bytes and the connection closed: shedding must cost less
        // than serving, or the load it sheds grows the heap all the same.
        shed("max_requests");
        await writeAll(connection, overloaded.bytes(), options.idleTimeoutMs).catch(() => {});
        return;
      }
      requests++;
      try {
        const response = await answer(handler, head, body, addr, log);
        // Decided once answered: a stop meanwhile makes this the connection's last answer.
        keepAlive = !stopping && wantsKeepAlive(head);
        await writeResponse(connection, head, response, keepAlive, options.idleTimeoutMs);
      } catch {
        return;
      } finally {
        requests--;
      }
      if (!keepAlive) return;
    }
  }

  const finished = (async () => {
    await accepting;
    while (handlers.size > 0) await Promise.allSettled([...handlers]);
    clearInterval(sweeper);
    signal.removeEventListener("abort", stop);
    shedding.end();
  })();

  options.onListen?.({ hostname: addr.hostname, port: addr.port });
  return {
    addr: { hostname: addr.hostname, port: addr.port },
    finished,
    get connections() {
      return connections.size;
    },
    get requests() {
      return requests;
    },
  };
}

/** Logs the start and the end of each episode of shedding, never each refusal. */
class Shedding {
  #episode: { since: number; counts: Partial<Record<ShedReason, number>> } | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly log: Logger,
    readonly load: () => { connections: number; requests: number },
  ) {}

  add(reason: ShedReason, limits: { maxConnections: number; maxRequests: number }): void {
    if (this.#episode === undefined) {
      this.#episode = { since: Date.now(), counts: {} };
      this.log.warn("shedding load", {
        reason,
        ...this.load(),
        maxConnections: limits.maxConnections,
        maxRequests: limits.maxRequests,
      });
    }
    this.#episode.counts[reason] = (this.#episode.counts[reason] ?? 0) + 1;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.end(), EPISODE_QUIET_MS);
  }

  end(): void {
    clearTimeout(this.#timer);
    const episode = this.#episode;
    if (episode === undefined) return;
    this.#episode = undefined;
    this.log.info("load shedding over", {
      seconds: Math.round((Date.now() - episode.since) / 1000),
      ...Object.fromEntries(Object.entries(episode.counts).map(([k, v]) => [`shed_${k}`, v])),
      ...this.load(),
    });
  }
}

/** Runs the handler; what it throws becomes a 500 (the app's own `onError` comes first). */
async function answer(
  handler: Handler,
  head: Head,
  body: Uint8Array<ArrayBuffer> | undefined,
  addr: Deno.NetAddr,
  log: Logger,
): Promise<Response> {
  let request: Request;
  try {
    const host = header(head, "host") || `${addr.hostname}:${addr.port}`;
    const url = head.target.startsWith("/") ? `http://${host}${head.target}` : head.target;
    const withBody = body !== undefined && head.method !== "GET" && head.method !== "HEAD";
    request = new Request(url, {
      method: head.method,
      headers: head.headers,
      ...(withBody ? { body } : {}),
    });
  } catch (error) {
    return plain(400, `bad request: ${oneLine(error)}\n`);
  }
  try {
    return await handler(request);
  } catch (error) {
    log.error("request failed", { path: pathOf(head.target), error: oneLine(error) });
    return plain(500, "internal error\n");
  }
}

function oneLine(error: unknown): string {
  return (errorMessage(error)).split("\n", 1)[0]!;
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * The process's soft limit of open files (`ulimit -n`), asked of a shell, which inherits it:
 * Deno lets only `--allow-all` read `/proc/self/limits`. `undefined` when unlimited or when
 * it cannot be known (no shell): the accept loop's recovery from EMFILE is then what holds.
 *
 * @example Usage
 * ```ts
 * const limit = await openFilesLimit(); // 1048576 in a containerd pod, often 1024 in a shell
 * ```
 */
export async function openFilesLimit(
  command: readonly string[] = ["sh", "-c", "ulimit -n"],
): Promise<number | undefined> {
  try {
    const [program, ...args] = command;
    const out = await new Deno.Command(program!, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    return out.success && /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}
