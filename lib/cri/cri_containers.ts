/**
 * Who runs in each container of the node, from the CRI runtime: pod, namespace, container
 * name and image by container (or sandbox) id, for the cAdvisor labels of the cgroups
 * collector. Unlike the sandbox cache (`cri_cache.ts`), nothing polls: the collector tells
 * which ids it found cgroups for ({@linkcode ContainerMetadataCache.notice}), and an id the
 * cache does not know makes it list the runtime again, in the background and at most once per
 * interval, so `/metrics` never waits for the runtime.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import type { Logger } from "../log.ts";
import type {
  CriCallOptions,
  CriContainer,
  CriImage,
  PodSandbox,
  PodSandboxFilter,
} from "./cri.ts";

/** A container's (or a pod sandbox's) identity, as cAdvisor labels its series. */
export interface ContainerIdentity {
  /** The container or sandbox id. */
  id: string;
  /** The container's name in the pod; `""` for a sandbox (its pause container), as cAdvisor. */
  container: string;
  /** The pod's name. */
  pod: string;
  /** The pod's namespace. */
  namespace: string;
  /** The pod's uid. */
  podUid: string;
  /** The image by name (`docker.io/library/nginx:1.27`) when the runtime knows one. */
  image: string;
  /** The id of the pod sandbox it belongs to (its own id for a sandbox). */
  sandboxId: string;
  /** The sandbox's runtime handler (`kata`, `runc`; empty for the runtime's default). */
  runtimeHandler: string;
}

/** A pod as the runtime knows it, by uid. */
export interface PodIdentity {
  uid: string;
  name: string;
  namespace: string;
  /** The runtime handler of its (latest) sandbox. */
  runtimeHandler: string;
  /** Its sandboxes' ids. */
  sandboxIds: string[];
}

/** What {@linkcode ContainerMetadataCache} needs of a client (a `CriClient`, or a fake). */
export interface ContainerLister {
  /** Named in log lines, when known. */
  readonly endpoint?: string;
  listPodSandboxes(filter?: PodSandboxFilter, options?: CriCallOptions): Promise<PodSandbox[]>;
  listContainers(options?: CriCallOptions): Promise<CriContainer[]>;
  listImages(options?: CriCallOptions): Promise<CriImage[]>;
}

/** Options of {@linkcode ContainerMetadataCache}. */
export interface ContainerMetadataCacheOptions {
  /** Where the metadata comes from. The cache does not close it. */
  client: ContainerLister;
  /** The least time between two listings, in milliseconds (`kata.criSyncInterval`). */
  minIntervalMs?: number;
  /** Told when listing starts failing and when it recovers. */
  logger?: Pick<Logger, "debug" | "info" | "warn">;
  /** Cancels a listing in flight when the daemon stops. */
  signal?: AbortSignal;
  /** The clock for the interval, in milliseconds; default `performance.now`. */
  now?: () => number;
}

/** Counters of {@linkcode ContainerMetadataCache}. */
export interface ContainerSyncStats {
  /** Successful listings. */
  refreshes: number;
  /** Failed ones. */
  failures: number;
  /** Containers and sandboxes known. */
  containers: number;
}

/** kubelet's container labels, read when the sandbox does not say. */
const KUBELET = {
  container: "io.kubernetes.container.name",
  pod: "io.kubernetes.pod.name",
  namespace: "io.kubernetes.pod.namespace",
  uid: "io.kubernetes.pod.uid",
} as const;

const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;

/**
 * The image name to show for `container`, as cAdvisor shows a tag: what the user wrote when
 * the runtime says, else the image asked for unless it is a bare id, else the first tag (or
 * digest) of the image it runs, else whatever reference there is.
 */
export function imageName(
  container: Pick<CriContainer, "image" | "userSpecifiedImage" | "imageRef">,
  images: ReadonlyMap<string, CriImage>,
): string {
  if (container.userSpecifiedImage) return container.userSpecifiedImage;
  if (container.image && !IMAGE_ID.test(container.image)) return container.image;
  const image = images.get(container.imageRef) ?? images.get(container.image);
  return image?.repoTags[0] ?? image?.repoDigests[0] ?? (container.image || container.imageRef);
}

/**
 * Container and pod identities by id and by pod uid, listed from the CRI runtime when the
 * caller notices an id it does not know.
 *
 * @example Usage
 * ```ts ignore
 * const cache = new ContainerMetadataCache({ client: new CriClient(endpoint), minIntervalMs: 5000 });
 * cache.notice(["4f1c..."]); // lists the runtime in the background
 * cache.container("4f1c..."); // { container: "web", pod: "web-0", namespace: "shop", ... } once listed
 * ```
 */
export class ContainerMetadataCache {
  readonly #client: ContainerLister;
  readonly #minIntervalMs: number;
  readonly #logger: Pick<Logger, "debug" | "info" | "warn"> | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #now: () => number;
  #containers = new Map<string, ContainerIdentity>();
  #pods = new Map<string, PodIdentity>();
  /**
   * Ids the last listing did not know among those noticed before it: they do not make it
   * list again (the cgroup of something that is no CRI container).
   */
  #misses = new Set<string>();
  /** Ids noticed since the last listing started; bounded by what runs on the node. */
  #noticed = new Set<string>();
  #lastAttemptAt: number | undefined;
  #inflight: Promise<void> | undefined;
  #failing = false;
  #stats = { refreshes: 0, failures: 0 };

