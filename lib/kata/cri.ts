/**
 * The client for the CRI runtime (containerd, CRI-O) that the sandbox metrics are enriched
 * from: `Version`, `ListPodSandbox` and `PodSandboxStatus` of CRI `runtime.v1` over the
 * runtime's unix socket, and {@linkcode CriMetadataCache}, which keeps each sandbox's pod
 * uid, name and namespace on kata-monitor's schedule.
 *
 * The protocol is `@grpc/grpc-js` with a minimal `runtime.v1` proto embedded below as text
 * ({@linkcode CRI_PROTO}), parsed by protobufjs and handed to `@grpc/proto-loader`: nothing
 * is read from the source tree at run time, so the module survives `deno compile`. gRPC is
 * imported only when a {@linkcode CriClient} is constructed, because most commands never
 * talk to the runtime.
 *
 * @module
 */
import type * as Grpc from "@grpc/grpc-js";
import { z } from "zod";
import { parseSocketEndpoint } from "../config/address.ts";
import { ConfigError, UnavailableError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { after } from "../pool.ts";
import { redactUrls } from "../redact.ts";

/**
 * The part of CRI `runtime.v1` (kubernetes/cri-api `pkg/apis/runtime/v1/api.proto`) this
 * client uses. Field numbers are the upstream ones; fields left out are skipped when
 * decoding, so a newer runtime's answers still parse.
 */
export const CRI_PROTO = `
syntax = "proto3";
package runtime.v1;

service RuntimeService {
  rpc Version(VersionRequest) returns (VersionResponse) {}
  rpc ListPodSandbox(ListPodSandboxRequest) returns (ListPodSandboxResponse) {}
  rpc PodSandboxStatus(PodSandboxStatusRequest) returns (PodSandboxStatusResponse) {}
}

message VersionRequest {
  string version = 1;
}

message VersionResponse {
  string version = 1;
  string runtime_name = 2;
  string runtime_version = 3;
  string runtime_api_version = 4;
}

message PodSandboxMetadata {
  string name = 1;
  string uid = 2;
  string namespace = 3;
  uint32 attempt = 4;
}

enum PodSandboxState {
  SANDBOX_READY = 0;
  SANDBOX_NOTREADY = 1;
}

message PodSandboxStateValue {
  PodSandboxState state = 1;
}

message PodSandboxFilter {
  string id = 1;
  PodSandboxStateValue state = 2;
  map<string, string> label_selector = 3;
}

message ListPodSandboxRequest {
  PodSandboxFilter filter = 1;
}

message PodSandbox {
  string id = 1;
  PodSandboxMetadata metadata = 2;
  PodSandboxState state = 3;
  int64 created_at = 4;
  map<string, string> labels = 5;
  map<string, string> annotations = 6;
  string runtime_handler = 7;
}

message ListPodSandboxResponse {
  repeated PodSandbox items = 1;
}

message PodSandboxStatusRequest {
  string pod_sandbox_id = 1;
  bool verbose = 2;
}

message PodIP {
  string ip = 1;
}

message PodSandboxNetworkStatus {
  string ip = 1;
  repeated PodIP additional_ips = 2;
}

message PodSandboxStatus {
  string id = 1;
  PodSandboxMetadata metadata = 2;
  PodSandboxState state = 3;
  int64 created_at = 4;
  PodSandboxNetworkStatus network = 5;
  map<string, string> labels = 7;
  map<string, string> annotations = 8;
  string runtime_handler = 9;
}

message PodSandboxStatusResponse {
  PodSandboxStatus status = 1;
  map<string, string> info = 2;
  int64 timestamp = 4;
}
`;

/** The fully qualified name of the service in {@linkcode CRI_PROTO}. */
export const CRI_SERVICE = "runtime.v1.RuntimeService";

/**
 * How proto-loader turns messages into objects, for this client and for test servers that
 * serve {@linkcode CRI_PROTO}: camelCase fields, int64 as decimal strings, enums by name,
 * absent fields as their defaults.
 */
export const CRI_LOADER_OPTIONS = {
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
} as const;

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
   * The gRPC status code (14 UNAVAILABLE, 4 DEADLINE_EXCEEDED, 5 NOT_FOUND…); -1 for an
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
    const service = definition[CRI_SERVICE] as Record<
      string,
      Grpc.MethodDefinition<unknown, unknown>
    >;
    return { grpc, methods: service };
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
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
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
  readonly #client: Promise<{ loaded: Loaded; client: Grpc.Client }>;
  #closed = false;

  /**
   * Creates a client for `endpoint` and starts loading gRPC; nothing connects until the
   * first call.
   *
   * @throws {ConfigError} when `endpoint` is not a unix socket path.
   */
  constructor(endpoint: string, options: CriClientOptions = {}) {
    this.socketPath = criSocketPath(endpoint);
    this.endpoint = this.socketPath;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.#client = loadGrpc().then((loaded) => ({
      loaded,
      client: new loaded.grpc.Client(
        `unix://${this.socketPath}`,
        loaded.grpc.credentials.createInsecure(),
        {
          "grpc.max_receive_message_length": maxBytes,
          // A runtime that restarts is found again within a few seconds, not gRPC's 2 min.
          "grpc.initial_reconnect_backoff_ms": 250,
          "grpc.max_reconnect_backoff_ms": 2000,
        },
      ),
    }));
    // A failed import surfaces on the first call; keep it from being an unhandled rejection.
    this.#client.catch(() => {});
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

  /** Closes the connection. Calls made afterwards fail; calls in flight are cancelled. */
  async close(): Promise<void> {
    this.#closed = true;
    const ready = await this.#client.catch(() => undefined);
    ready?.client.close();
  }

  /** Closes the connection, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #call(method: string, request: unknown, options: CriCallOptions): Promise<unknown> {
    let ready: { loaded: Loaded; client: Grpc.Client };
    try {
      ready = await this.#client;
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

/** A pod's identity, as kata-monitor labels a sandbox's metrics with it. */
export interface PodMetadata {
  /** The pod's uid. */
  uid: string;
  /** The pod's name. */
  name: string;
  /** The pod's namespace. */
  namespace: string;
}

