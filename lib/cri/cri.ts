/**
 * The client for the CRI runtime (containerd, CRI-O) that the sandbox and container metrics
 * are enriched from: `Version`, `ListPodSandbox`, `PodSandboxStatus`, `ListContainers` and
 * `ListImages` of CRI `runtime.v1` over the runtime's unix socket. The metadata caches built
 * on it are in `cri_cache.ts` (sandboxes) and `cri_containers.ts` (containers).
 *
 * The protocol is `@grpc/grpc-js` with a minimal `runtime.v1` proto embedded as text
 * (`_cri_proto.ts`), parsed by protobufjs and handed to `@grpc/proto-loader`. gRPC is
 * imported only when a {@linkcode CriClient} is constructed, because most commands never
 * talk to the runtime.
 *
 * @module
 */
import type * as Grpc from "@grpc/grpc-js";
import { CRI_IMAGE_SERVICE, CRI_LOADER_OPTIONS, CRI_PROTO, CRI_SERVICE } from "./_cri_proto.ts";
import { z } from "zod";
import { parseSocketEndpoint } from "../config/mod.ts";
import { ConfigError, UnavailableError } from "../errors.ts";
import { redactUrls } from "../redact.ts";

/** A sandbox's state: `unknown` for a value this proto does not know. */
export type SandboxState = "ready" | "notready" | "unknown";

/** What `Version` reports. */
export interface CriVersion {
  /** The CRI version the runtime speaks to kubelet, e.g. `0.1.0`. */
  version: string;
  /** e.g. `containerd`, `cri-o`. */
  runtimeName: string;
  /** e.g. `1.6.20~ds1`. */
  runtimeVersion: string;
  /** e.g. `v1`. */
  runtimeApiVersion: string;
}

/** One pod sandbox as `ListPodSandbox` lists it. */
export interface PodSandbox {
  /** The sandbox id (64 hex digits for containerd), as in `/run/vc/sbs/<id>`. */
  id: string;
  /** The pod's uid (empty when the runtime sent no metadata). */
  uid: string;
  /** The pod's name. */
  name: string;
  /** The pod's namespace. */
  namespace: string;
  /** How many sandboxes the pod had before this one. */
  attempt: number;
  /** Whether the sandbox runs. */
  state: SandboxState;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** e.g. `kata`, or empty for the runtime's default. */
  runtimeHandler: string;
  /** The pod sandbox's labels. */
  labels: Record<string, string>;
  /** The pod sandbox's annotations. */
  annotations: Record<string, string>;
}

/** One pod sandbox as `PodSandboxStatus` reports it. */
export interface PodSandboxStatus extends PodSandbox {
  /** The pod's primary IP, empty for host-network pods. */
  ip: string;
  /** Further IPs (dual stack). */
  additionalIps: string[];
}

/** A container's state: `unknown` for a value this proto does not know. */
export type ContainerState = "created" | "running" | "exited" | "unknown";

