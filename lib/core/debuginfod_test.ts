import { assertEquals } from "../../tests/support/assert.ts";
import { withTempDir } from "../../tests/support/assert.ts";
import { debugFilePath, fetchDebugInfo } from "./debuginfod.ts";

const A = "aa".repeat(20);
const B = "bb".repeat(20);
const C = "cc".repeat(20);

/** A server holding 100 bytes for A, B and C, and nothing else; it counts the requests. */
function server(sizes: Record<string, number> = { [A]: 100, [B]: 100, [C]: 100 }) {
  const asked: string[] = [];
  const fetch = (input: string | URL | Request) => {
    const id = /\/buildid\/(\w+)\/debuginfo$/.exec(String(input))?.[1] ?? "";
    asked.push(id);
    const size = sizes[id];
    return Promise.resolve(
      size === undefined
        ? new Response("no", { status: 404 })
        : new Response(new Uint8Array(size), { headers: { "content-length": String(size) } }),
    );
  };
  return { asked, fetch: fetch as typeof globalThis.fetch };
}

Deno.test("fetchDebugInfo() keeps the cache under its cap, least recently used out", () =>
  withTempDir(async (dir) => {
    const { fetch } = server();
    const options = {
      urls: ["http://debuginfod"],
      cacheDir: dir,
      maxCacheBytes: 250,
      timeoutMs: 1000,
      fetch,
    };
    assertEquals((await fetchDebugInfo([A, B], options)).found.sort(), [A, B]);
    // A is used again, so B is the least recently used when C comes.
    await Deno.utime(debugFilePath(dir, B), new Date(1000), new Date(1000));
    await fetchDebugInfo([A], options);
    const third = await fetchDebugInfo([C], options);
    assertEquals(third.found, [C]);
    const kept = await Promise.all(
      [A, B, C].map((id) => Deno.stat(debugFilePath(dir, id)).then(() => id, () => null)),
    );
    assertEquals(kept, [A, null, C]);
  }));

Deno.test("fetchDebugInfo() refuses a file larger than the cache and remembers what no server has", () =>
  withTempDir(async (dir) => {
    const { asked, fetch } = server({ [A]: 500 });
    const options = {
      urls: ["http://debuginfod"],
      cacheDir: dir,
      maxCacheBytes: 250,
      timeoutMs: 1000,
      fetch,
    };
    const first = await fetchDebugInfo([A, B], options);
    assertEquals(first.found, []);
    assertEquals(first.problems, [
      `Cannot fetch debug info of build-id "${A}" from "debuginfod": 500 bytes, more than the cache's 250`,
    ]);
    assertEquals(await Deno.stat(debugFilePath(dir, A)).then(() => true, () => false), false);
    // B was not found: not asked for again within the hour.
    await fetchDebugInfo([B], options);
    assertEquals(asked.filter((id) => id === B).length, 1);
    // Not a build-id: never asked.
    await fetchDebugInfo(["../../etc/passwd"], options);
    assertEquals(asked.length, 2);
  }));
