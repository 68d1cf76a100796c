/**
 * A fake Kata shim monitor for tests: serves `GET /metrics` on `<dir>/<id>/shim-monitor.sock`
 * and can misbehave in the ways a real shim might (hang, trickle, send garbage or an endless
 * body, fail, close). Well-behaved modes use `Deno.serve`, the misbehaving ones a raw
 * `Deno.listen` so that the bytes on the wire are exactly the ones wanted.
 *
 * @module
 */

/** How the fake shim answers. */
export type FakeShimMode =
  /** 200 with the body. */
  | "ok"
  /** Accepts, reads the request and never answers. */
  | "hang"
  /** Answers like "ok" after `delayMs`. */
  | "slow"
  /** Sends a valid answer one byte every `delayMs`: a whole exchange that never ends in time. */
  | "trickle"
  /** Sends bytes that are not HTTP, then closes. */
  | "garbage"
  /** Sends 200 with an endless body (no length, never closing by itself). */
  | "huge"
  /** Answers 500 with a one-line error. */
  | "error500"
  /** Accepts and closes without a byte. */
  | "close";

/** Options of {@linkcode startFakeShim}. */
export interface FakeShimOptions {
  mode: FakeShimMode;
  /** The body of "ok", "slow" and "trickle" answers; called for each request. */
  body?: () => string;
  /** The body's bytes instead of `body`'s text, for answers that are not UTF-8. */
  bytes?: () => Uint8Array<ArrayBuffer>;
  /** Gzips the body and says so (`Content-Encoding: gzip`). */
  gzip?: boolean;
  /** Sends the body with `Transfer-Encoding: chunked` instead of `Content-Length`. */
  chunked?: boolean;
  /** The delay of "slow" (whole answer) and "trickle" (per byte); default 100 ms / 20 ms. */
  delayMs?: number;
}

/** A running fake shim. */
export interface FakeShim {
  /** The socket path. */
  socket: string;
  /** The sandbox directory (`dir/id`). */
  sandboxDir: string;
  /** Requests received. */
  readonly requests: number;
  /** Stops serving, closes every connection and removes the socket. */
  stop(): Promise<void>;
}

/** A body shaped like a shim's, small enough for unit tests. */
export function defaultShimBody(id = "fake"): string {
  return [
    "# HELP kata_shim_threads Kata containerd shim v2 process threads.",
    "# TYPE kata_shim_threads gauge",
    `kata_shim_threads ${id.length}`,
    "# HELP kata_hypervisor_fds Open FDs for hypervisor.",
    "# TYPE kata_hypervisor_fds gauge",
    "kata_hypervisor_fds 42",
    "",
  ].join("\n");
}

const encoder = new TextEncoder();

/**
 * Runs `fn` with a new temporary directory with a short path, removed afterwards: a unix
 * socket path is limited to 107 bytes, and `<dir>/<root>/<64 hex>/shim-monitor.sock` under
 * the usual test directory would pass it.
 */