/** One container as `ListContainers` lists it. */
export interface CriContainer {
  /** The container id (64 hex digits for containerd), as in its cgroup's name. */
  id: string;
  /** The id of its pod sandbox. */
  sandboxId: string;
  /** The container's name in the pod spec (empty when the runtime sent no metadata). */
  name: string;
  /** How many times it was restarted before this one. */
  attempt: number;
  /** The image as the kubelet asked for it (often the image id, `sha256:...`). */
  image: string;
  /** The image the user wrote in the pod spec, when the runtime says (CRI 1.30+). */
  userSpecifiedImage: string;
  /** The image id or digest reference the container runs. */
  imageRef: string;
  state: ContainerState;
  /** Milliseconds since the epoch. */
  createdAt: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** One image as `ListImages` lists it. */
export interface CriImage {
  /** The image id, `sha256:...`. */
  id: string;
  /** Its names, `docker.io/library/nginx:1.27`. */
  repoTags: string[];
  /** Its digest references, `docker.io/library/nginx@sha256:...`. */
  repoDigests: string[];
}

/** Which sandboxes {@linkcode CriClient.listPodSandboxes} asks for. */
export interface PodSandboxFilter {
  /** Only this sandbox. */
  id?: string;
  /** Only sandboxes in this state. */
  state?: "ready" | "notready";
  /** Only sandboxes carrying all these labels. */
  labelSelector?: Record<string, string>;
}

/** Options of one call. */
export interface CriCallOptions {
  /** Deadline of this call in milliseconds; default: the client's. */
  timeoutMs?: number;
  /** Cancels the call; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of {@linkcode CriClient}. */
export interface CriClientOptions {
  /** Deadline of each call in milliseconds (default 2000). */
  timeoutMs?: number;
  /** The largest answer accepted, in bytes (default 16 MiB; gRPC's own default is 4 MiB). */
  maxResponseBytes?: number;
}

/**
 * A failed CRI call, exit code 3. The message is one line naming the endpoint and the gRPC
 * status: `Cannot reach the CRI runtime at /run/containerd/containerd.sock: 14 UNAVAILABLE:
 * No connection established`.
 */
export class CriError extends UnavailableError {
  /**
   * The gRPC status code (14 UNAVAILABLE, 4 DEADLINE_EXCEEDED, 5 NOT_FOUND...); -1 for an
   * answer this client could not use.
   */
  readonly code: number;
  /** The RPC, e.g. `ListPodSandbox`. */
  readonly method: string;

