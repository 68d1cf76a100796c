import { assert, assertEquals, assertMatch } from "../tests/support/assert.ts";
import { waitFor } from "../tests/support/net.ts";
import { createLogger } from "../lib/log.ts";
import {
  type Handler,
  type HttpServer,
  openFilesLimit,
  serveHttp,
  type ServeHttpOptions,
  type ShedReason,
  type TimeoutPhase,
} from "./serve_http.ts";

interface Harness {
  server: HttpServer;
  port: number;
  logs: Record<string, unknown>[];
  shed: ShedReason[];
  timeouts: TimeoutPhase[];
  stop(): Promise<void>;
}

/** A server on 127.0.0.1 with short timeouts, stopped (and its sockets closed) afterwards. */
async function withServer(
  options: Partial<ServeHttpOptions>,
  handler: Handler,
  fn: (h: Harness) => Promise<void>,
): Promise<void> {
  const logs: Record<string, unknown>[] = [];
  const shed: ShedReason[] = [];
  const timeouts: TimeoutPhase[] = [];
  const controller = new AbortController();
  const server = serveHttp({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    log: createLogger({
      level: "debug",
      format: "json",
      write: (line) => logs.push(JSON.parse(line)),
    }),
    maxConnections: 100,
    maxRequests: 100,
    headerTimeoutMs: 5000,
    idleTimeoutMs: 5000,
    observer: { shed: (r) => shed.push(r), timedOut: (p) => timeouts.push(p) },
    ...options,
  }, handler);
  const stop = async () => {
    controller.abort();
    await server.finished;
  };
  try {
    await fn({ server, port: server.addr.port, logs, shed, timeouts, stop });
  } finally {
    await stop();
    for (const conn of open) {
      try {
        conn.close();
      } catch {
        // Closed by the test.
      }
    }
    open.clear();
  }
}

const open = new Set<Deno.TcpConn>();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function connect(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  open.add(conn);
  return conn;
}

async function send(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/** Reads bytes until `done(text)` holds or the connection ends. */
async function readUntil(conn: Deno.Conn, done: (text: string) => boolean): Promise<string> {
  const buffer = new Uint8Array(65536);
  let text = "";
  while (!done(text)) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) break;
    text += decoder.decode(buffer.subarray(0, n));
  }
  return text;
}

/** Splits the responses in `text` (each framed by Content-Length). */
function responses(text: string): { status: number; headers: Map<string, string>; body: string }[] {
  const out = [];
  while (text.length > 0) {
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) break;
    const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
    const headers = new Map(lines.map((l) => {
      const colon = l.indexOf(":");
      return [l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim()] as [string, string];
    }));
    const length = Number(headers.get("content-length") ?? "0");
    out.push({
      status: Number(statusLine!.split(" ")[1]),
      headers,
      body: text.slice(end + 4, end + 4 + length),
    });
    text = text.slice(end + 4 + length);
  }
  return out;
}

/** Reads `count` whole responses (or what comes before the connection ends). */
async function readResponses(conn: Deno.Conn, count: number) {
  const text = await readUntil(conn, (t) => {
    const all = responses(t);
    return all.length >= count && t.endsWith(all.at(-1)!.body);
  });
  return responses(text);
}

/** Resolves true once the server has closed `conn` (a read ends or fails). */
async function closedByServer(conn: Deno.Conn): Promise<boolean> {
  const buffer = new Uint8Array(1024);
  for (;;) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) return true;
  }
}

const echo: Handler = (request) => {
  const url = new URL(request.url);
  return new Response(`${request.method} ${url.pathname}${url.search}\n`, {
    headers: { "x-host": url.host },
  });
};

