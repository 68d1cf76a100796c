/**
 * S3's wire protocol for the store: SigV4-signed requests (`aws4fetch`) with a timeout, retried
 * with jittered exponential backoff on network errors, 5xx and throttling, answers read with a
 * size cap, errors turned into one-line {@linkcode S3Error}s. Requests go through
 * `node:http(s)` rather than `fetch`: Deno's `fetch` copies a request body twice (once into a
 * JS buffer left to the garbage collector), which measured at four to seven parts' worth of
 * memory per upload, where `node:http` streams the part from its buffer.
 * `HTTP_PROXY`/`HTTPS_PROXY` are not honoured on that path.
 *
 * @module
 */
import { AwsV4Signer } from "aws4fetch";
import { createHash } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
import { UnavailableError } from "../errors.ts";
import { readCapped, TooLarge } from "../io.ts";
import { after } from "../pool.ts";
import { xmlText } from "./_xml.ts";

/** What {@linkcode S3Fetch} is asked to send: a signed request. */
export interface S3FetchInit {
  method: string;
  headers: Headers;
  body?: Uint8Array<ArrayBuffer>;
  signal: AbortSignal;
}

/** Sends one request; the global `fetch` fits. */
export type S3Fetch = (url: URL, init: S3FetchInit) => Promise<Response>;

/** Listings and metadata objects are small; anything larger is not what we wrote. */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
const MAX_ERROR_BYTES = 64 * 1024;
const RETRYABLE_CODES = new Set([
  "SlowDown",
  "InternalError",
  "ServiceUnavailable",
  "RequestTimeout",
  "RequestTimeTooSkewed",
  "Throttling",
  "ThrottlingException",
]);

/** One S3 request, before signing. */
export interface S3Request {
  /** The S3 operation, for messages: `UploadPart`, `ListObjectsV2`... */
  operation: string;
  method: "GET" | "HEAD" | "PUT" | "POST" | "DELETE";
  /** The full object key (prefix included); none for a bucket request. */
  key?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Uint8Array<ArrayBuffer> | string;
  /** Statuses that are answers rather than failures, e.g. 404 for a delete. */
  accept?: number[];
  /**
   * Takes a successful answer's body as it streams (a download) instead of reading it as
   * text; it runs again on a retry, so it must start its output afresh.
   */
  sink?: (body: ReadableStream<Uint8Array>) => Promise<void>;
}

/** What S3 answered. */
export interface S3Answer {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * An S3 request that failed for good: a one-line message naming the operation, the object,
 * the endpoint and S3's error code and message.
 */
export class S3Error extends UnavailableError {
  constructor(
    /** `UploadPart to http://minio:9000 answered 500 InternalError: ...`, without the object. */
    readonly detail: string,
    readonly object: string,
    readonly status: number,
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(`S3 request for "${object}" failed: ${detail}`, options);
  }
}

/** An answer too large to be one of ours: not worth retrying. */
class AnswerTooLarge extends Error {}

/** Where and how {@linkcode S3Client} sends. */
export interface S3ClientOptions {
  /** The endpoint, e.g. `https://s3.eu-west-1.amazonaws.com` or `http://minio:9000/base`. */
  base: URL;
  bucket: string;
  /** Path-style URLs (`endpoint/bucket/key`) rather than virtual hosts (`bucket.endpoint`). */
  pathStyle: boolean;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  fetch: S3Fetch;
  attempts: number;
  retryDelayMs: number;
  timeoutMs: number;
}

/** Signs, sends and retries requests to one bucket. */
export class S3Client {
  /** The endpoint, for messages. */
  readonly endpoint: string;
  /** Signing keys by day, so that a request costs one HMAC rather than five. */
  readonly #signingKeys = new Map<string, ArrayBuffer>();

  /** Creates a client for `options.bucket`. */
  constructor(readonly options: S3ClientOptions) {
    this.endpoint = `${options.base.origin}${options.base.pathname.replace(/\/+$/, "")}`;
  }

  /**
   * The URL of an object (or of the bucket), path-style or virtual-host style.
   *
   * @example Usage
   * ```ts ignore
   * client.url("cores/prod/a b.json"); // "http://minio:9000/bucket/cores/prod/a%20b.json"
   * ```
   */
  url(key?: string, query: Record<string, string> = {}): string {
    const { base, bucket } = this.options;
    const path = key === undefined ? "" : "/" + key.split("/").map(encodeRfc3986).join("/");
    const basePath = base.pathname.replace(/\/+$/, "");
    const url = this.options.pathStyle
      ? `${base.origin}${basePath}/${encodeRfc3986(bucket)}${path}`
      : `${base.protocol}//${bucket}.${base.host}${basePath}${path || "/"}`;
    const search = new URLSearchParams(query).toString();
    return search === "" ? url : `${url}?${search}`;
  }