  /** Creates a CRI error. */
  constructor(message: string, code: number, method: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.method = method;
  }
}

const DEFAULT_TIMEOUT_MS = 2000;
const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** gRPC status codes that mean the runtime could not be reached or did not answer. */
const UNREACHABLE = new Set([4, 14]);

interface Loaded {
  grpc: typeof Grpc;
  methods: Record<string, Grpc.MethodDefinition<unknown, unknown>>;
}

let loaded: Promise<Loaded> | undefined;

/** Imports gRPC and compiles {@linkcode CRI_PROTO}, once per process. */
function loadGrpc(): Promise<Loaded> {
  loaded ??= (async () => {
    const [grpc, loader, protobuf] = await Promise.all([
      import("@grpc/grpc-js"),
      import("@grpc/proto-loader"),
      import("protobufjs"),
    ]);
    const { root } = protobuf.default.parse(CRI_PROTO, { keepCase: false });
    const definition = loader.fromJSON(root.toJSON(), CRI_LOADER_OPTIONS);
    type Methods = Record<string, Grpc.MethodDefinition<unknown, unknown>>;
    // Method names are unique across the two services: one table serves both.
    const methods = {
      ...definition[CRI_SERVICE] as Methods,
      ...definition[CRI_IMAGE_SERVICE] as Methods,
    };
    return { grpc, methods };
  })();
  return loaded;
}

/**
 * Turns a runtime endpoint as configured (`/run/containerd/containerd.sock` or
 * `unix:///run/containerd/containerd.sock`) into its socket path.
 *
 * @throws {ConfigError} for anything but an absolute unix socket path.
 */
export function criSocketPath(endpoint: string): string {
  // The configuration parses kata.runtimeEndpoint with the same function: one reading of it.
  const path = parseSocketEndpoint(endpoint);
  if (path === undefined) {
    throw new ConfigError(
      `Invalid CRI runtime endpoint "${
        redactUrls(endpoint)
      }": expected a socket path or unix:///path`,
    );
  }
  return path;
}

// Validation of what the runtime sends. proto-loader already gives these shapes; the schemas
// pin them down (an enum value this proto does not know arrives as a number).
const metadataSchema = z.object({
  name: z.string(),
  uid: z.string(),
  namespace: z.string(),
  attempt: z.number(),
}).nullable();
const stateSchema = z.union([z.string(), z.number()]);
const int64Schema = z.string().regex(/^-?\d+$/);
const mapSchema = z.record(z.string(), z.string());
const sandboxFields = {
  id: z.string(),
  metadata: metadataSchema,
  state: stateSchema,
  createdAt: int64Schema,
  labels: mapSchema,
  annotations: mapSchema,
  runtimeHandler: z.string(),
};
const versionSchema = z.object({
  version: z.string(),
  runtimeName: z.string(),
  runtimeVersion: z.string(),
  runtimeApiVersion: z.string(),
});
const listSchema = z.object({ items: z.array(z.object(sandboxFields)) });
const statusSchema = z.object({
  status: z.object({
    ...sandboxFields,
    network: z.object({
      ip: z.string(),
      additionalIps: z.array(z.object({ ip: z.string() })),
    }).nullable(),
  }).nullable(),
});

const containerSchema = z.object({
  id: z.string(),
  podSandboxId: z.string(),
  metadata: z.object({ name: z.string(), attempt: z.number() }).nullable(),
  image: z.object({ image: z.string(), userSpecifiedImage: z.string() }).nullable(),
  imageRef: z.string(),
  state: stateSchema,
  createdAt: int64Schema,
  labels: mapSchema,
  annotations: mapSchema,
});
const containersSchema = z.object({ containers: z.array(containerSchema) });
const imagesSchema = z.object({
  images: z.array(z.object({
    id: z.string(),
    repoTags: z.array(z.string()),
    repoDigests: z.array(z.string()),
  })),
});

const CONTAINER_STATES: Record<string, ContainerState> = {
  CONTAINER_CREATED: "created",
  CONTAINER_RUNNING: "running",
  CONTAINER_EXITED: "exited",
};

function toContainer(raw: z.infer<typeof containerSchema>): CriContainer {
  return {
    id: raw.id,
    sandboxId: raw.podSandboxId,
    name: raw.metadata?.name ?? "",
    attempt: raw.metadata?.attempt ?? 0,
    image: raw.image?.image ?? "",
    userSpecifiedImage: raw.image?.userSpecifiedImage ?? "",
    imageRef: raw.imageRef,
    state: (typeof raw.state === "string" ? CONTAINER_STATES[raw.state] : undefined) ?? "unknown",
    createdAt: Number(BigInt(raw.createdAt) / 1_000_000n),
    labels: raw.labels,
    annotations: raw.annotations,
  };
}

function toSandbox(raw: z.infer<z.ZodObject<typeof sandboxFields>>): PodSandbox {
  return {
    id: raw.id,
    uid: raw.metadata?.uid ?? "",
    name: raw.metadata?.name ?? "",
    namespace: raw.metadata?.namespace ?? "",
    attempt: raw.metadata?.attempt ?? 0,
    state: raw.state === "SANDBOX_READY"
      ? "ready"
      : raw.state === "SANDBOX_NOTREADY"
      ? "notready"
      : "unknown",
    createdAt: Number(BigInt(raw.createdAt) / 1_000_000n),
    runtimeHandler: raw.runtimeHandler,
    labels: raw.labels,
    annotations: raw.annotations,
  };
}

/**
 * The first line of a gRPC status detail, at most 200 characters, without grpc-js's
 * empty "Resolution note" and doubled "Error: " prefix.
 */
function oneLine(text: string): string {
  const line = text.split("\n")[0]!
    .replace(/\.? Resolution note:.*$/, "")
    .replace(/Last error: Error: /, "Last error: ")
    .trim();
  return line.length > 200 ? `${line.slice(0, 200)}\u2026` : line;
}

/**
 * A client for one CRI runtime endpoint. Construct it, call it, then {@linkcode close} it
 * (or `await using` it). Each call has its own deadline; every failure is a
 * {@linkcode CriError}.
 *
 * @example Usage
 * ```ts ignore
 * await using cri = new CriClient("/run/containerd/containerd.sock");
 * for (const sandbox of await cri.listPodSandboxes({ state: "ready" })) {
 *   console.log(sandbox.id, sandbox.namespace, sandbox.name);
 * }
 * ```
 */
export class CriClient {
  /** The endpoint as configured, used in error messages. */
  readonly endpoint: string;
  /** The socket path. */
  readonly socketPath: string;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  /** gRPC and the connection, from the first call on (until then gRPC is not even loaded). */
  #client: Promise<{ loaded: Loaded; client: Grpc.Client }> | undefined;
  #closed = false;

