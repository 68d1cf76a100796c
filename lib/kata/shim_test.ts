import { assert, assertEquals, assertRejects } from "../../tests/support/assert.ts";
import {
  defaultShimBody,
  type FakeShimOptions,
  startFakeShim,
  withSocketDir,
} from "../../tests/support/fake_shim.ts";
import { fetchShimBytes, fetchShimMetrics, ShimError } from "./shim.ts";

const ID = "a".repeat(64);
const LIMITS = { timeoutMs: 500, maxBytes: 1024 * 1024 };

/** Runs `fn` against a fake shim, stopping it whatever happens. */
async function withShim(
  options: FakeShimOptions,
  fn: (socket: string) => Promise<void>,
): Promise<void> {
  await withSocketDir(async (dir) => {
    const shim = await startFakeShim(dir, ID, options);
    try {
      await fn(shim.socket);
    } finally {
      await shim.stop();
    }
  });
}

/** A body of realistic size: many label sets of one family. */
function bigBody(lines: number): string {
  const out = [
    "# HELP kata_guest_meminfo Statistics about memory usage.",
    "# TYPE kata_guest_meminfo gauge",
  ];
  for (let i = 0; i < lines; i++) out.push(`kata_guest_meminfo{item="item_${i}"} ${i * 4096}`);
  return out.join("\n") + "\n";
}

Deno.test("fetchShimMetrics() reads a Content-Length answer", async () => {
  await withShim({ mode: "ok" }, async (socket) => {
    assertEquals(await fetchShimMetrics(socket, LIMITS), defaultShimBody(ID));
  });
});

Deno.test("fetchShimMetrics() decodes a chunked answer", async () => {
  const body = bigBody(5000);
  await withShim({ mode: "ok", chunked: true, body: () => body }, async (socket) => {
    assertEquals(await fetchShimMetrics(socket, LIMITS), body);
  });
});

Deno.test("fetchShimMetrics() decodes a gzipped answer, chunked or not", async () => {
  const body = bigBody(3000);
  for (const chunked of [false, true]) {
    await withShim({ mode: "ok", gzip: true, chunked, body: () => body }, async (socket) => {
      assertEquals(await fetchShimMetrics(socket, LIMITS), body);
    });
  }
});

Deno.test("fetchShimMetrics() with acceptGzip takes an uncompressed answer too", async () => {
  const body = bigBody(3000);
  await withShim({ mode: "ok", body: () => body }, async (socket) => {
    assertEquals(await fetchShimMetrics(socket, { ...LIMITS, acceptGzip: true }), body);
  });
});

Deno.test("fetchShimMetrics() keeps UTF-8 split across reads", async () => {
  const body = `# HELP kata_x Ünïcödé ✓ ${"é".repeat(100_000)}\nkata_x 1\n`;
  await withShim({ mode: "ok", chunked: true, body: () => body }, async (socket) => {
    assertEquals(await fetchShimMetrics(socket, { ...LIMITS, maxBytes: 1 << 20 }), body);
  });
});

Deno.test("fetchShimMetrics() times out on a shim that never answers", async () => {
  await withShim({ mode: "hang" }, async (socket) => {
    const started = performance.now();
    const error = await assertRejects(
      () => fetchShimMetrics(socket, { ...LIMITS, timeoutMs: 200 }),
      ShimError,
      `shim-monitor.sock of sandbox "${ID}": timed out after 200 ms`,
    );
    const elapsed = performance.now() - started;
    assertEquals((error as ShimError).reason, "timeout");
    assert(elapsed >= 190, `took ${elapsed} ms`);
  });
});

Deno.test("fetchShimMetrics() times out on a shim that trickles its answer", async () => {
  await withShim({ mode: "trickle", delayMs: 5 }, async (socket) => {
    // The shim never pauses long enough for an idle timeout: "timeout" is the whole request's.
    const error = await assertRejects(
      () => fetchShimMetrics(socket, { ...LIMITS, timeoutMs: 300 }),
      ShimError,
      "timed out after 300 ms",
    );
    assertEquals((error as ShimError).reason, "timeout");
  });
});

Deno.test("fetchShimMetrics() waits for a slow shim within the limit", async () => {
  await withShim({ mode: "slow", delayMs: 100 }, async (socket) => {
    assertEquals(await fetchShimMetrics(socket, LIMITS), defaultShimBody(ID));
  });
  await withShim({ mode: "slow", delayMs: 1000 }, async (socket) => {
    await assertRejects(
      () => fetchShimMetrics(socket, { ...LIMITS, timeoutMs: 150 }),
      ShimError,
      "timed out after 150 ms",
    );
  });
});

Deno.test("fetchShimMetrics() cuts an endless body at maxBytes", async () => {
  await withShim({ mode: "huge" }, async (socket) => {
    const error = await assertRejects(
      () => fetchShimMetrics(socket, { timeoutMs: 5000, maxBytes: 4 * 1024 * 1024 }),
      ShimError,
      `shim-monitor.sock of sandbox "${ID}": response over 4 MiB`,
    );
    assertEquals((error as ShimError).reason, "too-large");
  });
});

