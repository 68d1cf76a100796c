/**
 * A real S3 server for tests: `s3rver` (npm, run in-process under Deno's Node
 * compatibility) on 127.0.0.1, storing into a temporary directory, with one bucket. s3rver
 * lacks ListMultipartUploads and AbortMultipartUpload and accepts parts for an unknown
 * upload; {@linkcode S3Server} adds those two operations and the `NoSuchUpload` answers,
 * served from s3rver's own upload folders, so the store's cleanup is tested against the
 * server's real state. s3rver's ListObjectsV2 continuation tokens use DES, which Deno's
 * `node:crypto` lacks, so a v2 listing runs as s3rver's v1 (marker) listing underneath
 * with base64 keys as tokens. s3rver checks the access key id but not SigV4 signatures: a
 * wrong secret key goes unnoticed here.
 *
 * {@linkcode FaultProxy} stands in front of it and answers 500 or 503 SlowDown, drops the
 * connection, or loses S3's answer, for the requests a test picks; it also forwards
 * absolute-form (HTTP proxy) requests, so virtual-host addressing can be tested without DNS.
 *
 * @module
 */
import S3rver from "s3rver";
import { Buffer } from "node:buffer";
import http from "node:http";
import type { AddressInfo } from "node:net";

/** The access key id s3rver knows (its secret is the same). */
export const S3RVER_KEY = "S3RVER";

/** The bits of a Koa context the added operations use. */
interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  querystring: string;
  status: number;
  body: unknown;
  type: string;
  get(header: string): string;
}

type Middleware = (ctx: KoaContext, next: () => Promise<unknown>) => unknown;

interface S3rverInstance {
  middleware: Middleware[];
  httpServer?: http.Server;
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

/** An incomplete multipart upload on the server's disk. */
export interface ServerUpload {
  key: string;
  uploadId: string;
  initiated: Date;
}

/** s3rver on a free loopback port, with a bucket; `stop()` it. */
export class S3Server {
  /** `http://127.0.0.1:PORT`. */
  readonly endpoint: string;

  private constructor(
    readonly bucket: string,
    /** Where s3rver keeps buckets and objects. */
    readonly dir: string,
    readonly port: number,
    readonly server: S3rverInstance,
  ) {
    this.endpoint = `http://127.0.0.1:${port}`;
  }

  /**
   * Starts s3rver with `bucket`. Virtual-host requests work for `Host: {bucket}.s3.localhost`.
   */
  static async start(bucket = "cores"): Promise<S3Server> {
    const dir = await Deno.makeTempDir({ prefix: "agent-s3-" });
    const server = new S3rver({
      address: "127.0.0.1",
      port: 0,
      silent: true,
      directory: dir,
      serviceEndpoint: "localhost",
      configureBuckets: [{ name: bucket }],
    }) as S3rverInstance;
    // Before s3rver's router, which answers NotImplemented to these operations.
    server.middleware.splice(server.middleware.length - 1, 0, missingOperations(dir, bucket));
    const address = await server.run();
    return new S3Server(bucket, dir, address.port, server);
  }

  /** The incomplete multipart uploads in the bucket, as s3rver keeps them on disk. */
  uploads(): Promise<ServerUpload[]> {
    return listUploads(this.dir, this.bucket);
  }

  /** Makes an incomplete upload look started at `time`. */
  async ageUpload(uploadId: string, time: Date): Promise<void> {
    await Deno.utime(`${uploadsDir(this.dir, this.bucket)}/${uploadId}/key`, time, time);
  }

  /** Every object key in the bucket, from s3rver's files. */
  async keys(): Promise<string[]> {
    const keys: string[] = [];
    const walk = async (folder: string, prefix: string): Promise<void> => {
      for await (const entry of Deno.readDir(folder)) {
        if (entry.isDirectory && entry.name !== "._S3rver_uploads") {
          await walk(`${folder}/${entry.name}`, `${prefix}${entry.name}/`);
        } else if (entry.isFile && entry.name.endsWith("._S3rver_object")) {
          keys.push(prefix + entry.name.slice(0, -"._S3rver_object".length));
        }
      }
    };
    await walk(`${this.dir}/${this.bucket}`, "");
    return keys.sort();
  }

  /** An object's bytes, fetched without the store's client (s3rver allows anonymous reads). */
  async download(key: string): Promise<Uint8Array> {
    const path = key.split("/").map(encodeURIComponent).join("/");
    const response = await fetch(`${this.endpoint}/${this.bucket}/${path}`);
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`GET ${key}: ${response.status}`);
    }
    return new Uint8Array(await response.arrayBuffer());
  }

  /** Starts an upload directly (anonymously), as an interrupted writer would have left it. */
  async startUpload(key: string): Promise<string> {
    const path = key.split("/").map(encodeURIComponent).join("/");
    const response = await fetch(`${this.endpoint}/${this.bucket}/${path}?uploads`, {
      method: "POST",
    });
    const text = await response.text();
    const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(text)?.[1];
    if (!response.ok || !uploadId) throw new Error(`CreateMultipartUpload ${key}: ${text}`);
    return uploadId;
  }

  /** Stops the server and removes its files. */
  async stop(): Promise<void> {
    this.server.httpServer?.closeAllConnections();
    await this.server.close();
    await Deno.remove(this.dir, { recursive: true });
  }
}