  /** Creates an empty cache; nothing is asked until {@linkcode notice} or {@linkcode refresh}. */
  constructor(options: ContainerMetadataCacheOptions) {
    this.#client = options.client;
    this.#minIntervalMs = options.minIntervalMs ?? 5000;
    this.#logger = options.logger;
    this.#signal = options.signal;
    this.#now = options.now ?? (() => performance.now());
  }

  /** The container or sandbox `id`, if the runtime listed it. */
  container(id: string): ContainerIdentity | undefined {
    return this.#containers.get(id);
  }

  /** The pod with uid `uid`, if the runtime listed a sandbox of it. */
  pod(uid: string): PodIdentity | undefined {
    return this.#pods.get(uid);
  }

  /** Counters. */
  stats(): ContainerSyncStats {
    return { ...this.#stats, containers: this.#containers.size };
  }

  /**
   * Tells the cache of container ids that exist now (all of them, or some: the cgroups of
   * GPU processes). An id it does not know, and that the last listing did not show either,
   * starts a listing in the background unless one ran less than the interval ago. Never
   * throws, never waits.
   */
  notice(ids: Iterable<string>): void {
    let unknown = false;
    for (const id of ids) {
      this.#noticed.add(id);
      if (!this.#containers.has(id) && !this.#misses.has(id)) unknown = true;
    }
    if (!unknown || this.#inflight) return;
    const last = this.#lastAttemptAt;
    if (last !== undefined && this.#now() - last < this.#minIntervalMs) return;
    // Counted and logged by the listing itself.
    this.refresh().catch(() => {});
  }

  /**
   * Lists the runtime's sandboxes, containers (and images, when a container names its
   * image by id only) now, and replaces what the cache knows. Concurrent calls share one
   * listing.
   *
   * @throws {CriError} when the runtime cannot be reached; the cache is then unchanged.
   */
  refresh(): Promise<void> {
    this.#inflight ??= this.#refresh().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  /** Resolves once a listing in flight (if any) has ended. */
  async settled(): Promise<void> {
    await this.#inflight?.catch(() => {});
  }

  async #refresh(): Promise<void> {
    this.#lastAttemptAt = this.#now();
    const noticed = this.#noticed;
    this.#noticed = new Set();
    const options = this.#signal ? { signal: this.#signal } : {};
    let sandboxes: PodSandbox[];
    let containers: CriContainer[];
    let images: CriImage[] = [];
    try {
      [sandboxes, containers] = await Promise.all([
        this.#client.listPodSandboxes({}, options),
        this.#client.listContainers(options),
      ]);
      if (containers.some((c) => !c.userSpecifiedImage && (!c.image || IMAGE_ID.test(c.image)))) {
        images = await this.#client.listImages(options);
      }
    } catch (error) {
      // Noticed ids wait for the next listing.
      for (const id of noticed) this.#noticed.add(id);
      if (this.#signal?.aborted) throw error;
      this.#stats.failures++;
      if (!this.#failing) {
        this.#logger?.warn("Container metadata from the CRI runtime unavailable", {
          endpoint: this.#client.endpoint ?? "",
          error: errorMessage(error),
        });
      }
      this.#failing = true;
      throw error;
    }
    const byRef = new Map<string, CriImage>();
    for (const image of images) {
      byRef.set(image.id, image);
      for (const digest of image.repoDigests) byRef.set(digest, image);
    }
    const pods = new Map<string, PodIdentity>();
    const byId = new Map<string, ContainerIdentity>();
    const sandboxById = new Map(sandboxes.map((s) => [s.id, s]));
    // Oldest first, so that a pod's latest sandbox decides its runtime handler.
    for (const sandbox of [...sandboxes].sort((a, b) => a.createdAt - b.createdAt)) {
      byId.set(sandbox.id, {
        id: sandbox.id,
        container: "",
        pod: sandbox.name,
        namespace: sandbox.namespace,
        podUid: sandbox.uid,
        image: "",
        sandboxId: sandbox.id,
        runtimeHandler: sandbox.runtimeHandler,
      });
      if (!sandbox.uid) continue;
      const pod = pods.get(sandbox.uid);
      pods.set(sandbox.uid, {
        uid: sandbox.uid,
        name: sandbox.name,
        namespace: sandbox.namespace,
        runtimeHandler: sandbox.runtimeHandler,
        sandboxIds: [...(pod?.sandboxIds ?? []), sandbox.id],
      });
    }
    for (const container of containers) {
      const sandbox = sandboxById.get(container.sandboxId);
      const labels = container.labels;
      byId.set(container.id, {
        id: container.id,
        container: container.name || (labels[KUBELET.container] ?? ""),
        pod: sandbox?.name || (labels[KUBELET.pod] ?? ""),
        namespace: sandbox?.namespace || (labels[KUBELET.namespace] ?? ""),
        podUid: sandbox?.uid || (labels[KUBELET.uid] ?? ""),
        image: imageName(container, byRef),
        sandboxId: container.sandboxId,
        runtimeHandler: sandbox?.runtimeHandler ?? "",
      });
    }
    this.#containers = byId;
    this.#pods = pods;
    // Misses are kept only among the ids noticed lately: the set never outgrows the node.
    this.#misses = new Set([...noticed].filter((id) => !byId.has(id)));
    this.#stats.refreshes++;
    if (this.#failing) {
      this.#logger?.info("Container metadata from the CRI runtime recovered", {
        endpoint: this.#client.endpoint ?? "",
        containers: byId.size,
      });
    }
    this.#failing = false;
  }
}