Deno.test("fetchShimMetrics() refuses a Content-Length over maxBytes before reading", async () => {
  await withShim({ mode: "ok", body: () => bigBody(1000) }, async (socket) => {
    await assertRejects(
      () => fetchShimMetrics(socket, { ...LIMITS, maxBytes: 1000 }),
      ShimError,
      "response over 1000 B",
    );
  });
});

Deno.test("fetchShimMetrics() bounds the decoded size of a gzipped body", async () => {
  // 8 MiB of zeros gzip to a few KiB: the raw size passes, the decoded one does not.
  const body = "0".repeat(8 * 1024 * 1024);
  await withShim({ mode: "ok", gzip: true, body: () => body }, async (socket) => {
    const error = await assertRejects(
      () => fetchShimMetrics(socket, { timeoutMs: 5000, maxBytes: 1024 * 1024 }),
      ShimError,
      "response over 1 MiB",
    );
    assertEquals((error as ShimError).reason, "too-large");
  });
});

Deno.test("fetchShimMetrics() reports a 500 with the shim's message", async () => {
  await withShim({ mode: "error500" }, async (socket) => {
    const error = await assertRejects(
      () => fetchShimMetrics(socket, LIMITS),
      ShimError,
      `shim-monitor.sock of sandbox "${ID}": answered 500: collecting metrics failed`,
    );
    assertEquals((error as ShimError).status, 500);
  });
});

Deno.test("fetchShimMetrics() reports garbage as not HTTP", async () => {
  await withShim({ mode: "garbage" }, async (socket) => {
    const error = await assertRejects(
      () => fetchShimMetrics(socket, LIMITS),
      ShimError,
      "sent something that is not HTTP",
    );
    assertEquals((error as ShimError).reason, "protocol");
  });
});

/** A 200 answer that is not UTF-8: a `\xff` in a label value and a lone continuation byte. */
const NOT_UTF8 = new Uint8Array([
  ...new TextEncoder().encode('kata_shim_fds{x="'),
  0xff,
  0x80,
  ...new TextEncoder().encode('"} 1\n'),
]);

Deno.test("fetchShimBytes() returns the shim's bytes unchanged, UTF-8 or not", async () => {
  for (const gzip of [false, true]) {
    await withShim({ mode: "ok", gzip, bytes: () => NOT_UTF8.slice() }, async (socket) => {
      assertEquals(await fetchShimBytes(socket, LIMITS), NOT_UTF8);
    });
  }
});

Deno.test("fetchShimMetrics() refuses a body that is not UTF-8", async () => {
  await withShim({ mode: "ok", bytes: () => NOT_UTF8.slice() }, async (socket) => {
    const error = await assertRejects(
      () => fetchShimMetrics(socket, LIMITS),
      ShimError,
      `shim-monitor.sock of sandbox "${ID}": sent a body that is not UTF-8 text`,
    );
    assertEquals((error as ShimError).reason, "protocol");
  });
});

Deno.test("fetchShimMetrics() reports a connection closed without an answer", async () => {
  await withShim({ mode: "close" }, async (socket) => {
    const error = await assertRejects(() => fetchShimMetrics(socket, LIMITS), ShimError);
    assertEquals((error as ShimError).reason, "closed");
  });
});

Deno.test("fetchShimMetrics() names a missing socket and a refused connection", async () => {
  await withSocketDir(async (dir) => {
    await Deno.mkdir(`${dir}/${ID}`);
    const socket = `${dir}/${ID}/shim-monitor.sock`;
    let error = await assertRejects(
      () => fetchShimMetrics(socket, LIMITS),
      ShimError,
      `shim-monitor.sock of sandbox "${ID}": no socket`,
    );
    assertEquals((error as ShimError).reason, "missing");
    // A socket file nobody listens on: what a crashed shim leaves behind.
    // (Deno removes the file when a listener closes, so a child process exits under it.)
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `Deno.listen({ transport: "unix", path: ${JSON.stringify(socket)} }); Deno.exit(0)`,
      ],
    });
    assert((await child.output()).success);
    error = await assertRejects(
      () => fetchShimMetrics(socket, LIMITS),
      ShimError,
      `shim-monitor.sock of sandbox "${ID}": connection refused`,
    );
    assertEquals((error as ShimError).reason, "refused");
  });
});

Deno.test("fetchShimMetrics() stops when the signal aborts", async () => {
  await withShim({ mode: "hang" }, async (socket) => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const error = await assertRejects(
      () => fetchShimMetrics(socket, { ...LIMITS, timeoutMs: 5000, signal: controller.signal }),
      ShimError,
      "request aborted",
    );
    assertEquals((error as ShimError).reason, "aborted");
  });
});