  /** Signs and sends a request, retrying what may succeed on another attempt. */
  async request(request: S3Request): Promise<S3Answer> {
    const url = this.url(request.key, request.query);
    const body = request.body === undefined
      ? undefined
      : typeof request.body === "string"
      ? new TextEncoder().encode(request.body)
      : request.body;
    const payloadHash = createHash("sha256").update(body ?? new Uint8Array()).digest("hex");
    for (let attempt = 1;; attempt++) {
      let status = 0;
      let code = "";
      let message: string;
      let retryable = true;
      // One key a day: drop the old ones rather than keep them for the daemon's lifetime.
      if (this.#signingKeys.size > 2) this.#signingKeys.clear();
      try {
        const signed = await new AwsV4Signer({
          url,
          method: request.method,
          headers: { ...request.headers, "x-amz-content-sha256": payloadHash },
          body,
          ...this.options.credentials,
          service: "s3",
          region: this.options.region,
          cache: this.#signingKeys,
        }).sign();
        const response = await this.options.fetch(signed.url, {
          method: request.method,
          headers: signed.headers,
          body,
          signal: AbortSignal.timeout(this.options.timeoutMs),
        });
        status = response.status;
        const failed = !response.ok && !request.accept?.includes(status);
        if (!failed && request.sink && response.body) {
          await request.sink(response.body);
          return { status, headers: response.headers, text: "" };
        }
        const text = request.method === "HEAD"
          ? ""
          : await readText(response, failed ? MAX_ERROR_BYTES : MAX_ANSWER_BYTES, failed);
        // CompleteMultipartUpload may answer 200 and fail in the body.
        const error = failed || (request.operation === "CompleteMultipartUpload" &&
            /<Error>/.test(text))
          ? text
          : undefined;
        if (error === undefined) return { status, headers: response.headers, text };
        code = xmlText(error, "Code") ?? "";
        message = xmlText(error, "Message") ?? (response.statusText || "no message");
        retryable = status >= 500 || status === 429 || RETRYABLE_CODES.has(code);
      } catch (error) {
        if (error instanceof AnswerTooLarge) retryable = false;
        message = error instanceof DOMException && error.name === "TimeoutError"
          ? `no answer within ${this.options.timeoutMs} ms`
          : error instanceof Error
          ? error.message
          : String(error);
      }
      if (!retryable || attempt >= this.options.attempts) {
        const tries = attempt > 1 ? ` (${attempt} attempts)` : "";
        throw this.failure(request.operation, request.key, status, code, `${message}${tries}`);
      }
      const delay = this.options.retryDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
      await new Promise<void>((resolve) => after(delay, resolve));
    }
  }

  /** The error for a request that failed for good. */
  failure(
    operation: string,
    key: string | undefined,
    status: number,
    code: string,
    message: string,
  ): S3Error {
    const answer = status === 0 ? "failed" : `answered ${status}${code ? ` ${code}` : ""}`;
    const detail = `${operation} to ${this.endpoint} ${answer}: ${oneLine(message)}`;
    return new S3Error(detail, `s3://${this.options.bucket}/${key ?? ""}`, status, code);
  }
}

const WRITE_CHUNK = 1 << 20;

/**
 * Sends a request with `node:http(s)`, writing the body in slices of its buffer (with
 * backpressure, `Content-Length` set), and returns the answer as a `Response` whose body
 * streams. The signal aborts the request and the reading of its answer.
 *
 * @example Usage
 * ```ts
 * const response = await nodeFetch(new URL("http://127.0.0.1:9000/bucket/key"), {
 *   method: "PUT",
 *   headers: new Headers(),
 *   body: new TextEncoder().encode("hello"),
 *   signal: AbortSignal.timeout(10_000),
 * });
 * ```
 */
export function nodeFetch(url: URL, init: S3FetchInit): Promise<Response> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = Object.fromEntries(init.headers);
    if (init.body !== undefined) headers["content-length"] = String(init.body.length);
    const request = (url.protocol === "https:" ? https : http).request({
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: url.port,
      path: url.pathname + url.search,
      method: init.method,
      headers,
    }, (response) => {
      const status = response.statusCode ?? 0;
      const empty = init.method === "HEAD" || status === 204 || status === 304;
      if (empty) response.resume();
      const answerHeaders = new Headers();
      for (const [name, value] of Object.entries(response.headers)) {
        for (const one of [value ?? []].flat()) answerHeaders.append(name, one);
      }
      try {
        resolve(
          new Response(empty ? null : Readable.toWeb(response) as ReadableStream<Uint8Array>, {
            status,
            statusText: response.statusMessage ?? "",
            headers: answerHeaders,
          }),
        );
      } catch (error) {
        request.destroy(error instanceof Error ? error : new Error(String(error)));
      }
    });
    const abort = () => request.destroy(init.signal.reason);
    init.signal.addEventListener("abort", abort, { once: true });
    request.on("close", () => init.signal.removeEventListener("abort", abort));
    request.on("error", reject);
    (async () => {
      const body = init.body;
      for (let offset = 0; body !== undefined && offset < body.length; offset += WRITE_CHUNK) {
        if (!request.write(body.subarray(offset, offset + WRITE_CHUNK))) {
          await once(request, "drain");
        }
      }
      request.end();
    })().catch((error) => request.destroy(error));
  });
}

/** Reads a response body up to `limit` bytes; past it, cuts (`truncate`) or fails. */
async function readText(response: Response, limit: number, truncate: boolean): Promise<string> {
  if (response.body === null) return "";
  try {
    const { bytes } = await readCapped(response.body, limit, { over: truncate ? "cut" : "fail" });
    return new TextDecoder().decode(bytes);
  } catch (error) {
    if (error instanceof TooLarge) {
      throw new AnswerTooLarge(`the answer is larger than ${limit} bytes`);
    }
    throw error;
  }
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 300 ? `${line.slice(0, 300)}\u2026` : line;
}

function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}