Deno.test("serveHttp() answers, keeps connections alive and answers pipelined requests in order", async () => {
  await withServer({}, echo, async ({ port }) => {
    const response = await fetch(`http://127.0.0.1:${port}/a?b=1`);
    assertEquals([response.status, await response.text()], [200, "GET /a?b=1\n"]);
    assertEquals(response.headers.get("x-host"), `127.0.0.1:${port}`);
    assertMatch(response.headers.get("date") ?? "", /GMT$/);

    const conn = await connect(port);
    await send(
      conn,
      "GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n" +
        "GET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    const all = await readResponses(conn, 3);
    assertEquals(all.map((r) => r.body), ["GET /one\n", "GET /two\n", "GET /three\n"]);
    assertEquals(all.map((r) => r.headers.get("connection")), [undefined, undefined, "close"]);
    assert(await closedByServer(conn));
  });
});

Deno.test("serveHttp() answers HTTP/1.0 and HEAD, and takes a request body", async () => {
  const handler: Handler = async (request) =>
    new Response(request.method === "POST" ? `got ${await request.text()}` : "twelve bytes");
  await withServer({}, handler, async ({ port }) => {
    let conn = await connect(port);
    await send(conn, "GET / HTTP/1.0\r\n\r\n");
    let [response] = await readResponses(conn, 1);
    assertEquals([response!.status, response!.body], [200, "twelve bytes"]);
    assert(await closedByServer(conn), "HTTP/1.0 closes by default");

    conn = await connect(port);
    await send(conn, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\n");
    await send(conn, "Content-Length: 5\r\nConnection: close\r\n\r\nhello");
    const text = await readUntil(conn, () => false);
    assertMatch(
      text,
      /^HTTP\/1\.1 200 OK\r\n(?:[^\r]+\r\n)*content-length: 12\r\n\r\nHTTP\/1\.1 200/,
    );
    assert(text.endsWith("\r\n\r\ngot hello"), text);
    [response] = responses(text.slice(text.indexOf("HTTP/1.1 200", 10)));
    assertEquals(response!.body, "got hello");
  });
});

Deno.test("serveHttp() refuses malformed and unsupported requests with a status, then closes", async () => {
  await withServer({}, echo, async ({ port }) => {
    const cases: [string, number][] = [
      ["NOT A REQUEST\r\n\r\n", 400],
      ["GET / HTTP/2.0\r\n\r\n", 505],
      ["GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400],
      ["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411],
      ["POST / HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n", 413],
      [`GET / HTTP/1.1\r\nX: ${"a".repeat(20_000)}\r\n\r\n`, 431],
    ];
    for (const [request, status] of cases) {
      const conn = await connect(port);
      await send(conn, request).catch(() => {});
      const [response] = await readResponses(conn, 1);
      assertEquals(response?.status, status, request.slice(0, 40));
      assertEquals(response!.headers.get("connection"), "close");
      assert(await closedByServer(conn));
    }
  });
});

Deno.test("serveHttp() closes connections whose request head is slow or never comes", async () => {
  await withServer({ headerTimeoutMs: 300 }, echo, async ({ port, timeouts }) => {
    const slow: Deno.TcpConn[] = [];
    for (let i = 0; i < 20; i++) {
      const conn = await connect(port);
      // A slowloris client: a request line and a header, then a byte now and then.
      await send(conn, "GET / HTTP/1.1\r\nHost: x\r\n");
      slow.push(conn);
    }
    const silent = await connect(port);
    const trickle = (async () => {
      for (let i = 0; i < 40; i++) {
        await new Promise((r) => setTimeout(r, 50));
        for (const conn of slow) await send(conn, "X").catch(() => {});
      }
    })();
    const closed = await Promise.all([...slow, silent].map(closedByServer));
    assertEquals(closed.filter(Boolean).length, 21);
    await trickle;
    await waitFor(() => Promise.resolve(timeouts.length === 21), "the timeouts to be counted");
    assertEquals(new Set(timeouts), new Set(["header"]));
    // A prompt request is still answered.
    assertEquals(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "GET /\n");
  });
});

Deno.test("serveHttp() closes a kept-alive connection idle longer than idleTimeout", async () => {
  await withServer({ idleTimeoutMs: 200 }, echo, async ({ port, timeouts }) => {
    const conn = await connect(port);
    await send(conn, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    assertEquals((await readResponses(conn, 1))[0]!.body, "GET /a\n");
    assert(await closedByServer(conn));
    await waitFor(() => Promise.resolve(timeouts.includes("idle")), "the idle timeout counted");
  });
});

Deno.test("serveHttp() at maxConnections closes a new connection or one waiting for long", async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  const handler: Handler = async (request) => {
    if (new URL(request.url).pathname === "/block") await released;
    return new Response("ok\n");
  };
  const ask = async (port: number) => {
    const conn = await connect(port);
    await send(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").catch(() => {});
    return (await readResponses(conn, 1))[0]?.body;
  };
  await withServer({ maxConnections: 4 }, handler, async ({ port, server, shed, logs }) => {
    try {
      const idle: Deno.TcpConn[] = [];
      for (let i = 0; i < 4; i++) idle.push(await connect(port));
      await waitFor(() => Promise.resolve(server.connections === 4), "4 connections");
      // In a burst nobody has waited long: the new connection is the one closed.
      assertEquals(await ask(port), undefined);
      assertEquals(shed, ["max_connections"]);
      // Once the idle ones have waited a second, a new connection replaces the oldest.
      await waitFor(async () => (await ask(port)) === "ok\n", "a new connection answered");
      assert(await closedByServer(idle[0]!), "the oldest waiting connection was closed");
      // Every slot busy with a request in progress: a new connection is closed at once.
      const fourth = await connect(port);
      for (const conn of [...idle.slice(1), fourth]) {
        await send(conn, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n");
      }
      await waitFor(() => Promise.resolve(server.requests === 4), "4 requests in progress");
      const shedBefore = shed.length;
      const refused = await connect(port);
      assert(await closedByServer(refused), "a connection beyond the limit is closed");
      assertEquals(shed.length, shedBefore + 1);
      assert(shed.every((r) => r === "max_connections"), shed.join());
      assertEquals(logs.filter((l) => l.msg === "shedding load").length, 1, "logged once");
      assertEquals(logs.find((l) => l.msg === "shedding load")?.reason, "max_connections");
      release();
      for (const conn of [...idle.slice(1), fourth]) {
        assertEquals((await readResponses(conn, 1))[0]?.status, 200);
      }
    } finally {
      release();
    }
  });
});

Deno.test("serveHttp() answers 503 with Retry-After beyond maxRequests, but not to exempt paths", async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  const handler: Handler = async (request) => {
    if (new URL(request.url).pathname === "/slow") await released;
    return new Response("ok\n");
  };
  await withServer(
    { maxRequests: 2, exempt: (path) => path === "/healthz" },
    handler,
    async ({ port, server, shed }) => {
      const slow = [fetch(`http://127.0.0.1:${port}/slow`), fetch(`http://127.0.0.1:${port}/slow`)];
      try {
        await waitFor(() => Promise.resolve(server.requests === 2), "2 requests in flight");
        const over = await fetch(`http://127.0.0.1:${port}/other`);
        assertEquals([over.status, over.headers.get("retry-after")], [503, "1"]);
        assertMatch(await over.text(), /^overloaded: too many requests in flight/);
        const probe = await fetch(`http://127.0.0.1:${port}/healthz`);
        assertEquals([probe.status, await probe.text()], [200, "ok\n"]);
        assertEquals(shed, ["max_requests"]);
      } finally {
        release();
        for (const response of await Promise.all(slow)) {
          assertEquals(await response.text(), "ok\n");
        }
      }
    },
  );
});

Deno.test("serveHttp() stops: closes idle connections and finishes answers in progress", async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  const handler: Handler = async () => {
    await released;
    return new Response("done\n");
  };
  await withServer({}, handler, async ({ port, server, stop }) => {
    const idle = await connect(port);
    const busy = await connect(port);
    await send(busy, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await waitFor(() => Promise.resolve(server.requests === 1), "a request in progress")
      .catch((error) => {
        release();
        throw error;
      });
    const stopped = stop();
    try {
      assert(await closedByServer(idle));
      await assertRefused(port);
    } finally {
      release();
    }
    const [response] = await readResponses(busy, 1);
    assertEquals([response?.body, response?.headers.get("connection")], ["done\n", "close"]);
    await stopped;
    assertEquals(server.connections, 0);
  });
});

async function assertRefused(port: number): Promise<void> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
  } catch (error) {
    assert(error instanceof Deno.errors.ConnectionRefused, String(error));
    return;
  }
  throw new Error("the listener still accepts");
}

Deno.test("serveHttp() keeps accepting after running out of file descriptors", async () => {
  // A child process under `ulimit -n 64` serving with no connection limit of its own.
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      `ulimit -n 64 && exec "$0" run -q --allow-net=127.0.0.1 "$1"`,
      Deno.execPath(),
      new URL("./testdata/serve_child.ts", import.meta.url).pathname,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: Record<string, unknown>[] = [];
  const reading = (async () => {
    let pending = "";
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      pending += text;
      for (let at = pending.indexOf("\n"); at >= 0; at = pending.indexOf("\n")) {
        lines.push(JSON.parse(pending.slice(0, at)));
        pending = pending.slice(at + 1);
      }
    }
  })();
  const stderr = new Response(child.stderr).text();
  const held: Deno.TcpConn[] = [];
  try {
    await waitFor(() => Promise.resolve(lines.some((l) => l.msg === "listening")), "listening");
    const port = Number(lines.find((l) => l.msg === "listening")!.port);
    // More connections than descriptors: the kernel queues them, the server runs out.
    for (let i = 0; i < 100; i++) held.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    await waitFor(
      () => Promise.resolve(lines.some((l) => l.msg === "shedding load")),
      "the shedding to be logged",
    );
    assertEquals(lines.find((l) => l.msg === "shedding load")?.reason, "descriptors");
    // Connections waiting for a request are closed to free descriptors: a request gets in.
    await waitFor(async () => {
      const response = await fetch(`http://127.0.0.1:${port}/`);
      return (await response.text()) === "ok\n";
    }, "an answer while the held connections come and go");
    for (const conn of held.splice(0)) conn.close();
    for (let i = 0; i < 5; i++) {
      assertEquals(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "ok\n");
    }
    assertEquals(lines.filter((l) => l.msg === "shedding load").length, 1, "logged once");
  } finally {
    for (const conn of held) conn.close();
    await child.stdin.close();
    const status = await child.status;
    await reading;
    assertEquals(status.code, 0, await stderr);
  }
});

Deno.test("openFilesLimit() reads the soft limit of open files from a shell", async () => {
  const limit = await openFilesLimit();
  assert(limit !== undefined && limit > 0, String(limit));
  assertEquals(await openFilesLimit(["echo", "1024"]), 1024);
  assertEquals(await openFilesLimit(["echo", "unlimited"]), undefined);
  assertEquals(await openFilesLimit(["/nonexistent/sh", "-c", "ulimit -n"]), undefined);
  assertEquals(await openFilesLimit(["false"]), undefined);
});
