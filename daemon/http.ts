/**
 * The daemon's HTTP server set up from the configuration: the listen address, the limits
 * and timeouts of `server.*`, the bearer token, and the `agent_http_*` counters.
 *
 * @module
 */
import { type Config, formatListenAddress } from "../lib/config/mod.ts";
import { errorMessage, UnavailableError } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import type { AgentMetrics } from "../lib/metrics/mod.ts";
import { type HttpServer, openFilesLimit, serveHttp } from "./serve_http.ts";

export type { HttpServer };

/** Where and how the server tells what it does. */
export interface ListenOptions {
  log: Logger;
  /** Stops the server when aborted. */
  signal: AbortSignal;
  /** Told the address once the server listens. */
  onListen?(address: { hostname: string; port: number }): void;
}

/**
 * Starts the HTTP server on `server.listenAddress`, counting what it sheds.
 *
 * @throws {UnavailableError} when the address cannot be listened on.
 */
export async function listen(
  config: Config,
  options: ListenOptions,
  metrics: AgentMetrics,
  app: { fetch(request: Request): Response | Promise<Response> },
): Promise<HttpServer> {
  const { log, signal } = options;
  const address = config.server.listenAddress;
  try {
    return serveHttp(
      {
        ...address,
        signal,
        log,
        onListen: (addr) => {
          log.info("listening", { address: `${addr.hostname}:${addr.port}` });
          options.onListen?.(addr);
        },
        maxConnections: await connectionLimit(config.server.maxConnections, log),
        maxRequests: config.server.maxRequests,
        exempt: (path) => path === "/healthz" || path === "/readyz",
        headerTimeoutMs: config.server.headerTimeout,
        idleTimeoutMs: config.server.idleTimeout,
        observer: {
          shed: (reason) =>
            reason === "max_requests"
              ? metrics.httpRequestsShed.inc()
              : metrics.httpConnectionsShed.inc({ reason }),
          timedOut: (phase) => metrics.httpTimeouts.inc({ phase }),
        },
      },
      app.fetch,
    );
  } catch (error) {
    throw new UnavailableError(
      `Cannot listen on ${formatListenAddress(address)}: ${errorMessage(error)}`,
      { cause: error },
    );
  }
}

/**
 * `server.maxConnections`, lowered to half the descriptor limit when that is less: every
 * connection holds a descriptor, and the other half is left for the shims' sockets, the
 * state database, the CRI client and the files the collector reads.
 */
async function connectionLimit(configured: number, log: Logger): Promise<number> {
  const files = await openFilesLimit();
  if (files === undefined || configured <= Math.floor(files / 2)) return configured;
  const lowered = Math.max(1, Math.floor(files / 2));
  log.warn("server.maxConnections lowered to half the open files limit", {
    maxConnections: configured,
    openFilesLimit: files,
    lowered,
  });
  return lowered;
}
