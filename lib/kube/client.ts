/**
 * A small Kubernetes REST client on `fetch`: the verbs the agent needs (list, watch, get,
 * create, delete, logs), typed errors, bounded reads, and no 75 MB client library.
 *
 * @module
 */
import { AgentError, errorMessage, ExitCode, UnavailableError } from "../errors.ts";
import { readCapped } from "../io.ts";
import { redactUrls } from "../redact.ts";
import type { KubeTarget } from "./kubeconfig.ts";

/** A JSON object from the API. */
export type KubeObject = Record<string, unknown> & {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string }[];
  };
};

/** One event of a watch stream. */
export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: KubeObject;
}

/** The API answered with an error status. Exit code 3 for 5xx and auth failures, else 2. */
export class KubeApiError extends AgentError {
  /** Creates the error from the HTTP status and the API's Status reason. */
  constructor(readonly status: number, readonly reason: string, message: string) {
    super(
      message,
      status >= 500 || status === 401 || status === 403 ? ExitCode.Unavailable : ExitCode.Usage,
    );
  }
}

/** Options of one request. */
export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  /** Give up after this many milliseconds (default 30 s; watches pass 0 for none). */
  timeoutMs?: number;
}

/** Selectors of a list or watch. */
export interface Selection {
  labelSelector?: string;
  fieldSelector?: string;
}

/**
 * A `JSON.parse` reviver applied while an answer is decoded: what it drops (a Secret's
 * values) is never part of the object handed on.
 */
export type Reviver = (this: unknown, key: string, value: unknown) => unknown;

/** The most a log read or a single watch line may hold. */
const MAX_LINE_BYTES = 16 * 1024 * 1024;

/**
 * A client for one API server.
 *
 * @example Usage
 * ```ts ignore
 * const client = new KubeClient(await loadKubeTarget());
 * const pods = await client.list("/api/v1/pods", { labelSelector: "app=milvus" });
 * ```
 */
export class KubeClient {
  /** Creates a client for `target`; `fetcher` (default: the target's) is replaceable in tests. */
  constructor(
    readonly target: KubeTarget,
    private readonly fetcher: (input: URL, init: RequestInit) => Promise<Response> = target.fetch ??
      fetch,
  ) {}

  /** Sends a request and returns the response, throwing on any non-2xx status. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const url = new URL(this.target.server + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== "") url.searchParams.set(key, String(value));
    }
    const timeout = options.timeoutMs ?? 30_000;
    const signals = [options.signal, timeout > 0 ? AbortSignal.timeout(timeout) : undefined].filter(
      (s) => s !== undefined,
    );
    let response: Response;
    try {
      response = await this.fetcher(url, {
        method,
        headers: {
          accept: "application/json",
          ...(options.body !== undefined
            ? { "content-type": options.contentType ?? "application/json" }
            : {}),
          ...(await this.target.headers()),
        },
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: signals.length > 0 ? AbortSignal.any(signals) : undefined,
      });
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const reason = error instanceof DOMException && error.name === "TimeoutError"
        ? `no answer within ${timeout / 1000} s`
        : describeNetworkError(error);
      // Both the server and the network error's own message can hold a URL with credentials.
      throw new UnavailableError(
        redactUrls(`Cannot reach the Kubernetes API at ${this.target.server}: ${reason}`),
        { cause: error },
      );
    }
    if (response.ok) return response;
    const text = await readText(response, 64 * 1024);
    let reason = response.statusText;
    let message = text.trim() || response.statusText;
    try {
      const status = JSON.parse(text);
      if (status?.kind === "Status") {
        reason = status.reason ?? reason;
        message = status.message ?? message;
      }
    } catch {
      // Not a Status object: keep the text.
    }
    throw new KubeApiError(
      response.status,
      reason,
      `Kubernetes API ${method} ${path}: ${response.status} ${message}`,
    );
  }

  /** Sends a request and parses the JSON answer. */
  async json<T = KubeObject>(
    method: string,
    path: string,
    options: RequestOptions & { reviver?: Reviver } = {},
  ): Promise<T> {
    const response = await this.request(method, path, options);
    return JSON.parse(await readText(response, MAX_LINE_BYTES * 8), options.reviver) as T;
  }

  /** Lists a collection: its items and the list's resourceVersion. */
  async list(
    path: string,
    selection: Selection = {},
    reviver?: Reviver,
  ): Promise<{ items: KubeObject[]; resourceVersion: string }> {
    const list = await this.json<{ items?: KubeObject[]; metadata?: { resourceVersion?: string } }>(
      "GET",
      path,
      { query: { ...selection }, reviver },
    );
    return { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? "" };
  }

