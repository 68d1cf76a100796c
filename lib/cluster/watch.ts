/**
 * Keeping the resource graph live: one informer per watched kind (list, watch from the
 * list's resourceVersion, 410 relist, backoff, bookmarks; see `lib/kube/informer.ts`), each
 * object reduced as it is decoded and applied to the graph. {@linkcode loadGraph} is the
 * one-shot version: a list of every kind, for `agent graph`.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import { Informer, KubeApiError, type KubeClient, type KubeObject } from "../kube/mod.ts";
import type { Logger } from "../log.ts";
import type { ResourceGraph } from "./graph.ts";
import { collectionPath, reduceObject, WATCHED_KINDS, type WatchedKind } from "./kinds.ts";

/** Options of {@linkcode watchCluster}. */
export interface WatchClusterOptions {
  client: KubeClient;
  graph: ResourceGraph;
  log?: Logger;
  /** The kinds to watch; default {@linkcode WATCHED_KINDS}. */
  kinds?: readonly WatchedKind[];
  /** Informer settings for tests (timeouts, backoff). */
  informer?: { idleTimeoutMs?: number; watchTimeoutSeconds?: number; initialBackoffMs?: number };
}

/** The running watches. */
export interface ClusterWatch {
  informers: Map<string, Informer>;
  /** Resolves once every kind has been listed once. */
  synced: Promise<void>;
  /** Watches until `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
  /** Summed informer counters. */
  stats(): { events: number; errors: number; lists: number; duplicatesDropped: number };
}

/**
 * Creates the informers that keep `graph` live.
 *
 * @example Usage
 * ```ts ignore
 * const watch = watchCluster({ client, graph });
 * const done = watch.run(controller.signal);
 * await watch.synced;
 * ```
 */
export function watchCluster(options: WatchClusterOptions): ClusterWatch {
  const { client, graph } = options;
  const informers = new Map<string, Informer>();
  for (const kind of options.kinds ?? WATCHED_KINDS) {
    informers.set(
      kind.kind,
      new Informer(client, {
        path: collectionPath(kind),
        reviver: kind.reviver,
        transform: (object) => reduceObject(kind, object) as unknown as KubeObject,
        // The graph holds the objects: the informer needs only what tells a duplicate and
        // what names a deletion (at 50,000 objects, about 2 KB each saved).
        keep: stub,
        onEvent: (type, object) => {
          graph.apply(type, object as never);
        },
        log: options.log,
        ...options.informer,
      }),
    );
  }
  return {
    informers,
    synced: Promise.all([...informers.values()].map((i) => i.synced)).then(() => {}),
    run: async (signal) => {
      await Promise.all([...informers.values()].map((i) => i.run(signal)));
    },
    stats: () => {
      const total = { events: 0, errors: 0, lists: 0, duplicatesDropped: 0 };
      for (const i of informers.values()) {
        total.events += i.stats.events;
        total.errors += i.stats.errors;
        total.lists += i.stats.lists;
        total.duplicatesDropped += i.stats.duplicatesDropped;
      }
      return total;
    },
  };
}

/** What an informer's cache keeps of a resource: its kind, name and resourceVersion. */
function stub(object: KubeObject): KubeObject {
  const m = object.metadata ?? {};
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    metadata: { name: m.name, namespace: m.namespace, resourceVersion: m.resourceVersion },
  };
}

/** Options of {@linkcode loadGraph}. */
export interface LoadGraphOptions {
  /** Only this namespace's objects (cluster-scoped kinds are always listed). */
  namespace?: string;
  /** Told of each kind that could not be listed (forbidden, not served) and was skipped. */
  onSkip?: (kind: WatchedKind, reason: string) => void;
}

/**
 * Lists every watched kind once into `graph`. A kind the API refuses (403) or does not serve
 * (404) is skipped and reported; any other failure throws.
 *
 * @throws {UnavailableError} when the API cannot be reached.
 */
export async function loadGraph(
  client: KubeClient,
  graph: ResourceGraph,
  options: LoadGraphOptions = {},
): Promise<void> {
  const lists = await Promise.all(WATCHED_KINDS.map(async (kind) => {
    try {
      const { items } = await client.list(
        collectionPath(kind, options.namespace),
        {},
        kind.reviver,
      );
      return { kind, items };
    } catch (error) {
      if (error instanceof KubeApiError && (error.status === 403 || error.status === 404)) {
        options.onSkip?.(kind, errorMessage(error));
        return { kind, items: [] };
      }
      throw error;
    }
  }));
  graph.transaction(() => {
    for (const { kind, items } of lists) {
      for (const item of items) graph.apply("ADDED", reduceObject(kind, item));
    }
  });
}