/** What {@linkcode CriMetadataCache} needs of a client (a {@linkcode CriClient}, or a fake). */
export interface SandboxLister {
  /** Named in log lines, when known. */
  readonly endpoint?: string;
  /** Lists the runtime's pod sandboxes. */
  listPodSandboxes(filter?: PodSandboxFilter, options?: CriCallOptions): Promise<PodSandbox[]>;
}

/** Options of {@linkcode CriMetadataCache}. */
export interface CriMetadataCacheOptions {
  /** Where the metadata comes from. The cache does not close it. */
  client: SandboxLister;
  /** `kata.criSyncInterval` in milliseconds (default 5000, as kata-monitor). */
  syncIntervalMs?: number;
  /** Receives one line per change of the sync's state (failing, recovered), debug otherwise. */
  logger?: Pick<Logger, "debug" | "info" | "warn">;
  /** Named in log lines; default: the client's `endpoint`, if it has one. */
  endpoint?: string;
}

/** Counters of {@linkcode CriMetadataCache}, for the agent's own metrics. */
export interface CriSyncStats {
  /** Successful `ListPodSandbox` calls. */
  refreshes: number;
  /** Failed ones. */
  failures: number;
  /** Failures since the last success. */
  consecutiveFailures: number;
  /** When the last success ended, milliseconds since the epoch; 0 before the first. */
  lastSuccessAt: number;
  /** The last failure's message, empty after a success. */
  lastError: string;
  /** How long the last successful call took, in milliseconds. */
  lastDurationMs: number;
  /** Sandboxes with metadata. */
  sandboxes: number;
  /** Known sandboxes (see {@linkcode CriMetadataCache.onSandboxesChanged}) without metadata. */
  missing: number;
}

