/**
 * A Kubernetes API server emulator for tests, faithful enough that the real `kubectl` and
 * `@kubernetes/client-node` work against it: discovery, list/get/create/update/patch/delete
 * for the kinds in `resources.ts` (pods with `status` and `log`), label and field
 * selectors, `resourceVersion` on every object and list, watches resumable from a
 * resourceVersion with BOOKMARKs and `410 Gone` past the retained history, server-side
 * Tables for `kubectl get`, owner-reference garbage collection, and fault injection
 * (closed or silent watches, 500s, stop and restart on the same port with state kept).
 * HTTP on 127.0.0.1 only.
 *
 * @module
 */
import {
  BadRequest,
  type Json,
  jsonPatch,
  matchesFields,
  matchesLabels,
  mergePatch,
  parseFieldSelector,
  parseLabelSelector,
} from "./_match.ts";
import {
  ApiError,
  body,
  discoveryAnswer,
  encoder,
  json,
  meta,
  patchType,
  status,
} from "./_http.ts";
import { toTable } from "./_table.ts";
import { apiVersionOf, resourceList, RESOURCES, type ResourceType } from "./resources.ts";

/** Options of {@linkcode KubeEmulator.start}. */
export interface KubeEmulatorOptions {
  /** Port to listen on; 0 picks a free one. */
  port?: number;
  /** Watch events kept for resuming; older resourceVersions get 410 Gone. */
  historyLimit?: number;
  /** Interval of BOOKMARK events on watches that allow them. */
  bookmarkIntervalMs?: number;
  /** Serve HTTPS with this PEM certificate and key (and write `ca` into kubeconfigs). */
  tls?: { cert: string; key: string; ca: string };
}

type EventType = "ADDED" | "MODIFIED" | "DELETED";

interface Change {
  rv: number;
  type: EventType;
  resource: ResourceType;
  object: Json;
  /** The object before a modification, to tell selector watches when it stops matching. */
  previous?: Json;
}

interface Watch {
  resource: ResourceType;
  namespace?: string;
  labels: ReturnType<typeof parseLabelSelector>;
  fields: ReturnType<typeof parseFieldSelector>;
  table: boolean;
  includeObject: string | null;
  send(line: Json): void;
  close(): void;
  silent: boolean;
}

/** A running emulator. */
export class KubeEmulator {
  readonly #objects = new Map<string, { resource: ResourceType; object: Json }>();
  readonly #history: Change[] = [];
  readonly #watches = new Set<Watch>();
  readonly #logs = new Map<string, string>();
  readonly #failures: { status: number; path: string }[] = [];
  readonly #options: Required<KubeEmulatorOptions>;
  #rv = 1;
  #server: Deno.HttpServer | undefined;
  #port = 0;
  /** Every request served, as `METHOD /path?query`, for assertions. */
  readonly requests: string[] = [];