export async function withSocketDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  // Deno.makeTempDir's names are 16 characters long; 6 random ones leave room for the rest.
  let dir = "";
  for (;;) {
    dir = `/tmp/k${crypto.randomUUID().slice(0, 6)}`;
    try {
      await Deno.mkdir(dir, { mode: 0o700 });
      break;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
  }
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Starts a fake shim on `dir/id/shim-monitor.sock`, creating `dir/id`.
 *
 * @example Usage
 * ```ts
 * const shim = await startFakeShim(root, "abc", { mode: "hang" });
 * try {
 *   // ...
 * } finally {
 *   await shim.stop();
 * }
 * ```
 */
export async function startFakeShim(
  dir: string,
  id: string,
  options: FakeShimOptions,
): Promise<FakeShim> {
  const sandboxDir = `${dir}/${id}`;
  const socket = `${sandboxDir}/shim-monitor.sock`;
  await Deno.mkdir(sandboxDir, { recursive: true });
  await Deno.remove(socket).catch(() => {});
  const makeBody = options.body ?? (() => defaultShimBody(id));
  let requests = 0;

  const payload = async (): Promise<
    { bytes: Uint8Array<ArrayBuffer>; headers: Record<string, string> }
  > => {
    let bytes = options.bytes?.() ?? encoder.encode(makeBody());
    const headers: Record<string, string> = { "content-type": "text/plain; version=0.0.4" };
    if (options.gzip) {
      bytes = await gzip(bytes);
      headers["content-encoding"] = "gzip";
    }
    return { bytes, headers };
  };

  if (options.mode === "ok" || options.mode === "slow" || options.mode === "error500") {
    const controller = new AbortController();
    const slow = new Set<() => void>();
    const server = Deno.serve(
      { path: socket, signal: controller.signal, onListen() {} },
      async () => {
        requests++;
        if (options.mode === "error500") {
          return new Response("collecting metrics failed: agent not reachable\n", {
            status: 500,
          });
        }
        if (options.mode === "slow") {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, options.delayMs ?? 100);
            slow.add(done);
            function done() {
              clearTimeout(timer);
              slow.delete(done);
              resolve();
            }
          });
        }
        const { bytes, headers } = await payload();
        if (options.chunked) {
          // A streamed body makes Deno.serve use chunked transfer encoding.
          const pieces = splitBytes(bytes, 8);
          return new Response(
            new ReadableStream({
              async pull(c) {
                // A pause between pieces keeps the server from merging them into one chunk.
                await new Promise((resolve) => setTimeout(resolve, 1));
                const piece = pieces.shift();
                if (piece) c.enqueue(piece);
                else c.close();
              },
            }),
            { headers },
          );
        }
        return new Response(bytes, { headers });
      },
    );
    return {
      socket,
      sandboxDir,
      get requests() {
        return requests;
      },
      async stop() {
        for (const done of [...slow]) done();
        controller.abort();
        await server.finished;
        await Deno.remove(socket).catch(() => {});
      },
    };
  }

  const listener = Deno.listen({ transport: "unix", path: socket });
  const conns = new Set<Deno.Conn>();
  const handlers = new Set<Promise<void>>();
  let stopped = false;
  const stopping = new AbortController();
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      stopping.signal.addEventListener("abort", done, { once: true });
      function done() {
        clearTimeout(timer);
        stopping.signal.removeEventListener("abort", done);
        resolve();
      }
    });

  const serve = async (conn: Deno.Conn) => {
    try {
      if (options.mode === "close") return;
      await readRequest(conn);
      requests++;
      switch (options.mode) {
        case "hang":
          // Holds the connection until the client or stop() closes it.
          await conn.read(new Uint8Array(1));
          return;
        case "garbage":
          await writeAll(conn, encoder.encode("\x00\xffSSH-2.0-not-http\r\n\x01\x02garbage\n"));
          return;
        case "huge": {
          await writeAll(
            conn,
            encoder.encode("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"),
          );
          const line = encoder.encode(`kata_guest_meminfo{item="mem_free"} 1\n`.repeat(1024));
          while (!stopped) await writeAll(conn, line);
          return;
        }
        case "trickle": {
          const { bytes, headers } = await payload();
          const head = "HTTP/1.1 200 OK\r\n" +
            Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") +
            `content-length: ${bytes.length}\r\n\r\n`;
          const all = concat(encoder.encode(head), bytes);
          for (let i = 0; i < all.length && !stopped; i++) {
            await writeAll(conn, all.subarray(i, i + 1));
            await pause(options.delayMs ?? 20);
          }
          return;
        }
      }
    } catch {
      // The client went away.
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  };

  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.add(conn);
        const handler = serve(conn);
        handlers.add(handler);
        handler.finally(() => handlers.delete(handler));
      }
    } catch {
      // The listener was closed.
    }
  })();

  return {
    socket,
    sandboxDir,
    get requests() {
      return requests;
    },
    async stop() {
      stopped = true;
      stopping.abort();
      listener.close();
      await accepting;
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await Promise.all([...handlers]);
      await Deno.remove(socket).catch(() => {});
    },
  };
}

/** Reads up to the end of the request head (the fake ignores its content). */
async function readRequest(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(4096);
  let text = "";
  while (!text.includes("\r\n\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("The client closed before sending a request");
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

async function gzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([bytes]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function splitBytes(bytes: Uint8Array<ArrayBuffer>, parts: number): Uint8Array<ArrayBuffer>[] {
  const size = Math.max(1, Math.ceil(bytes.length / parts));
  const pieces: Uint8Array<ArrayBuffer>[] = [];
  for (let i = 0; i < bytes.length; i += size) pieces.push(bytes.slice(i, i + size));
  return pieces;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const all = new Uint8Array(a.length + b.length);
  all.set(a);
  all.set(b, a.length);
  return all;
}
