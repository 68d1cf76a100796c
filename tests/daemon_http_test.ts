/**
 * `agent daemon`'s HTTP server under abuse, as a process: more held connections than it has
 * file descriptors (`ulimit -n`), and slowloris clients sending half a request.
 */
import { assert, assertEquals, assertMatch, withTempDir } from "./support/assert.ts";
import { haveCommand, skipNotice } from "./support/cores.ts";
import { startDaemon } from "./support/daemon.ts";
import { waitFor } from "./support/net.ts";
import { promtoolCheck } from "./support/promtool.ts";

const noPromtool = skipNotice("promtool", haveCommand("promtool"));

/** Opens `count` connections to the port (stopping at the first refused one). */
async function hold(port: number, count: number): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < count; i++) {
    try {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    } catch {
      break;
    }
  }
  return conns;
}

function closeAll(conns: Deno.Conn[]): void {
  for (const conn of conns.splice(0)) {
    try {
      conn.close();
    } catch {
      // Closed already.
    }
  }
}

/** Resolves once the server has closed `conn`. */
async function closedByServer(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(1024);
  while ((await conn.read(buffer).catch(() => null)) !== null);
}

/** Asks /healthz on a new connection, as the kubelet does (fetch would reuse a pooled one). */
async function healthz(port: number): Promise<boolean> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    let text = "";
    const buffer = new Uint8Array(4096);
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    return text.startsWith("HTTP/1.1 200 ") && text.endsWith("\r\n\r\nok\n");
  } finally {
    conn.close();
  }
}

/** The value of a sample in exposition text (0 when absent). */
function sample(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/**
 * Holds 400 connections to a daemon limited to 256 descriptors, then releases them, and
 * checks that it answered all along and logged the shedding once per episode. With
 * `shell: false` it cannot learn its limit (no `sh` on PATH), so it runs out of descriptors
 * for real and must recover from EMFILE; otherwise it caps connections at half the limit.
 */
async function heldBeyondTheLimit(shell: boolean): Promise<void> {
  await withTempDir(async (dir) => {
    const daemon = await startDaemon({
      dir,
      config: "kata: {enabled: false}",
      fileLimit: 256,
      ...(shell ? {} : { path: "/nonexistent" }),
    });
    const held: Deno.TcpConn[] = [];
    const reason = shell ? "max_connections" : "descriptors";
    let metrics = "";
    let log = "";
    try {
      held.push(...await hold(daemon.port, 400));
      assert(held.length > 256, `only ${held.length} connections opened`);
      // New connections replace those waiting for a request: probes get through.
      await waitFor(() => healthz(daemon.port), "/healthz while the connections are held");
      closeAll(held);
      for (let i = 0; i < 5; i++) assert(await healthz(daemon.port));
      metrics = await (await fetch(`${daemon.base}/metrics`)).text();
      assert(
        sample(metrics, `agent_http_connections_shed_total{reason="${reason}"}`) >= 50,
        metrics.split("\n").filter((l) => l.startsWith("agent_http_")).join("\n"),
      );
      assertMatch(metrics, /^# TYPE agent_http_open_connections gauge$/m);
      if (!noPromtool) assertEquals((await promtoolCheck(metrics)).defects, []);
    } finally {
      closeAll(held);
      log = await daemon.stop();
    }
    const lines = log.split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const lowered = lines.find((l) =>
      l.msg === "server.maxConnections lowered to half the open files limit"
    );
    if (shell) assertEquals([lowered?.openFilesLimit, lowered?.lowered], [256, 128], log);
    else assertEquals(lowered, undefined);
    const shedding = lines.filter((l) => l.msg === "shedding load");
    assert(shedding.length >= 1, log);
    assertEquals(shedding[0].reason, reason);
    // Logged per episode, not per connection.
    assert(shedding.length <= 3, `${shedding.length} "shedding load" lines`);
    assert(lines.some((l) => l.msg === "load shedding over"), log);
  });
}

Deno.test(
  "the daemon caps connections below its descriptor limit and answers with more held",
  () => heldBeyondTheLimit(true),
);

Deno.test(
  "the daemon answers again after its descriptors ran out (limit unknown to it)",
  () => heldBeyondTheLimit(false),
);

Deno.test("the daemon closes slowloris connections within server.headerTimeout", () =>
  withTempDir(async (dir) => {
    const daemon = await startDaemon({
      dir,
      config: "kata: {enabled: false}",
      server: { headerTimeout: "1s", idleTimeout: "2s" },
    });
    const slow: Deno.TcpConn[] = [];
    try {
      const started = Date.now();
      slow.push(...await hold(daemon.port, 50));
      assertEquals(slow.length, 50);
      const encoder = new TextEncoder();
      for (const conn of slow) {
        await conn.write(encoder.encode("GET /metrics HTTP/1.1\r\nHost: x\r\n"));
      }
      // Every one closed by the daemon, in about a second: a generous bound for a loaded machine.
      let closed = 0;
      const closing = slow.map((conn) => closedByServer(conn).then(() => closed++));
      await waitFor(() => Promise.resolve(closed === slow.length), "the daemon to close them");
      await Promise.all(closing);
      assert(Date.now() - started < 20_000, `${Date.now() - started} ms`);
      assert(await healthz(daemon.port));
      const metrics = await (await fetch(`${daemon.base}/metrics`)).text();
      assert(
        sample(metrics, 'agent_http_connection_timeouts_total{phase="header"}') >= 50,
        metrics.split("\n").filter((l) => l.startsWith("agent_http_")).join("\n"),
      );
    } finally {
      closeAll(slow);
      await daemon.stop();
    }
  }));