function uploadsDir(dir: string, bucket: string): string {
  return `${dir}/${bucket}/._S3rver_uploads`;
}

async function listUploads(dir: string, bucket: string): Promise<ServerUpload[]> {
  const uploads: ServerUpload[] = [];
  try {
    for await (const entry of Deno.readDir(uploadsDir(dir, bucket))) {
      const folder = `${uploadsDir(dir, bucket)}/${entry.name}`;
      try {
        const key = await Deno.readTextFile(`${folder}/key`);
        const initiated = (await Deno.stat(`${folder}/key`)).mtime ?? new Date(0);
        uploads.push({ key, uploadId: entry.name, initiated });
      } catch {
        // A folder without its key file is no upload S3 would list.
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return uploads.sort((a, b) =>
    a.key < b.key ? -1 : a.key > b.key ? 1 : a.uploadId < b.uploadId ? -1 : 1
  );
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function s3Error(ctx: KoaContext, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.type = "application/xml";
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${
    xmlEscape(message)
  }</Message></Error>`;
}

/** ListMultipartUploads, AbortMultipartUpload, and NoSuchUpload for unknown uploads. */
function missingOperations(dir: string, bucket: string): Middleware {
  return async (ctx, next) => {
    const [, pathBucket, ...rest] = ctx.path.split("/");
    if (pathBucket !== bucket) return next();
    const key = decodeURIComponent(rest.join("/"));
    const query = (name: string) => {
      const value = ctx.query[name];
      return Array.isArray(value) ? value[0] : value;
    };
    if (key === "" && ctx.method === "GET" && query("list-type") === "2") {
      return listObjectsV2(ctx, next);
    }
    const credential = /Credential=([^/]+)\//.exec(ctx.get("authorization"))?.[1];
    const refused = credential !== undefined && credential !== S3RVER_KEY;
    if (key === "" && ctx.method === "GET" && "uploads" in ctx.query) {
      if (refused) return accessKeyError(ctx, credential);
      const prefix = query("prefix") ?? "";
      const keyMarker = query("key-marker") ?? "";
      const idMarker = query("upload-id-marker") ?? "";
      const max = Number(query("max-uploads") ?? 1000);
      const all = (await listUploads(dir, bucket)).filter((u) =>
        u.key.startsWith(prefix) &&
        (u.key > keyMarker || (u.key === keyMarker && idMarker !== "" && u.uploadId > idMarker))
      );
      const page = all.slice(0, max);
      const truncated = all.length > page.length;
      const last = page.at(-1);
      ctx.type = "application/xml";
      ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult>' +
        `<Bucket>${bucket}</Bucket><Prefix>${xmlEscape(prefix)}</Prefix>` +
        `<MaxUploads>${max}</MaxUploads><IsTruncated>${truncated}</IsTruncated>` +
        (truncated && last
          ? `<NextKeyMarker>${xmlEscape(last.key)}</NextKeyMarker>` +
            `<NextUploadIdMarker>${last.uploadId}</NextUploadIdMarker>`
          : "") +
        page.map((u) =>
          `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${u.uploadId}</UploadId>` +
          `<Initiated>${u.initiated.toISOString()}</Initiated></Upload>`
        ).join("") +
        "</ListMultipartUploadsResult>";
      return;
    }
    const uploadId = query("uploadId");
    if (key !== "" && uploadId !== undefined) {
      if (refused) return accessKeyError(ctx, credential);
      const folder = `${uploadsDir(dir, bucket)}/${uploadId}`;
      const known = /^[0-9a-f]+$/.test(uploadId) &&
        await Deno.readTextFile(`${folder}/key`).then((k) => k === key, () => false);
      if (!known) {
        return s3Error(
          ctx,
          404,
          "NoSuchUpload",
          "The specified upload does not exist. The upload ID may be invalid, or the upload " +
            "may have been aborted or completed.",
        );
      }
      if (ctx.method === "DELETE") {
        await Deno.remove(folder, { recursive: true });
        ctx.status = 204;
        ctx.body = "";
        return;
      }
    }
    return next();
  };
}

/** ListObjectsV2 as s3rver's v1 listing with `marker`, tokens being base64 keys. */
async function listObjectsV2(ctx: KoaContext, next: () => Promise<unknown>): Promise<void> {
  const params = new URLSearchParams(ctx.querystring);
  const token = params.get("continuation-token");
  const marker = token ? Buffer.from(token, "base64").toString("utf8") : params.get("start-after");
  for (const name of ["list-type", "continuation-token", "start-after"]) params.delete(name);
  if (marker) params.set("marker", marker);
  ctx.querystring = params.toString();
  await next();
  const result = (ctx.body as { ListBucketResult?: Record<string, unknown> } | undefined)
    ?.ListBucketResult;
  if (!result) return;
  const contents = result.Contents as { Key: string; Owner?: unknown }[];
  for (const entry of contents) delete entry.Owner;
  delete result.Marker;
  delete result.NextMarker;
  result.KeyCount = contents.length;
  if (token) result.ContinuationToken = token;
  const last = contents.at(-1);
  if (result.IsTruncated === true && last) {
    result.NextContinuationToken = Buffer.from(last.Key).toString("base64");
  }
}

function accessKeyError(ctx: KoaContext, credential: string): void {
  s3Error(
    ctx,
    403,
    "InvalidAccessKeyId",
    `The AWS Access Key Id you provided does not exist in our records: ${credential}`,
  );
}

/**
 * What the proxy does with a request: forward it (`pass`), answer 500 InternalError
 * (`error`) or 503 SlowDown (`slowdown`) without forwarding, close the connection without
 * forwarding (`drop`), or forward it and close the connection instead of answering (`lose`).
 */
export type Fault = "pass" | "error" | "slowdown" | "drop" | "lose";

/** A request the proxy saw. */
export interface ProxiedRequest {
  /** The S3 operation: `UploadPart`, `PutObject`, `ListObjectsV2`… */
  operation: string;
  method: string;
  /** The `Host` header. */
  host: string;
  /** Path and query as sent. */
  path: string;
  query: URLSearchParams;
  fault: Fault;
}

/** The S3 operation a request is. */
export function s3Operation(method: string, query: URLSearchParams): string {
  if (query.has("uploads")) {
    return method === "POST" ? "CreateMultipartUpload" : "ListMultipartUploads";
  }
  if (query.has("uploadId")) {
    return { PUT: "UploadPart", POST: "CompleteMultipartUpload", DELETE: "AbortMultipartUpload" }[
      method
    ] ?? `${method}?uploadId`;
  }
  if (query.get("list-type") === "2") return "ListObjectsV2";
  return { PUT: "PutObject", GET: "GetObject", HEAD: "HeadObject", DELETE: "DeleteObject" }[
    method
  ] ?? method;
}

/**
 * An HTTP proxy on 127.0.0.1 in front of an S3 server, failing the requests `decide` picks.
 * `decide` gets the request and its number among requests of the same operation (from 1).
 */
export class FaultProxy {
  private constructor(
    readonly server: http.Server,
    readonly endpoint: string,
    /** Every request, in order. */
    readonly seen: ProxiedRequest[],
    readonly counts: Map<string, number>,
  ) {}

  /** Starts a proxy forwarding to `target` (`http://127.0.0.1:PORT`). */
  static async start(
    target: string,
    decide: (request: Omit<ProxiedRequest, "fault">, nth: number) => Fault = () => "pass",
  ): Promise<FaultProxy> {
    const upstream = new URL(target);
    const seen: ProxiedRequest[] = [];
    const counts = new Map<string, number>();
    const server = http.createServer((request, response) => {
      // An absolute URL when the client uses us as its HTTP proxy.
      const url = new URL(request.url ?? "/", "http://proxy.invalid");
      const path = url.pathname + url.search;
      const method = request.method ?? "GET";
      const operation = s3Operation(method, url.searchParams);
      const nth = (counts.get(operation) ?? 0) + 1;
      counts.set(operation, nth);
      const described = {
        operation,
        method,
        host: request.headers.host ?? "",
        path,
        query: url.searchParams,
      };
      const fault = decide(described, nth);
      seen.push({ ...described, fault });
      if (fault === "error" || fault === "slowdown" || fault === "drop") {
        request.resume();
        request.on("end", () => {
          if (fault === "drop") {
            request.socket.destroy();
            return;
          }
          const [status, code, message] = fault === "error"
            ? [500, "InternalError", "We encountered an internal error. Please try again."]
            : [503, "SlowDown", "Please reduce your request rate."];
          const body =
            `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
          response.writeHead(status, {
            "content-type": "application/xml",
            "content-length": String(new TextEncoder().encode(body).length),
          });
          response.end(body);
        });
        return;
      }
      const forward = http.request({
        hostname: upstream.hostname,
        port: upstream.port,
        method,
        path,
        headers: request.headers,
        agent: false,
      }, (answer) => {
        if (fault === "lose") {
          answer.resume();
          answer.on("end", () => request.socket.destroy());
          return;
        }
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      });
      forward.on("error", () => request.socket.destroy());
      request.pipe(forward);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    return new FaultProxy(server, `http://127.0.0.1:${port}`, seen, counts);
  }

  /** How many requests of `operation` came through (failed ones included). */
  count(operation: string): number {
    return this.counts.get(operation) ?? 0;
  }

  /** Stops the proxy, closing its connections. */
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