const NO_LOGGER: Pick<Logger, "debug" | "info" | "warn"> = {
  debug() {},
  info() {},
  warn() {},
};

/**
 * Pod metadata (uid, name, namespace) by sandbox id, kept from the CRI runtime on
 * kata-monitor's schedule: the caller reports which sandboxes exist
 * ({@linkcode onSandboxesChanged}); while {@linkcode run} runs, the cache lists the
 * runtime's sandboxes once at start, then one sync interval after a sandbox without
 * metadata appears, and again every interval while any known sandbox still lacks it. A
 * runtime that is down leaves the metadata as it was (empty at first): failures are
 * counted, logged once when the sync starts failing and once when it recovers, and never
 * escape the loop. Sandboxes the runtime no longer lists keep their last-known metadata
 * for as long as the caller still reports them.
 *
 * @example Usage
 * ```ts ignore
 * const cri = new CriClient(config.kata.runtimeEndpoint);
 * const cache = new CriMetadataCache({
 *   client: cri,
 *   syncIntervalMs: config.kata.criSyncInterval,
 *   logger,
 * });
 * const loop = cache.run(signal);
 * cache.onSandboxesChanged(["4f1c…"]);
 * cache.get("4f1c…"); // { uid, name, namespace } once the runtime listed it
 * ```
 */
