/**
 * Separate debug info by build-id from debuginfod servers (`GET URL/buildid/ID/debuginfo`),
 * kept in a cache laid out as gdb's `debug-file-directory` expects
 * (`.build-id/ab/cdef....debug`), under a size cap: the least recently used files go first.
 * gdb itself never reaches the network (its own debuginfod client stays off); only this
 * module does, and only for the servers configured (`analyzer.debuginfodUrls`, none by
 * default, so nothing leaves the node unless asked).
 *
 * @module
 */
import { join } from "./_posix.ts";
import { mapLimit } from "../pool.ts";
import { redactUrls } from "../redact.ts";

/** Where to fetch from and how much to keep. */
export interface DebuginfodOptions {
  /** Server base URLs, tried in order. */
  urls: readonly string[];
  /** The cache directory (created when needed). */
  cacheDir: string;
  /** Most bytes the cache keeps; a single file larger than this is not fetched. */
  maxCacheBytes: number;
  /** Time allowed for each request, in milliseconds. */
  timeoutMs: number;
  /** Default `fetch`; tests may pass another. */
  fetch?: typeof fetch;
}

/** What {@linkcode fetchDebugInfo} did. */
export interface DebuginfodResult {
  /** The cache directory, to give gdb as a `debug-file-directory`. */
  directory: string;
  /** Build-ids whose debug info is in the cache now. */
  found: string[];
  /** Why some could not be fetched, one line each (for warnings). */
  problems: string[];
}

/** How long a build-id no server knew is not asked for again. */
const MISSING_TTL_MS = 3600_000;
/** Requests at once. */
const CONCURRENCY = 4;
const BUILD_ID = /^[0-9a-f]{8,128}$/;

/** The cache file of a build-id's debug info. */
export function debugFilePath(cacheDir: string, buildId: string): string {
  return join(cacheDir, ".build-id", buildId.slice(0, 2), `${buildId.slice(2)}.debug`);
}

async function exists(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch {
    return undefined;
  }
}

/**
 * Makes sure the debug info of each build-id is in the cache, fetching what is missing (and
 * not known to be missing) from the servers. Debug info the system already has
 * (`/usr/lib/debug/.build-id`) is not fetched. Never throws for a server's failure: it is
 * reported in `problems`.
 *
 * @example Usage
 * ```ts ignore
 * const { directory } = await fetchDebugInfo(["93ac61..."], {
 *   urls: ["http://127.0.0.1:8002"], cacheDir: "/var/lib/agent/debuginfod",
 *   maxCacheBytes: 2 ** 31, timeoutMs: 30_000,
 * });
 * ```
 */
export async function fetchDebugInfo(
  buildIds: readonly string[],
  options: DebuginfodOptions,
): Promise<DebuginfodResult> {
  const result: DebuginfodResult = { directory: options.cacheDir, found: [], problems: [] };
  const wanted = [...new Set(buildIds.map((id) => id.toLowerCase()))].filter((id) =>
    BUILD_ID.test(id)
  );
  await mapLimit(wanted, CONCURRENCY, async (id) => {
    const target = debugFilePath(options.cacheDir, id);
    const cached = await exists(target);
    if (cached) {
      // Used now: the last to be evicted.
      await Deno.utime(target, new Date(), cached.mtime ?? new Date()).catch(() => {});
      result.found.push(id);
      return;
    }
    if (await exists(debugFilePath("/usr/lib/debug", id))) return;
    const missing = join(options.cacheDir, ".missing", id);
    const known = await exists(missing);
    if (known?.mtime && Date.now() - known.mtime.getTime() < MISSING_TTL_MS) return;
    const problem = await download(id, target, options);
    if (problem === undefined) result.found.push(id);
    else if (problem === null) {
      await Deno.mkdir(join(options.cacheDir, ".missing"), { recursive: true });
      await Deno.writeTextFile(missing, "").catch(() => {});
    } else result.problems.push(problem);
  });
  await evict(options.cacheDir, options.maxCacheBytes);
  return result;
}

