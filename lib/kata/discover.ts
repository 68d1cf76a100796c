/**
 * The sandboxes of this node as `agent discover sandboxes` and `GET /sandboxes` show them,
 * read directly from the sandbox roots, the CRI runtime and one scrape of each shim.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import type { Logger } from "../log.ts";
import { mapLimit } from "../pool.ts";
import { CriClient, type PodMetadata } from "../cri/mod.ts";
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

/** What direct discovery found, and what could not be read. */
export interface SandboxDiscovery {
  sandboxes: SandboxView[];
  /** Problems that left fields empty (the CRI runtime down, say). */
  warnings: string[];
}

/**
 * Lists the sandboxes directly: `kata.sandboxRoots`, pod metadata from the CRI runtime, and
 * one scrape of each shim (`kata.scrapeConcurrency` at a time).
 */
export async function discoverSandboxes(config: Config, log: Logger): Promise<SandboxDiscovery> {
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
  return { sandboxes: views, warnings };
}
