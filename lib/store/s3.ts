/**
 * The S3 store: cores and their JSON metadata as objects in any S3-compatible bucket (AWS,
 * MinIO, Ceph), under `{prefix}{instance}/`. A core streams through the compressor into a
 * multipart upload of `partSize` parts, at most two of them in memory (one filling, one
 * uploading); a core smaller than a part is one PutObject. The object becomes visible only
 * when the upload completes, and any failure aborts the upload, so nothing is half-stored.
 * Requests are signed, timed out and retried by {@linkcode S3Client} (`_s3_client.ts`).
 *
 * An interrupted agent leaves incomplete uploads behind (invisible, but billed). Each upload
 * is tagged by a small marker object `{prefix}.uploads/{writer}/{uploadId}` (S3 keeps no
 * metadata on an incomplete upload that a listing shows), so that {@linkcode S3Store.sweep}
 * can abort those of gone processes of this node at once and other nodes' once they are an
 * hour old.
 *
 * @module
 */
import type { Readable } from "node:stream";
import { errorMessage, InputError, UnavailableError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { writeAll } from "../io.ts";
import { isLeftover, STALE_MS, writerTag } from "./_leftovers.ts";
import {
  EXPLANATION_SUFFIX,
  isSafeKey,
  metadataText,
  type PutOptions,
  type PutResult,
  type Store,
  type StoredObject,
  storedObject,
} from "./backend.ts";
import { type CompressedStream, compressedStream } from "./compress.ts";
import { objectName, safeName, safeObjectName } from "./names.ts";
import { nodeFetch, S3Client, S3Error, type S3Fetch } from "./_s3_client.ts";
import { escapeXml, xmlBlocks, xmlText } from "./_xml.ts";
import { type S3Config, s3Target } from "./_s3_config.ts";

export type { S3Fetch, S3FetchInit } from "./_s3_client.ts";

export { MIN_PART_SIZE, type S3Config } from "./_s3_config.ts";

/** Options of {@linkcode S3Store} beyond its configuration, mostly for tests. */
export interface S3StoreOptions {
  /** Reads environment variables (`AWS_*`); default `Deno.env.get`. */
  env?: (name: string) => string | undefined;
  /** Sends requests; default {@linkcode nodeFetch}, which streams bodies without copies. */
  fetch?: S3Fetch;
  /** Attempts per request; default 5. */
  attempts?: number;
  /** First retry delay, doubled each attempt and jittered; default 200 ms. */
  retryDelayMs?: number;
  /** Time limit of one request, body included; default 2 minutes. */
  requestTimeoutMs?: number;
  /** Keys or uploads per listing page; default the server's (1000). */
  pageSize?: number;
  /** Hears about best-effort steps that failed (cleanup of leftovers). */
  log?: Logger;
  /** The clock, for the age of other writers' leftovers. */
  now?: () => Date;
}

const MAX_PARTS = 10_000;

/** A store in an S3-compatible bucket. */
export class S3Store implements Store {
  readonly kind = "s3" as const;
  readonly location: string;
  readonly bucket: string;
  /** Where object keys start: empty, or ending in `/`. */
  readonly prefix: string;
  /** The endpoint, for messages. */
  readonly endpoint: string;
  readonly #client: S3Client;
  readonly #partSize: number;
  readonly #writer: string;
  readonly #pageSize: number | undefined;
  readonly #log: Logger | undefined;
  readonly #now: () => Date;
  /** Uploads under way in this process, which a sweep must not abort. */
  readonly #active = new Set<string>();

  /**
   * Creates a store from the `storage.s3` configuration. Credentials, region and endpoint
   * not set there come from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
   * `AWS_REGION` or `AWS_DEFAULT_REGION`, and `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`;
   * without an endpoint the store talks to AWS (`https://s3.{region}.amazonaws.com`).
   * `writer` names this agent in the markers of its uploads, for {@linkcode sweep}.
   *
   * @throws {ConfigError} when the bucket, prefix, endpoint, part size or credentials are
   * missing or invalid.
   *
   * @example Usage
   * ```ts
   * const store = new S3Store({
   *   endpoint: "http://minio.storage:9000",
   *   region: "us-east-1",
   *   bucket: "cores",
   *   prefix: "prod/",
   *   accessKeyId: "agent",
   *   secretAccessKey: "secret",
   *   forcePathStyle: true,
   *   partSize: 16 * 1024 * 1024,
   * }, "node-a");
   * store.uri("milvus/x.core.zst"); // "s3://cores/prod/milvus/x.core.zst"
   * ```
   */
  constructor(config: S3Config, writer = "agent", options: S3StoreOptions = {}) {
    const target = s3Target(config, options.env);
    this.bucket = target.bucket;
    this.prefix = target.prefix;
    this.#partSize = target.partSize;
    this.#writer = writerTag(writer);
    this.#client = new S3Client({
      base: target.base,
      bucket: this.bucket,
      pathStyle: config.forcePathStyle,
      region: target.region,
      credentials: target.credentials,
      fetch: options.fetch ?? nodeFetch,
      attempts: Math.max(1, options.attempts ?? 5),
      retryDelayMs: options.retryDelayMs ?? 200,
      timeoutMs: options.requestTimeoutMs ?? 120_000,
    });
    this.endpoint = this.#client.endpoint;
    this.#pageSize = options.pageSize;
    this.#log = options.log;
    this.#now = options.now ?? (() => new Date());
    this.location = `s3://${this.bucket}/${this.prefix}`;
  }

  /** The URI of a key: `s3://bucket/{prefix}{key}`. */
  uri(key: string): string {
    return `s3://${this.bucket}/${this.prefix}${key}`;
  }

  /**
   * The URL of an object (or of the bucket), path-style or virtual-host style.
   *
   * @example Usage
   * ```ts
   * store.url("cores/prod/a b.json"); // "http://minio:9000/bucket/cores/prod/a%20b.json"
   * ```
   */
  url(key?: string, query: Record<string, string> = {}): string {
    return this.#client.url(key, query);
  }

  /**
   * Stores a core compressed as `{prefix}{instance}/{name}`, then its metadata beside it as
   * `....json`. Incomplete uploads of the same key left by an earlier, interrupted run are
   * aborted first.
   *
   * @throws {InputError} when the source cannot be read (or its size is not as expected).
   * @throws {UnavailableError} when S3 refuses or cannot be reached; nothing is left stored.
   */
  async put(source: string | Readable, options: PutOptions): Promise<PutResult> {
    const name = options.name !== undefined
      ? safeObjectName(options.name)
      : objectName(options.time, options.pod, options.container, options.compression);
    const key = `${safeName(options.instance)}/${name}`;
    const objectKey = this.prefix + key;
    const what = typeof source === "string" ? `core "${source}"` : "the core from the stream";
    await this.#abortUploadsOf(objectKey);
    const stream = compressedStream(source, {
      compression: options.compression,
      sourceCompression: options.sourceCompression,
      expectedSourceBytes: options.expectedSourceBytes,
      maxUnpackedBytes: options.maxUnpackedBytes,
      writer: this.#writer,
    });
    try {
      await this.#upload(
        objectKey,
        stream,
        options.compression === "gzip" ? "application/gzip" : "application/zstd",
      );
    } catch (error) {
      const reason = error instanceof S3Error
        ? error.detail
        : error instanceof Error
        ? error.message
        : String(error);
      if (stream.sourceFailed()) {
        throw new InputError(`Cannot read ${what}: ${reason}`, { cause: error });
      }
      throw new UnavailableError(`Cannot store ${what} as "${this.uri(key)}": ${reason}`, {
        cause: error,
      });
    }
    const stored = stream.stats();
    const object = storedObject(key, this.uri(key), stored, options);
    try {
      await this.#client.request({
        operation: "PutObject",
        method: "PUT",
        key: `${objectKey}.json`,
        headers: { "content-type": "application/json" },
        body: metadataText(object),
      });
    } catch (error) {
      await this.#deleteObject(objectKey).catch((cleanup) => this.#warn(cleanup));
      throw new UnavailableError(
        `Cannot store the metadata of ${what} as "${this.uri(key)}.json": ${
          error instanceof S3Error ? error.detail : String(error)
        }`,
        { cause: error },
      );
    }
    return { ...object, sourceBytes: stored.sourceBytes };
  }

  /**
   * Sends the compressed bytes: one PutObject when they fit in a part, else a multipart
   * upload, aborted on any failure.
   */
  async #upload(objectKey: string, stream: CompressedStream, contentType: string): Promise<void> {
    const etags: string[] = [];
    let uploadId: string | undefined;
    let uploading: Promise<void> | undefined;
    // A part is flushed only once the byte after it arrives, so a core of at most one part
    // is a single PutObject, and the last part of a multipart upload is never empty.
    let part = Buffer.allocUnsafe(this.#partSize);
    // The buffer of the part uploading, refilled once that upload is over: two buffers in
    // all, reused rather than left to the garbage collector, which lets them pile up.
    let spare: Buffer<ArrayBuffer> | undefined;
    let filled = 0;
    try {
      try {
        for await (const chunk of stream.output as AsyncIterable<Uint8Array>) {
          for (let offset = 0; offset < chunk.length;) {
            if (filled === part.length) {
              // At most one part uploads while the next fills: the backpressure that bounds
              // memory to two parts.
              await uploading;
              uploadId ??= await this.#createUpload(objectKey, contentType);
              uploading = this.#uploadPart(objectKey, uploadId, etags, part);
              uploading.catch(() => {}); // Awaited (and thrown) before the next part or after.
              [part, spare] = [spare ?? Buffer.allocUnsafe(this.#partSize), part];
              filled = 0;
            }
            const take = Math.min(part.length - filled, chunk.length - offset);
            part.set(chunk.subarray(offset, offset + take), filled);
            filled += take;
            offset += take;
          }
        }
      } catch (error) {
        // Failing the output first tells compressedStream that the fault is ours, not the
        // source's, before leaving the loop closes it.
        stream.output.destroy(error instanceof Error ? error : new Error(String(error)));
        throw error;
      }
      const last = part.subarray(0, filled);
      if (uploadId === undefined) {
        await this.#client.request({
          operation: "PutObject",
          method: "PUT",
          key: objectKey,
          headers: { "content-type": contentType },
          body: last,
        });
        return;
      }
      await uploading;
      await this.#uploadPart(objectKey, uploadId, etags, last);
      await this.#completeUpload(objectKey, uploadId, etags, stream.stats().bytes);
      this.#active.delete(uploadId);
      await this.#removeMarker(uploadId);
    } catch (error) {
      await uploading?.catch(() => {});
      if (uploadId !== undefined) {
        await this.#abortUpload(objectKey, uploadId).catch((abort) => this.#warn(abort));
        this.#active.delete(uploadId);
      }
      throw error;
    }
  }

  async #createUpload(objectKey: string, contentType: string): Promise<string> {
    const answer = await this.#client.request({
      operation: "CreateMultipartUpload",
      method: "POST",
      key: objectKey,
      query: { uploads: "" },
      headers: { "content-type": contentType },
    });
    const uploadId = xmlText(answer.text, "UploadId");
    if (!uploadId) {
      throw this.#client.failure(
        "CreateMultipartUpload",
        objectKey,
        200,
        "",
        "the answer has no UploadId",
      );
    }
    this.#active.add(uploadId);
    await this.#client.request({
      operation: "PutObject",
      method: "PUT",
      key: this.#marker(uploadId),
      body: objectKey,
    }).catch((error) => this.#warn(error));
    return uploadId;
  }

  async #uploadPart(
    objectKey: string,
    uploadId: string,
    etags: string[],
    body: Uint8Array<ArrayBuffer>,
  ): Promise<void> {
    const number = etags.length + 1;
    if (number > MAX_PARTS) {
      throw this.#client.failure(
        "UploadPart",
        objectKey,
        0,
        "TooManyParts",
        `more than ${MAX_PARTS} parts: raise storage.s3.partSize`,
      );
    }
    etags.push("");
    const answer = await this.#client.request({
      operation: "UploadPart",
      method: "PUT",
      key: objectKey,
      query: { partNumber: String(number), uploadId },
      body,
    });
    const etag = answer.headers.get("etag");
    if (!etag) {
      throw this.#client.failure(
        "UploadPart",
        objectKey,
        answer.status,
        "",
        "the answer has no ETag",
      );
    }
    etags[number - 1] = etag;
  }

  async #completeUpload(
    objectKey: string,
    uploadId: string,
    etags: string[],
    bytes: number,
  ): Promise<void> {
    const body = "<CompleteMultipartUpload>" +
      etags.map((etag, index) =>
        `<Part><PartNumber>${index + 1}</PartNumber><ETag>${escapeXml(etag)}</ETag></Part>`
      ).join("") +
      "</CompleteMultipartUpload>";
    try {
      await this.#client.request({
        operation: "CompleteMultipartUpload",
        method: "POST",
        key: objectKey,
        query: { uploadId },
        headers: { "content-type": "application/xml" },
        body,
      });
    } catch (error) {
      // A retry after a lost answer finds the upload gone because it did complete.
      if (!(error instanceof S3Error && error.code === "NoSuchUpload")) throw error;
      const head = await this.#client.request({
        operation: "HeadObject",
        method: "HEAD",
        key: objectKey,
        accept: [404],
      });
      if (head.status !== 200 || Number(head.headers.get("content-length")) !== bytes) {
        throw error;
      }
    }
  }

  async #abortUpload(objectKey: string, uploadId: string): Promise<void> {
    await this.#client.request({
      operation: "AbortMultipartUpload",
      method: "DELETE",
      key: objectKey,
      query: { uploadId },
      accept: [404],
    });
    await this.#removeMarker(uploadId);
  }

  #marker(uploadId: string): string {
    return `${this.prefix}.uploads/${this.#writer}/${uploadId}`;
  }

  async #removeMarker(uploadId: string): Promise<void> {
    await this.#deleteObject(this.#marker(uploadId)).catch((error) => this.#warn(error));
  }

  /** Aborts incomplete uploads of exactly this key; a failure here only delays a sweep. */
  async #abortUploadsOf(objectKey: string): Promise<void> {
    try {
      for await (const upload of this.#uploads(objectKey)) {
        if (upload.key !== objectKey || this.#active.has(upload.uploadId)) continue;
        await this.#abortUpload(upload.key, upload.uploadId);
      }
    } catch (error) {
      this.#warn(error);
    }
  }

  /** Every stored object with readable metadata; `onSkip` hears about the others. */
  async *list(onSkip?: (where: string, reason: string) => void): AsyncGenerator<StoredObject> {
    for await (const entry of this.#objects(this.prefix)) {
      const relative = entry.key.slice(this.prefix.length);
      if (
        !/^[^/]+\/[^/]+\.json$/.test(relative) || relative.startsWith(".uploads/") ||
        relative.endsWith(EXPLANATION_SUFFIX)
      ) continue;
      let object: StoredObject;
      try {
        const answer = await this.#client.request({
          operation: "GetObject",
          method: "GET",
          key: entry.key,
        });
        object = JSON.parse(answer.text) as StoredObject;
        if (typeof object.key !== "string" || typeof object.bytes !== "number") {
          throw new Error("not a store record");
        }
        if (`${object.key}.json` !== relative) {
          throw new Error(`its key "${object.key}" is not where it is stored`);
        }
      } catch (error) {
        // Only S3 being unreachable stops the listing: a missing or refused object is one
        // record the caller cannot use.
        if (error instanceof S3Error && (error.status === 0 || error.status >= 500)) throw error;
        onSkip?.(
          `s3://${this.bucket}/${entry.key}`,
          error instanceof S3Error
            ? error.detail
            : error instanceof Error
            ? error.message
            : String(error),
        );
        continue;
      }
      yield object;
    }
  }

  /**
   * Deletes an object and its metadata; already gone is fine.
   *
   * @throws {InputError} for a key that could leave the store's prefix.
   * @throws {UnavailableError} when S3 refuses or cannot be reached.
   */
  async delete(key: string): Promise<void> {
    if (!isSafeKey(key)) {
      throw new InputError(`Refusing to delete "${key}": not a key of this store`);
    }
    // The object first: a failure in between leaves the record listed, so a retry finds it.
    await this.#deleteObject(this.prefix + key);
    await this.#deleteObject(`${this.prefix}${key}${EXPLANATION_SUFFIX}`);
    await this.#deleteObject(`${this.prefix}${key}.json`);
  }

  /**
   * Stores a small text object under `key` in one PutObject.
   *
   * @throws {UnavailableError} when S3 refuses or cannot be reached.
   */
  async putText(key: string, text: string): Promise<void> {
    if (!isSafeKey(key)) throw new InputError(`Refusing "${key}": not a key of this store`);
    try {
      await this.#client.request({
        operation: "PutObject",
        method: "PUT",
        key: this.prefix + key,
        headers: { "content-type": "application/json" },
        body: text,
      });
    } catch (error) {
      throw new UnavailableError(
        `Cannot store "${this.uri(key)}": ${
          error instanceof S3Error ? error.detail : errorMessage(error)
        }`,
        { cause: error },
      );
    }
  }

  async #deleteObject(objectKey: string): Promise<void> {
    await this.#client.request({
      operation: "DeleteObject",
      method: "DELETE",
      key: objectKey,
      accept: [404],
    });
  }

  /**
   * Checks that the object is there with the size its record says (S3 checked each part's
   * SHA-256 on the way in). `false` when it is missing or S3 cannot be asked.
   */
  async verify(object: StoredObject): Promise<boolean> {
    if (!isSafeKey(object.key)) return false;
    try {
      const answer = await this.#client.request({
        operation: "HeadObject",
        method: "HEAD",
        key: this.prefix + object.key,
        accept: [404],
      });
      return answer.status === 200 &&
        Number(answer.headers.get("content-length")) === object.bytes;
    } catch {
      return false;
    }
  }

  /** Whether an object (a debug bundle's file) is stored under `key`. */
  async hasFile(key: string): Promise<boolean> {
    if (!isSafeKey(key)) throw new InputError(`Refusing "${key}": not a key of this store`);
    const answer = await this.#client.request({
      operation: "HeadObject",
      method: "HEAD",
      key: this.prefix + key,
      accept: [404],
    });
    return answer.status === 200;
  }

  /** Uploads the file at `path` as it is under `key` (multipart when larger than a part). */
  async putFile(key: string, path: string): Promise<number> {
    if (!isSafeKey(key)) throw new InputError(`Refusing "${key}": not a key of this store`);
    const objectKey = this.prefix + key;
    await this.#abortUploadsOf(objectKey);
    // A source "already compressed as wanted" passes through untouched, counted and hashed.
    const stream = compressedStream(path, {
      compression: "zstd",
      sourceCompression: "zstd",
      writer: this.#writer,
    });
    try {
      await this.#upload(objectKey, stream, "application/octet-stream");
    } catch (error) {
      const reason = error instanceof S3Error ? error.detail : errorMessage(error);
      if (stream.sourceFailed()) {
        throw new InputError(`Cannot read "${path}": ${reason}`, { cause: error });
      }
      throw new UnavailableError(`Cannot store "${path}" as "${this.uri(key)}": ${reason}`, {
        cause: error,
      });
    }
    return stream.stats().bytes;
  }

  /** Downloads the object under `key` to `destination`, streaming. */
  async getFile(key: string, destination: string): Promise<void> {
    if (!isSafeKey(key)) throw new InputError(`Refusing "${key}": not a key of this store`);
    try {
      await this.#client.request({
        operation: "GetObject",
        method: "GET",
        key: this.prefix + key,
        sink: async (body) => {
          using file = await Deno.open(destination, { write: true, create: true, truncate: true });
          for await (const chunk of body) await writeAll(file, chunk);
        },
      });
    } catch (error) {
      throw new UnavailableError(`Cannot read "${this.uri(key)}": ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  /** `undefined`: a bucket has no free space to speak of. */
  freeBytes(): Promise<number | undefined> {
    return Promise.resolve(undefined);
  }

  /**
   * Aborts incomplete multipart uploads under the prefix: this process's (unless under way)
   * and those of processes of this node that are gone at once, other nodes' once they were
   * started an hour ago; never those of a live process of this node. Returns how many it
   * aborted.
   *
   * @throws {UnavailableError} when the uploads cannot be listed.
   */
  async sweep(): Promise<number> {
    const now = this.#now().getTime();
    const hourAgo = now - STALE_MS;
    const markers = `${this.prefix}.uploads/`;
    const mine = new Map<string, string>();
    const staleMarkers: string[] = [];
    for await (const entry of this.#objects(markers)) {
      const [writer, uploadId, ...rest] = entry.key.slice(markers.length).split("/");
      if (writer === undefined || uploadId === undefined || rest.length > 0) continue;
      if (this.#active.has(uploadId)) continue;
      if (writer !== this.#writer && entry.lastModified < hourAgo) {
        staleMarkers.push(entry.key);
      } else if (await isLeftover(writer, this.#writer, entry.lastModified, now)) {
        mine.set(uploadId, entry.key);
      }
    }
    let aborted = 0;
    for await (const upload of this.#uploads(this.prefix)) {
      if (this.#active.has(upload.uploadId)) continue;
      if (!mine.has(upload.uploadId) && !(upload.initiated < hourAgo)) continue;
      try {
        await this.#abortUpload(upload.key, upload.uploadId);
        aborted++;
      } catch (error) {
        this.#warn(error);
      }
    }
    // Markers of uploads that completed or were aborted while their writer was stopping.
    for (const marker of [...mine.values(), ...staleMarkers]) {
      await this.#deleteObject(marker).catch((error) => this.#warn(error));
    }
    return aborted;
  }

  /** Objects under `prefix` (ListObjectsV2, every page). */
  async *#objects(
    prefix: string,
  ): AsyncGenerator<{ key: string; size: number; lastModified: number }> {
    let token: string | undefined;
    do {
      const answer = await this.#client.request({
        operation: "ListObjectsV2",
        method: "GET",
        query: {
          "list-type": "2",
          prefix,
          ...(this.#pageSize ? { "max-keys": String(this.#pageSize) } : {}),
          ...(token ? { "continuation-token": token } : {}),
        },
      });
      for (const entry of xmlBlocks(answer.text, "Contents")) {
        const key = xmlText(entry, "Key");
        if (key === undefined || !key.startsWith(prefix)) continue;
        yield {
          key,
          size: Number(xmlText(entry, "Size")),
          lastModified: Date.parse(xmlText(entry, "LastModified") ?? ""),
        };
      }
      token = xmlText(answer.text, "IsTruncated") === "true"
        ? xmlText(answer.text, "NextContinuationToken")
        : undefined;
    } while (token);
  }

  /** Incomplete multipart uploads under `prefix` (ListMultipartUploads, every page). */
  async *#uploads(
    prefix: string,
  ): AsyncGenerator<{ key: string; uploadId: string; initiated: number }> {
    let markers: Record<string, string> = {};
    for (;;) {
      const answer = await this.#client.request({
        operation: "ListMultipartUploads",
        method: "GET",
        query: {
          uploads: "",
          prefix,
          ...(this.#pageSize ? { "max-uploads": String(this.#pageSize) } : {}),
          ...markers,
        },
      });
      for (const upload of xmlBlocks(answer.text, "Upload")) {
        const key = xmlText(upload, "Key");
        const uploadId = xmlText(upload, "UploadId");
        if (key === undefined || uploadId === undefined || !key.startsWith(prefix)) continue;
        yield { key, uploadId, initiated: Date.parse(xmlText(upload, "Initiated") ?? "") };
      }
      const keyMarker = xmlText(answer.text, "NextKeyMarker");
      if (xmlText(answer.text, "IsTruncated") !== "true" || !keyMarker) return;
      markers = {
        "key-marker": keyMarker,
        "upload-id-marker": xmlText(answer.text, "NextUploadIdMarker") ?? "",
      };
    }
  }

  #warn(error: unknown): void {
    this.#log?.warn(errorMessage(error), {
      store: this.location,
    });
  }
}