  /**
   * Watches a collection from `resourceVersion`, yielding events until the server ends the
   * stream or `signal` aborts. Lines longer than 16 MiB end the watch with an error.
   */
  async *watch(
    path: string,
    options: Selection & {
      resourceVersion?: string;
      timeoutSeconds?: number;
      signal?: AbortSignal;
      reviver?: Reviver;
    },
  ): AsyncGenerator<WatchEvent> {
    const response = await this.request("GET", path, {
      query: {
        watch: 1,
        allowWatchBookmarks: true,
        resourceVersion: options.resourceVersion,
        timeoutSeconds: options.timeoutSeconds,
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
      },
      signal: options.signal,
      timeoutMs: 0,
    });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const decoder = new WatchDecoder(options.reviver);
    try {
      for (;;) {
        // Each chunk is read and decoded in another function: this generator's frame, which
        // lives on while it waits for the consumer, never holds the chunk's text (with a
        // Secret's values in it, before the reviver dropped them).
        const events = await decoder.next(reader);
        if (events === undefined) return;
        for (const event of events) {
          yield event;
          if (options.signal?.aborted) return;
        }
      }
    } finally {
      await reader.cancel().catch(() => {});
    }
  }

  /** Reads a container's log, at most `limitBytes` (default 64 KiB). */
  async log(
    namespace: string,
    pod: string,
    options: { container?: string; previous?: boolean; tailLines?: number; limitBytes?: number } =
      {},
  ): Promise<string> {
    const limit = options.limitBytes ?? 64 * 1024;
    const response = await this.request("GET", `/api/v1/namespaces/${namespace}/pods/${pod}/log`, {
      query: {
        container: options.container,
        previous: options.previous,
        tailLines: options.tailLines,
        limitBytes: limit,
      },
    });
    return await readText(response, limit);
  }
}

/** Splits a watch stream's text into events, one line each. */
class WatchDecoder {
  /** The start of a line whose end has not come yet: a copy, never a slice of a chunk. */
  #rest = "";

  constructor(private readonly reviver?: Reviver) {}

  /** The events of the next chunk, or `undefined` at the end of the stream. */
  async next(reader: ReadableStreamDefaultReader<string>): Promise<WatchEvent[] | undefined> {
    const { done, value } = await reader.read();
    return done ? undefined : this.#decode(value);
  }

  #decode(chunk: string): WatchEvent[] {
    const text = this.#rest + chunk;
    const events: WatchEvent[] = [];
    // One slice per line of the chunk, not one per line of what is left: a chunk can hold
    // thousands of events.
    let start = 0;
    let newline: number;
    while ((newline = text.indexOf("\n", start)) >= 0) {
      const line = text.slice(start, newline).trim();
      start = newline + 1;
      if (line) events.push(JSON.parse(line, this.reviver) as WatchEvent);
    }
    if (text.length - start > MAX_LINE_BYTES) {
      throw new Error(`watch event longer than ${MAX_LINE_BYTES} bytes`);
    }
    // A slice would keep the whole chunk alive until the next one arrives.
    this.#rest = start === text.length ? "" : copy(text.slice(start));
    return events;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A string with storage of its own (V8 keeps slices pointing into their parent). */
function copy(text: string): string {
  return decoder.decode(encoder.encode(text));
}

/** Reads a response body as text, stopping at `max` bytes. */
async function readText(response: Response, max: number): Promise<string> {
  if (!response.body) return "";
  return new TextDecoder().decode((await readCapped(response.body, max)).bytes);
}

function describeNetworkError(error: unknown): string {
  // Deno's fetch says "fetch failed" and puts the reason in its cause.
  const messages: string[] = [];
  for (
    let e: unknown = error;
    e !== undefined && messages.length < 5;
    e = e instanceof Error ? e.cause : undefined
  ) {
    messages.push(errorMessage(e));
  }
  const message = messages.join(": ");
  if (/Connection refused|ECONNREFUSED/i.test(message)) return "connection refused";
  if (/dns error|failed to lookup/i.test(message)) return "host not found";
  if (/certificate|tls|ssl/i.test(message)) return `TLS error (${messages.at(-1)!.split("\n")[0]})`;
  return messages.at(-1)!.split("\n")[0]!;
}