export class CriMetadataCache {
  readonly #client: SandboxLister;
  readonly #intervalMs: number;
  readonly #logger: Pick<Logger, "debug" | "info" | "warn">;
  readonly #endpoint: string;
  #metadata = new Map<string, PodMetadata>();
  /** Known sandbox ids and when each was first reported (performance.now()). */
  #known = new Map<string, number>();
  #lastAttemptAt: number | undefined;
  #inflight: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #running = false;
  #failing = false;
  #stats: CriSyncStats = {
    refreshes: 0,
    failures: 0,
    consecutiveFailures: 0,
    lastSuccessAt: 0,
    lastError: "",
    lastDurationMs: 0,
    sandboxes: 0,
    missing: 0,
  };

  /** Creates an empty cache; nothing is asked until {@linkcode refresh} or {@linkcode run}. */
  constructor(options: CriMetadataCacheOptions) {
    this.#client = options.client;
    this.#intervalMs = options.syncIntervalMs ?? 5000;
    this.#logger = options.logger ?? NO_LOGGER;
    this.#endpoint = options.endpoint ?? options.client.endpoint ?? "";
  }

  /** The metadata of sandbox `id`, if the runtime has listed it. */
  get(id: string): PodMetadata | undefined {
    return this.#metadata.get(id);
  }

  /** All metadata by sandbox id: what the last successful sync listed, plus known leftovers. */
  entries(): ReadonlyMap<string, PodMetadata> {
    return this.#metadata;
  }

  /** Counters and the current state of the sync. */
  stats(): CriSyncStats {
    return { ...this.#stats, sandboxes: this.#metadata.size, missing: this.#missing().length };
  }

  /**
   * Tells the cache which sandboxes exist now (the complete set, e.g. the directories
   * under `/run/vc/sbs`). A new one without metadata makes {@linkcode run} sync one
   * interval later; ids left out are forgotten once the runtime stops listing them.
   */
  onSandboxesChanged(ids: Iterable<string>): void {
    const now = performance.now();
    const known = new Map<string, number>();
    for (const id of ids) known.set(id, this.#known.get(id) ?? now);
    this.#known = known;
    this.#wake?.();
  }

  /**
   * Lists the runtime's sandboxes now and replaces the metadata with what it lists (keeping
   * last-known metadata of known sandboxes it no longer lists). Concurrent calls share one
   * request.
   *
   * @throws {CriError} when the runtime cannot be reached; the metadata is then unchanged.
   */
  refresh(signal?: AbortSignal): Promise<void> {
    this.#inflight ??= this.#refresh(signal).finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  /**
   * Keeps the metadata in sync until `signal` aborts, then resolves once the call in
   * flight (if any) has been cancelled. Never rejects.
   *
   * @throws {Error} when already running.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#running) throw new Error("CriMetadataCache.run() is already running");
    this.#running = true;
    this.#lastAttemptAt = undefined;
    try {
      while (!signal.aborted) {
        const due = this.#nextDue();
        if (due === undefined || due > performance.now()) {
          await this.#sleep(due, signal);
          continue;
        }
        // Counted and logged by #refresh; the loop only carries on.
        await this.refresh(signal).catch(() => {});
      }
    } finally {
      this.#running = false;
    }
  }

  async #refresh(signal?: AbortSignal): Promise<void> {
    const started = performance.now();
    this.#lastAttemptAt = started;
    let items: PodSandbox[];
    try {
      items = await this.#client.listPodSandboxes({}, signal ? { signal } : {});
    } catch (error) {
      if (signal?.aborted) throw error;
      this.#failed(error);
      throw error;
    }
    const next = new Map<string, PodMetadata>();
    for (const item of items) {
      // A sandbox the runtime lists without metadata is as good as not listed.
      if (item.id && (item.uid || item.name)) {
        next.set(item.id, { uid: item.uid, name: item.name, namespace: item.namespace });
      }
    }
    for (const id of this.#known.keys()) {
      const old = this.#metadata.get(id);
      if (old && !next.has(id)) next.set(id, old);
    }
    this.#metadata = next;
    const durationMs = performance.now() - started;
    const stats = this.#stats;
    stats.refreshes++;
    stats.lastSuccessAt = Date.now();
    stats.lastDurationMs = durationMs;
    stats.lastError = "";
    const fields = {
      endpoint: this.#endpoint,
      sandboxes: next.size,
      missing: this.#missing().length,
      durationMs: Math.round(durationMs * 10) / 10,
    };
    if (this.#failing) {
      this.#logger.info("Pod metadata sync from the CRI runtime recovered", {
        ...fields,
        failures: stats.consecutiveFailures,
      });
    } else {
      this.#logger.debug("Synced pod metadata from the CRI runtime", fields);
    }
    this.#failing = false;
    stats.consecutiveFailures = 0;
  }

  #failed(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    const stats = this.#stats;
    stats.failures++;
    stats.consecutiveFailures++;
    stats.lastError = message;
    const fields = { endpoint: this.#endpoint, error: message, missing: this.#missing().length };
    if (this.#failing) {
      this.#logger.debug("Pod metadata sync from the CRI runtime still failing", {
        ...fields,
        failures: stats.consecutiveFailures,
      });
    } else {
      this.#logger.warn("Pod metadata sync from the CRI runtime failed", fields);
    }
    this.#failing = true;
  }

  /** Known sandboxes without metadata. */
  #missing(): string[] {
    return [...this.#known.keys()].filter((id) => !this.#metadata.has(id));
  }

  /** When the next sync is due (performance.now() time), or undefined for "not until told". */
  #nextDue(): number | undefined {
    if (this.#lastAttemptAt === undefined) return performance.now();
    let firstSeen: number | undefined;
    for (const [id, seen] of this.#known) {
      if (!this.#metadata.has(id) && (firstSeen === undefined || seen < firstSeen)) {
        firstSeen = seen;
      }
    }
    if (firstSeen === undefined) return undefined;
    return Math.max(firstSeen, this.#lastAttemptAt) + this.#intervalMs;
  }

  /** Waits until `due`, a call to onSandboxesChanged, or `signal`, whichever comes first. */
  #sleep(due: number | undefined, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        cancel?.();
        signal.removeEventListener("abort", done);
        this.#wake = undefined;
        resolve();
      };
      const cancel = due === undefined ? undefined : after(due - performance.now(), done);
      this.#wake = done;
      signal.addEventListener("abort", done, { once: true });
    });
  }
}