  /**
   * Creates a client for `endpoint`; gRPC (about 13 MB of memory once loaded) is loaded, and
   * connects, on the first call made while the socket exists.
   *
   * @throws {ConfigError} when `endpoint` is not a unix socket path.
   */
  constructor(endpoint: string, options: CriClientOptions = {}) {
    this.socketPath = criSocketPath(endpoint);
    this.endpoint = this.socketPath;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  #connect(): Promise<{ loaded: Loaded; client: Grpc.Client }> {
    this.#client ??= loadGrpc().then((loaded) => ({
      loaded,
      client: new loaded.grpc.Client(
        `unix://${this.socketPath}`,
        loaded.grpc.credentials.createInsecure(),
        {
          "grpc.max_receive_message_length": this.#maxBytes,
          // A runtime that restarts is found again within a few seconds, not gRPC's 2 min.
          "grpc.initial_reconnect_backoff_ms": 250,
          "grpc.max_reconnect_backoff_ms": 2000,
        },
      ),
    }));
    return this.#client;
  }

  /**
   * Asks the runtime for its name and versions.
   *
   * @throws {CriError} when the runtime cannot be reached or answers with an error.
   */
  async version(options: CriCallOptions = {}): Promise<CriVersion> {
    const answer = await this.#call("Version", { version: "v1" }, options);
    return this.#parse("Version", versionSchema, answer);
  }

  /**
   * Lists the runtime's pod sandboxes, optionally filtered.
   *
   * @throws {CriError} when the runtime cannot be reached or answers with an error.
   */
  async listPodSandboxes(
    filter: PodSandboxFilter = {},
    options: CriCallOptions = {},
  ): Promise<PodSandbox[]> {
    const request = {
      filter: {
        id: filter.id ?? "",
        ...(filter.state
          ? { state: { state: filter.state === "ready" ? "SANDBOX_READY" : "SANDBOX_NOTREADY" } }
          : {}),
        labelSelector: filter.labelSelector ?? {},
      },
    };
    const answer = await this.#call("ListPodSandbox", request, options);
    return this.#parse("ListPodSandbox", listSchema, answer).items.map(toSandbox);
  }

  /**
   * Asks for one sandbox's status.
   *
   * @throws {CriError} when the runtime cannot be reached or answers with an error; code 5
   * (NOT_FOUND) when it does not know the sandbox.
   */
  async podSandboxStatus(id: string, options: CriCallOptions = {}): Promise<PodSandboxStatus> {
    const answer = await this.#call(
      "PodSandboxStatus",
      { podSandboxId: id, verbose: false },
      options,
    );
    const { status } = this.#parse("PodSandboxStatus", statusSchema, answer);
    if (!status) {
      throw new CriError(
        `The CRI runtime at ${this.endpoint} sent no status for sandbox "${id}"`,
        -1,
        "PodSandboxStatus",
      );
    }
    return {
      ...toSandbox(status),
      ip: status.network?.ip ?? "",
      additionalIps: status.network?.additionalIps.map((p) => p.ip) ?? [],
    };
  }

  /**
   * Lists the runtime's containers (every state, every sandbox).
   *
   * @throws {CriError} when the runtime cannot be reached or answers with an error.
   */
  async listContainers(options: CriCallOptions = {}): Promise<CriContainer[]> {
    const answer = await this.#call("ListContainers", { filter: {} }, options);
    return this.#parse("ListContainers", containersSchema, answer).containers.map(toContainer);
  }

  /**
   * Lists the runtime's images (CRI's image service, on the same socket).
   *
   * @throws {CriError} when the runtime cannot be reached or answers with an error.
   */
  async listImages(options: CriCallOptions = {}): Promise<CriImage[]> {
    const answer = await this.#call("ListImages", {}, options);
    return this.#parse("ListImages", imagesSchema, answer).images;
  }

  /** Closes the connection. Calls made afterwards fail; calls in flight are cancelled. */
  async close(): Promise<void> {
    this.#closed = true;
    const ready = await this.#client?.catch(() => undefined);
    ready?.client.close();
  }

  /** Closes the connection, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #call(method: string, request: unknown, options: CriCallOptions): Promise<unknown> {
    if (this.#closed) {
      throw new CriError(`The CRI client for ${this.endpoint} is closed`, 1, method);
    }
    if (this.#client === undefined) await this.#socketExists(method);
    let ready: { loaded: Loaded; client: Grpc.Client };
    try {
      ready = await this.#connect();
    } catch (error) {
      throw new CriError(
        `Cannot load the gRPC client for the CRI runtime at ${this.endpoint}: ${
          error instanceof Error ? oneLine(error.message) : String(error)
        }`,
        -1,
        method,
        { cause: error },
      );
    }
    if (this.#closed) {
      throw new CriError(`The CRI client for ${this.endpoint} is closed`, 1, method);
    }
    const { signal } = options;
    signal?.throwIfAborted();
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const definition = ready.loaded.methods[method]!;
    const { grpc } = ready.loaded;
    return await new Promise((resolve, reject) => {
      const onAbort = () => call.cancel();
      const call = ready.client.makeUnaryRequest(
        definition.path,
        definition.requestSerialize,
        definition.responseDeserialize,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (error, value) => {
          signal?.removeEventListener("abort", onAbort);
          if (signal?.aborted) reject(signal.reason);
          else if (error) reject(this.#error(grpc, method, error, timeoutMs));
          else resolve(value);
        },
      );
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Before gRPC is loaded: a missing socket (no runtime on this node, or not started yet)
   * fails as gRPC would say it, without loading gRPC for nothing.
   */
  async #socketExists(method: string): Promise<void> {
    try {
      await Deno.lstat(this.socketPath);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) return;
      throw new CriError(
        `Cannot reach the CRI runtime at ${this.endpoint}: 14 UNAVAILABLE: ` +
          `No connection established. Last error: connect ENOENT ${this.socketPath}`,
        14,
        method,
        { cause: error },
      );
    }
  }

  #error(grpc: typeof Grpc, method: string, error: Grpc.ServiceError, timeoutMs: number): CriError {
    const code = typeof error.code === "number" ? error.code : grpc.status.UNKNOWN;
    const name = grpc.status[code] ?? "UNKNOWN";
    const details = code === grpc.status.DEADLINE_EXCEEDED
      ? `no answer to ${method} within ${timeoutMs / 1000} s`
      : oneLine(error.details || error.message);
    const message = UNREACHABLE.has(code)
      ? `Cannot reach the CRI runtime at ${this.endpoint}: ${code} ${name}: ${details}`
      : `The CRI runtime at ${this.endpoint} failed ${method}: ${code} ${name}: ${details}`;
    return new CriError(message, code, method, { cause: error });
  }

  #parse<T>(method: string, schema: z.ZodType<T>, answer: unknown): T {
    const parsed = schema.safeParse(answer);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    throw new CriError(
      `The CRI runtime at ${this.endpoint} sent an unusable ${method} answer: ${
        issue ? `${issue.path.join(".") || "(root)"}: ${issue.message}` : "invalid"
      }`,
      -1,
      method,
      { cause: parsed.error },
    );
  }
}