  private constructor(options: KubeEmulatorOptions) {
    this.#options = {
      port: 0,
      historyLimit: 1000,
      bookmarkIntervalMs: 10_000,
      tls: undefined!,
      ...options,
    };
    for (const name of ["default", "kube-system", "kube-public"]) {
      this.#store(
        this.#type("namespaces"),
        { metadata: { name }, status: { phase: "Active" } },
        "ADDED",
      );
    }
  }

  /**
   * Starts an emulator on 127.0.0.1; without a port, on a free one below the kernel's ephemeral
   * range (32768–60999), which {@linkcode restart} finds free again.
   */
  static async start(options: KubeEmulatorOptions = {}): Promise<KubeEmulator> {
    const emulator = new KubeEmulator(options);
    for (let attempt = 1;; attempt++) {
      try {
        await emulator.#listen(options.port ?? 10_000 + Math.floor(Math.random() * 22_000));
        return emulator;
      } catch (error) {
        const retry = options.port === undefined && error instanceof Deno.errors.AddrInUse;
        if (!retry || attempt >= 100) throw error;
      }
    }
  }

  /** Base URL, e.g. `http://127.0.0.1:41234` (`https://` with TLS). */
  get url(): string {
    return `${this.#options.tls ? "https" : "http"}://127.0.0.1:${this.#port}`;
  }

  /** The current resourceVersion. */
  get resourceVersion(): string {
    return String(this.#rv);
  }

  #listen(port: number): Promise<void> {
    return new Promise((resolve) => {
      const tls = this.#options.tls;
      this.#server = Deno.serve({
        hostname: "127.0.0.1",
        port,
        ...(tls ? { cert: tls.cert, key: tls.key } : {}),
        onListen: ({ port }) => {
          this.#port = port;
          resolve();
        },
      }, (request) => this.#handle(request));
    });
  }

  /** Stops serving (watches are closed); the stored objects are kept for {@linkcode restart}. */
  async stop(): Promise<void> {
    this.closeWatches();
    await this.#server?.shutdown();
    this.#server = undefined;
  }

  /** Serves again on the same port, with the same objects and history. */
  async restart(): Promise<void> {
    if (!this.#server) await this.#listen(this.#port);
  }

  /** Stops the emulator for good. */
  close(): Promise<void> {
    return this.stop();
  }

  /** How many watch streams are open. */
  get openWatches(): number {
    return this.#watches.size;
  }

  /** Ends every open watch stream, as a server or proxy timing out would. */
  closeWatches(): void {
    for (const watch of this.#watches) watch.close();
    this.#watches.clear();
  }

  /** Keeps every open watch connected but sends it nothing more: a silent watch. */
  silenceWatches(): void {
    for (const watch of this.#watches) watch.silent = true;
  }

  /**
   * Answers the next `count` requests with `status` (default 500); with `path`, only the
   * requests whose path starts with it.
   */
  failNext(count: number, options: { status?: number; path?: string } = {}): void {
    for (let i = 0; i < count; i++) {
      this.#failures.push({ status: options.status ?? 500, path: options.path ?? "/" });
    }
  }

  /** Forgets the watch history, so that resuming from an older resourceVersion gets 410. */
  compact(): void {
    this.#history.length = 0;
  }

  /** Writes a kubeconfig for this emulator and returns its path. */
  async writeKubeconfig(path: string, namespace = "default"): Promise<string> {
    const config = [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: emulator",
      "  cluster:",
      `    server: ${this.url}`,
      this.#options.tls
        ? `    certificate-authority-data: ${btoa(this.#options.tls.ca)}`
        : "    insecure-skip-tls-verify: true",
      "users:",
      "- name: tester",
      "  user:",
      "    token: emulator-token",
      "contexts:",
      "- name: emulator",
      "  context:",
      "    cluster: emulator",
      "    user: tester",
      `    namespace: ${namespace}`,
      "current-context: emulator",
      "",
    ].join("\n");
    await Deno.writeTextFile(path, config);
    return path;
  }

  /** Creates or replaces an object directly (as a controller or kubelet would), firing watches. */
  put(object: Json): Json {
    const resource = this.#typeOfObject(object);
    const key = this.#key(
      resource,
      meta(object).namespace as string | undefined,
      String(meta(object).name),
    );
    const existing = this.#objects.get(key)?.object;
    if (existing) {
      const m = meta(object);
      m.uid = meta(existing).uid;
      m.creationTimestamp = meta(existing).creationTimestamp;
      return this.#store(resource, object, "MODIFIED", existing);
    }
    return this.#store(resource, this.#prepareNew(resource, object), "ADDED");
  }

  /** Reads an object, or `undefined`. */
  get(plural: string, namespace: string | undefined, name: string): Json | undefined {
    const found = this.#objects.get(this.#key(this.#type(plural), namespace, name));
    return found ? structuredClone(found.object) : undefined;
  }

  /** Lists objects of a type, optionally in one namespace. */
  list(plural: string, namespace?: string): Json[] {
    const resource = this.#type(plural);
    return [...this.#objects.values()]
      .filter((e) =>
        e.resource === resource && (!namespace || meta(e.object).namespace === namespace)
      )
      .map((e) => structuredClone(e.object));
  }

  /** Deletes an object directly, firing watches; returns whether it existed. */
  remove(plural: string, namespace: string | undefined, name: string): boolean {
    const resource = this.#type(plural);
    const key = this.#key(resource, namespace, name);
    if (!this.#objects.has(key)) return false;
    this.#delete(resource, key);
    return true;
  }

  /** Sets what `pods/log` returns for a container (`previous` for the last terminated one). */
  setLog(namespace: string, pod: string, container: string, text: string, previous = false): void {
    this.#logs.set(`${namespace}/${pod}/${container}/${previous}`, text);
  }

  #type(plural: string): ResourceType {
    const resource = RESOURCES.find((r) => r.plural === plural);
    if (!resource) throw new Error(`the emulator does not serve ${plural}`);
    return resource;
  }

  #typeOfObject(object: Json): ResourceType {
    const resource = RESOURCES.find((r) =>
      apiVersionOf(r) === object.apiVersion && r.kind === object.kind
    );
    if (!resource) {
      throw new Error(`the emulator does not serve ${object.apiVersion} ${object.kind}`);
    }
    return resource;
  }

  #key(resource: ResourceType, namespace: string | undefined, name: string): string {
    return `${resource.group}/${resource.plural}/${
      resource.namespaced ? namespace ?? "" : ""
    }/${name}`;
  }

  #prepareNew(resource: ResourceType, object: Json): Json {
    const m = meta(object);
    m.uid = crypto.randomUUID();
    m.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    if (resource.kind !== "Pod" && resource.kind !== "Event") m.generation = 1;
    return object;
  }

  /** Stores an object with a new resourceVersion and tells the watches. */
  #store(resource: ResourceType, object: Json, type: EventType, previous?: Json): Json {
    object.apiVersion = apiVersionOf(resource);
    object.kind = resource.kind;
    const m = meta(object);
    if (!resource.namespaced) delete m.namespace;
    if (type === "ADDED" && !m.uid) this.#prepareNew(resource, object);
    m.resourceVersion = String(++this.#rv);
    this.#objects.set(this.#key(resource, m.namespace as string | undefined, String(m.name)), {
      resource,
      object,
    });
    this.#record({ rv: this.#rv, type, resource, object: structuredClone(object), previous });
    return structuredClone(object);
  }

  #delete(resource: ResourceType, key: string): Json {
    const { object } = this.#objects.get(key)!;
    this.#objects.delete(key);
    const m = meta(object);
    // Deleting a namespace deletes what is in it; deleting an owner deletes what it owns.
    if (resource.kind === "Namespace") {
      for (const [k, e] of [...this.#objects]) {
        if (e.resource.namespaced && meta(e.object).namespace === m.name && this.#objects.has(k)) {
          this.#delete(e.resource, k);
        }
      }
    }
    for (const [k, e] of [...this.#objects]) {
      const owners = (meta(e.object).ownerReferences as Json[] | undefined) ?? [];
      if (owners.some((o) => o.uid === m.uid) && this.#objects.has(k)) this.#delete(e.resource, k);
    }
    m.resourceVersion = String(++this.#rv);
    this.#record({ rv: this.#rv, type: "DELETED", resource, object: structuredClone(object) });
    return object;
  }

  #record(change: Change): void {
    this.#history.push(change);
    if (this.#history.length > this.#options.historyLimit) this.#history.shift();
    for (const watch of this.#watches) this.#deliver(watch, change);
  }

  #matches(watch: Pick<Watch, "namespace" | "labels" | "fields">, object: Json): boolean {
    const m = meta(object);
    return (!watch.namespace || m.namespace === watch.namespace) &&
      matchesLabels(watch.labels, m.labels as Record<string, string> | undefined) &&
      matchesFields(watch.fields, object);
  }

  #deliver(watch: Watch, change: Change): void {
    if (watch.resource !== change.resource || watch.silent) return;
    const now = this.#matches(watch, change.object);
    const before = change.previous ? this.#matches(watch, change.previous) : undefined;
    let type: EventType | undefined = now ? change.type : undefined;
    // An object that starts or stops matching a selector is ADDED to or DELETED from the watch.
    if (change.type === "MODIFIED" && before !== now) type = now ? "ADDED" : "DELETED";
    if (type) watch.send(this.#event(watch, type, change.object));
  }

  #event(
    watch: Pick<Watch, "table" | "resource" | "includeObject">,
    type: string,
    object: Json,
  ): Json {
    const rv = String(meta(object).resourceVersion);
    return {
      type,
      object: watch.table ? toTable(watch.resource, [object], rv, watch.includeObject) : object,
    };
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    this.requests.push(`${request.method} ${url.pathname}${url.search}`);
    const failing = this.#failures.findIndex((f) => url.pathname.startsWith(f.path));
    const failure = failing >= 0 ? this.#failures.splice(failing, 1)[0] : undefined;
    try {
      if (failure) throw new ApiError(failure.status, "InternalError", "injected failure");
      return await this.#route(request, url);
    } catch (error) {
      if (error instanceof ApiError) return status(error.code, error.reason, error.message);
      if (error instanceof BadRequest || error instanceof SyntaxError) {
        return status(400, "BadRequest", error.message);
      }
      return status(500, "InternalError", error instanceof Error ? error.message : String(error));
    }
  }

  async #route(request: Request, url: URL): Promise<Response> {
    const path = url.pathname.replace(/\/+$/, "");
    const discovery = discoveryAnswer(path, this.#port);
    if (discovery) return discovery;
    const parts = path.split("/").filter(Boolean);
    let group = "";
    let version: string;
    let rest: string[];
    if (parts[0] === "api" && parts[1]) {
      version = parts[1];
      rest = parts.slice(2);
    } else if (parts[0] === "apis" && parts[1] && parts[2]) {
      group = parts[1];
      version = parts[2];
      rest = parts.slice(3);
    } else {
      throw new ApiError(
        404,
        "NotFound",
        `the server could not find the requested resource (${path})`,
      );
    }
    if (rest.length === 0) {
      const list = resourceList(group, version);
      if (!list) throw new ApiError(404, "NotFound", `no resources in ${group}/${version}`);
      return json(list);
    }
    let namespace: string | undefined;
    if (rest[0] === "namespaces" && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [plural, name, subresource] = rest;
    const resource = RESOURCES.find((r) =>
      r.group === group && r.version === version && r.plural === plural
    );
    if (!resource || rest.length > 3) {
      throw new ApiError(
        404,
        "NotFound",
        `the server could not find the requested resource (${path})`,
      );
    }
    if (!resource.namespaced) namespace = undefined;
    if (subresource && !(resource.subresources ?? []).includes(subresource)) {
      throw new ApiError(404, "NotFound", `${resource.plural}/${subresource} is not served`);
    }
    const table = (request.headers.get("accept") ?? "").includes("as=Table");
    if (!name) return await this.#collection(request, url, resource, namespace, table);
    if (subresource === "log") return this.#log(url, namespace!, name);
    return await this.#single(request, url, resource, namespace, name, subresource, table);
  }

  async #collection(
    request: Request,
    url: URL,
    resource: ResourceType,
    namespace: string | undefined,
    table: boolean,
  ): Promise<Response> {
    const labels = parseLabelSelector(url.searchParams.get("labelSelector") ?? "");
    const fields = parseFieldSelector(url.searchParams.get("fieldSelector") ?? "");
    const filter = { namespace, labels, fields };
    const selected = () =>
      [...this.#objects.values()]
        .filter((e) => e.resource === resource && this.#matches(filter, e.object))
        .map((e) => e.object)
        .sort((a, b) =>
          `${meta(a).namespace}/${meta(a).name}`.localeCompare(
            `${meta(b).namespace}/${meta(b).name}`,
          )
        );
    switch (request.method) {
      case "GET": {
        const watch = url.searchParams.get("watch");
        if (watch === "1" || watch === "true") {
          return this.#watch(url, { resource, ...filter, table });
        }
        const rv = this.resourceVersion;
        const items = selected();
        if (table) return json(toTable(resource, items, rv, url.searchParams.get("includeObject")));
        return json({
          kind: `${resource.kind}List`,
          apiVersion: apiVersionOf(resource),
          metadata: { resourceVersion: rv },
          items,
        });
      }
      case "POST": {
        if (!resource.namespaced && namespace) {
          throw new ApiError(404, "NotFound", "not namespaced");
        }
        const object = await body(request);
        const m = meta(object);
        if (resource.namespaced) {
          if (m.namespace && namespace && m.namespace !== namespace) {
            throw new ApiError(
              400,
              "BadRequest",
              "the namespace of the object does not match the namespace on the request",
            );
          }
          m.namespace = namespace ?? m.namespace ?? "default";
          if (
            !this.#objects.has(this.#key(this.#type("namespaces"), undefined, String(m.namespace)))
          ) {
            throw new ApiError(404, "NotFound", `namespaces "${m.namespace}" not found`);
          }
        }
        if (!m.name && m.generateName) {
          m.name = `${m.generateName}${crypto.randomUUID().slice(0, 5)}`;
        }
        if (!m.name) {
          throw new ApiError(422, "Invalid", `${resource.kind} "": metadata.name: Required value`);
        }
        const key = this.#key(resource, m.namespace as string | undefined, String(m.name));
        if (this.#objects.has(key)) {
          throw new ApiError(409, "AlreadyExists", `${resource.plural} "${m.name}" already exists`);
        }
        for (const field of ["uid", "resourceVersion", "creationTimestamp"]) delete m[field];
        if (url.searchParams.get("dryRun") === "All") return json(object, 201);
        return json(this.#store(resource, object, "ADDED"), 201);
      }
      case "DELETE": {
        const gone = selected().map((o) =>
          this.#delete(
            resource,
            this.#key(resource, meta(o).namespace as string | undefined, String(meta(o).name)),
          )
        );
        return json({
          kind: `${resource.kind}List`,
          apiVersion: apiVersionOf(resource),
          metadata: {},
          items: gone,
        });
      }
      default:
        throw new ApiError(
          405,
          "MethodNotAllowed",
          `${request.method} is not supported on a collection`,
        );
    }
  }

  async #single(
    request: Request,
    url: URL,
    resource: ResourceType,
    namespace: string | undefined,
    name: string,
    subresource: string | undefined,
    table: boolean,
  ): Promise<Response> {
    const key = this.#key(resource, namespace, name);
    const existing = this.#objects.get(key)?.object;
    const notFound = () => new ApiError(404, "NotFound", `${resource.plural} "${name}" not found`);
    switch (request.method) {
      case "GET":
        if (!existing) throw notFound();
        return json(
          table
            ? toTable(
              resource,
              [existing],
              this.resourceVersion,
              url.searchParams.get("includeObject"),
            )
            : existing,
        );
      case "DELETE": {
        if (!existing) throw notFound();
        if (url.searchParams.get("dryRun") === "All") return json(existing);
        return json(this.#delete(resource, key));
      }
      case "PUT":
      case "PATCH": {
        if (!existing) throw notFound();
        const input = await body(request, request.method === "PATCH" ? patchType(request) : "put");
        let next: Json;
        if (request.method === "PUT") {
          const expected = meta(input).resourceVersion;
          if (expected && expected !== meta(existing).resourceVersion) {
            throw new ApiError(
              409,
              "Conflict",
              `Operation cannot be fulfilled on ${resource.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
            );
          }
          next = input;
        } else if (patchType(request) === "json") {
          next = jsonPatch(existing, input);
        } else {
          next = mergePatch(existing, input) as Json;
        }
        // The status subresource changes only status; the object itself never changes it.
        next = subresource === "status" ? { ...structuredClone(existing), status: next.status } : {
          ...next,
          ...(existing.status !== undefined ? { status: structuredClone(existing.status) } : {}),
        };
        const m = meta(next);
        Object.assign(m, {
          name,
          namespace: meta(existing).namespace,
          uid: meta(existing).uid,
          creationTimestamp: meta(existing).creationTimestamp,
        });
        if (m.generation !== undefined && subresource !== "status") {
          m.generation = Number(m.generation) + 1;
        }
        return json(this.#store(resource, next, "MODIFIED", existing));
      }
      default:
        throw new ApiError(405, "MethodNotAllowed", `${request.method} is not supported`);
    }
  }

  #log(url: URL, namespace: string, name: string): Response {
    const pod = this.#objects.get(this.#key(this.#type("pods"), namespace, name))?.object;
    if (!pod) throw new ApiError(404, "NotFound", `pods "${name}" not found`);
    const containers = ((pod.spec as Json | undefined)?.containers as Json[] | undefined) ?? [];
    const container = url.searchParams.get("container") ?? String(containers[0]?.name ?? "");
    const previous = url.searchParams.get("previous") === "true";
    const text = this.#logs.get(`${namespace}/${name}/${container}/${previous}`);
    if (text === undefined) {
      const what = previous ? "previous terminated container" : "container";
      throw new ApiError(400, "BadRequest", `${what} "${container}" in pod "${name}" not found`);
    }
    let lines = text.split("\n");
    if (lines.at(-1) === "") lines.pop();
    const tail = url.searchParams.get("tailLines");
    if (tail !== null) lines = lines.slice(Math.max(0, lines.length - Number(tail)));
    let out = lines.map((l) => `${l}\n`).join("");
    const limit = url.searchParams.get("limitBytes");
    if (limit !== null) out = out.slice(0, Number(limit));
    return new Response(out, { headers: { "content-type": "text/plain" } });
  }

  #watch(url: URL, filter: Omit<Watch, "send" | "close" | "silent" | "includeObject">): Response {
    const requested = url.searchParams.get("resourceVersion") ?? "";
    const bookmarks = url.searchParams.get("allowWatchBookmarks") === "true";
    const timeout = Number(url.searchParams.get("timeoutSeconds") ?? "0");
    const timers: ReturnType<typeof setTimeout>[] = [];
    let watch: Watch;
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        let open = true;
        watch = {
          ...filter,
          includeObject: url.searchParams.get("includeObject"),
          silent: false,
          send: (line) => {
            if (open) controller.enqueue(encoder.encode(JSON.stringify(line) + "\n"));
          },
          close: () => {
            if (!open) return;
            open = false;
            for (const t of timers) clearTimeout(t);
            this.#watches.delete(watch);
            controller.close();
          },
        };
        if (requested === "" || requested === "0") {
          for (const e of this.#objects.values()) {
            if (e.resource === filter.resource && this.#matches(filter, e.object)) {
              watch.send(this.#event(watch, "ADDED", e.object));
            }
          }
        } else {
          const from = Number(requested);
          const oldest = this.#history[0]?.rv ?? this.#rv + 1;
          if (!Number.isInteger(from) || (from < oldest - 1 && from < this.#rv)) {
            watch.send({
              type: "ERROR",
              object: {
                kind: "Status",
                apiVersion: "v1",
                metadata: {},
                status: "Failure",
                message: `too old resource version: ${requested} (${oldest - 1})`,
                reason: "Expired",
                code: 410,
              },
            });
            watch.close();
            return;
          }
          for (const change of this.#history) if (change.rv > from) this.#deliver(watch, change);
        }
        this.#watches.add(watch);
        if (bookmarks) {
          timers.push(setInterval(() => {
            if (watch.silent) return;
            watch.send({
              type: "BOOKMARK",
              object: {
                kind: filter.resource.kind,
                apiVersion: apiVersionOf(filter.resource),
                metadata: { resourceVersion: this.resourceVersion },
              },
            });
          }, this.#options.bookmarkIntervalMs));
        }
        if (timeout > 0) timers.push(setTimeout(() => watch.close(), timeout * 1000));
      },
      cancel: () => watch?.close(),
    });
    return new Response(stream, {
      headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
    });
  }
}
