/**
 * For `serve_http_test.ts`: serves `ok` on a free port of 127.0.0.1 with no connection limit
 * of its own (so that descriptors run out first), logging JSON lines to stdout, the first
 * `{"msg":"listening","port":N}`; stops when stdin closes.
 *
 * @module
 */
import { createLogger } from "../../lib/log.ts";
import { serveHttp } from "../serve_http.ts";

const encoder = new TextEncoder();
const write = (line: string) => Deno.stdout.writeSync(encoder.encode(line + "\n"));
const log = createLogger({ level: "debug", format: "json", write });
const controller = new AbortController();
const server = serveHttp({
  hostname: "127.0.0.1",
  port: 0,
  signal: controller.signal,
  log,
  onListen: ({ port }) => log.info("listening", { port }),
  maxConnections: 100_000,
  maxRequests: 100_000,
  headerTimeoutMs: 60_000,
  idleTimeoutMs: 60_000,
}, () => new Response("ok\n"));
for await (const _ of Deno.stdin.readable);
controller.abort();
await server.finished;
