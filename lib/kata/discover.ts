/**
 * The sandboxes of this node as `agent discover sandboxes` and `GET /sandboxes` show them:
 * from the running daemon when there is one, else read directly from the sandbox roots,
 * the CRI runtime and one scrape of each shim.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { formatListenAddress } from "../config/address.ts";
import type { Logger } from "../log.ts";
import { mapLimit } from "../pool.ts";
import { CriClient, type PodMetadata } from "./cri.ts";
import { type Sandbox, SandboxDirectory } from "./sandboxes.ts";
import { fetchShimMetrics } from "./shim.ts";
import { errorMessage } from "../errors.ts";

/** One sandbox as listed. Field names are part of the `/sandboxes` JSON contract. */
export interface SandboxView {
  id: string;
  uid: string;
  name: string;
  namespace: string;
  /** `go` (`/run/vc/sbs`) or `rust` (`/run/kata`). */
  runtime: string;
  socket: string;
  /** When the last scrape finished (ISO 8601), or `null`. */
  lastScrape: string | null;
  /** Why the last scrape failed, or `null`. */
  lastError: string | null;
}

/** One sandbox as listed, from discovery, its pod (if known) and its last scrape. */
export function sandboxView(
  sandbox: Sandbox,
  pod: PodMetadata | undefined,
  scrape: { scrapedAt?: number; error?: string | null } = {},
): SandboxView {
  return {
    id: sandbox.id,
    uid: pod?.uid ?? "",
    name: pod?.name ?? "",
    namespace: pod?.namespace ?? "",
    runtime: sandbox.runtime,
    socket: sandbox.socket,
    lastScrape: scrape.scrapedAt ? new Date(scrape.scrapedAt).toISOString() : null,
    lastError: scrape.error ?? null,
  };
}

/** Where the list came from, and what could not be read. */
export interface SandboxDiscovery {
  source: "daemon" | "direct";
  sandboxes: SandboxView[];
  /** Problems that left fields empty (the CRI runtime down, say). */
  warnings: string[];
}

/** Asks the daemon on `server.listenAddress` for its `/sandboxes`; `undefined` if none answers. */
async function fromDaemon(config: Config): Promise<SandboxView[] | undefined> {
  const { hostname, port } = config.server.listenAddress;
  // A daemon listening on every interface answers on loopback.
  const loopback = hostname === "0.0.0.0" ? "127.0.0.1" : hostname === "::" ? "::1" : hostname;
  const address = formatListenAddress({ hostname: loopback, port });
  const headers: Record<string, string> = { accept: "application/json" };
  if (config.server.bearerTokenFile) {
    try {
      headers.authorization = `Bearer ${
        (await Deno.readTextFile(config.server.bearerTokenFile)).trim()
      }`;
    } catch {
      return undefined;
    }
  }
  try {
    const response = await fetch(`http://${address}/sandboxes`, {
      headers,
      signal: AbortSignal.timeout(1000),
    });
    if (!response.ok) {
      await response.body?.cancel();
      return undefined;
    }
    const list = await response.json();
    return Array.isArray(list) ? list as SandboxView[] : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Lists the sandboxes: from the daemon when one answers on `server.listenAddress` (unless
 * `direct`), else by listing `kata.sandboxRoots`, asking the CRI runtime for pod metadata
 * and scraping each shim once (`kata.scrapeConcurrency` at a time).
 */
export async function discoverSandboxes(
  config: Config,
  log: Logger,
  options: { direct?: boolean } = {},
): Promise<SandboxDiscovery> {
  if (!options.direct) {
    const listed = await fromDaemon(config);
    if (listed) return { source: "daemon", sandboxes: listed, warnings: [] };
  }
  const warnings: string[] = [];
  const directory = new SandboxDirectory({ roots: config.kata.sandboxRoots, log });
  const stop = new AbortController();
  const running = directory.run(stop.signal);
  await directory.scanned;
  stop.abort();
  await running;
  const sandboxes = directory.list();
  const pods = new Map<string, PodMetadata>();
  if (sandboxes.length > 0) {
    const cri = new CriClient(config.kata.runtimeEndpoint);
    try {
      for (const sandbox of await cri.listPodSandboxes()) {
        pods.set(sandbox.id, {
          uid: sandbox.uid,
          name: sandbox.name,
          namespace: sandbox.namespace,
        });
      }
    } catch (error) {
      warnings.push(errorMessage(error));
    } finally {
      await cri.close();
    }
  }
  const views = await mapLimit(sandboxes, config.kata.scrapeConcurrency, async (sandbox) => {
    let lastError: string | null = null;
    try {
      await fetchShimMetrics(sandbox.socket, {
        timeoutMs: config.kata.scrapeTimeout,
        maxBytes: config.kata.maxResponseBytes,
        sandboxId: sandbox.id,
      });
    } catch (error) {
      lastError = errorMessage(error);
    }
    return sandboxView(sandbox, pods.get(sandbox.id), { scrapedAt: Date.now(), error: lastError });
  });
  return { source: "direct", sandboxes: views, warnings };
}