/**
 * Fetches one build-id's debug info into `target` from the first server that has it.
 * Returns `undefined` when fetched, `null` when no server has it, else the problem.
 */
async function download(
  id: string,
  target: string,
  options: DebuginfodOptions,
): Promise<string | null | undefined> {
  const get = options.fetch ?? fetch;
  let problem: string | null = null;
  for (const base of options.urls) {
    const url = `${base.replace(/\/+$/, "")}/buildid/${id}/debuginfo`;
    const where = new URL(url).host;
    let response: Response;
    try {
      response = await get(url, { signal: AbortSignal.timeout(options.timeoutMs) });
    } catch (error) {
      problem = `Cannot fetch debug info of build-id "${id}" from "${where}": ${reason(error)}`;
      continue;
    }
    if (response.status === 404) {
      await response.body?.cancel();
      continue;
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      problem =
        `Cannot fetch debug info of build-id "${id}" from "${where}": HTTP ${response.status}`;
      continue;
    }
    const declared = Number(response.headers.get("content-length") ?? NaN);
    if (declared > options.maxCacheBytes) {
      await response.body.cancel();
      return `Cannot fetch debug info of build-id "${id}" from "${where}": ${declared} bytes, more than the cache's ${options.maxCacheBytes}`;
    }
    try {
      return await save(response.body, target, options.maxCacheBytes);
    } catch (error) {
      problem = `Cannot fetch debug info of build-id "${id}" from "${where}": ${reason(error)}`;
    }
  }
  return problem;
}

/** Streams a body to a temporary file, then renames it into place: never a partial file. */
async function save(
  body: ReadableStream<Uint8Array>,
  target: string,
  maxBytes: number,
): Promise<undefined> {
  await Deno.mkdir(join(target, ".."), { recursive: true });
  const partial = `${target}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.part`;
  const file = await Deno.open(partial, { write: true, createNew: true, mode: 0o644 });
  let bytes = 0;
  try {
    for await (const chunk of body) {
      bytes += chunk.length;
      if (bytes > maxBytes) throw new Error(`more than the cache's ${maxBytes} bytes`);
      for (let at = 0; at < chunk.length;) at += await file.write(chunk.subarray(at));
    }
    file.close();
    await Deno.rename(partial, target);
    return undefined;
  } catch (error) {
    try {
      file.close();
    } catch {
      // Closed already.
    }
    await Deno.remove(partial).catch(() => {});
    throw error;
  }
}

function reason(error: unknown): string {
  if (error instanceof DOMException && error.name === "TimeoutError") return "timed out";
  // A fetch error can quote the URL, and a URL can carry credentials.
  return redactUrls(error instanceof Error ? error.message : String(error));
}

/** Removes the least recently used debug files until the cache holds at most `maxBytes`. */
async function evict(cacheDir: string, maxBytes: number): Promise<void> {
  const files: { path: string; bytes: number; used: number }[] = [];
  const top = join(cacheDir, ".build-id");
  let prefixes: Deno.DirEntry[];
  try {
    prefixes = await Array.fromAsync(Deno.readDir(top));
  } catch {
    return;
  }
  for (const prefix of prefixes) {
    if (!prefix.isDirectory) continue;
    for await (const entry of Deno.readDir(join(top, prefix.name))) {
      if (!entry.isFile || !entry.name.endsWith(".debug")) continue;
      const path = join(top, prefix.name, entry.name);
      const info = await exists(path);
      if (info) files.push({ path, bytes: info.size, used: info.mtime?.getTime() ?? 0 });
    }
  }
  let total = files.reduce((sum, f) => sum + f.bytes, 0);
  for (const file of files.sort((a, b) => a.used - b.used)) {
    if (total <= maxBytes) break;
    await Deno.remove(file.path).catch(() => {});
    total -= file.bytes;
  }
}
