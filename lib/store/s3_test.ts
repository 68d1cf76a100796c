import { createHash } from "node:crypto";
import { gunzipSync, zstdDecompressSync } from "node:zlib";
import { ConfigError, InputError, UnavailableError } from "../errors.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  withTempDir,
} from "../../tests/support/assert.ts";
import { haveGcc, sampleCores, skipNotice } from "../../tests/support/cores.ts";
import { type Fault, FaultProxy, S3RVER_KEY, S3Server } from "../../tests/support/s3.ts";
import { freePort } from "../../tests/support/net.ts";
import { isSafeKey, type StoredObject } from "./backend.ts";
import { MIN_PART_SIZE, type S3Config, S3Store, type S3StoreOptions } from "./s3.ts";

const noGcc = skipNotice("gcc", haveGcc());
const TIME = new Date("2026-11-22T01:02:03.456Z");
/** The put options most tests use: instance prod, pod p, container c, gzip. */
const PUT = {
  instance: "prod",
  pod: "p",
  container: "c",
  time: TIME,
  compression: "gzip",
} as const;
/** Retries fast, so that tests of five failing attempts take milliseconds. */
const FAST: S3StoreOptions = { retryDelayMs: 5 };

function config(endpoint: string, overrides: Partial<S3Config> = {}): S3Config {
  return {
    endpoint,
    region: "us-east-1",
    bucket: "cores",
    prefix: "cores/",
    accessKeyId: S3RVER_KEY,
    secretAccessKey: S3RVER_KEY,
    forcePathStyle: true,
    partSize: MIN_PART_SIZE,
    ...overrides,
  };
}

/** Runs `fn` with an s3rver (and a temporary directory), stopping it whatever happens. */
function withS3(
  fn: (server: S3Server, dir: string) => Promise<void>,
  bucket?: string,
): () => Promise<void> {
  return () =>
    withTempDir(async (dir) => {
      const server = await S3Server.start(bucket);
      try {
        await fn(server, dir);
      } finally {
        await server.stop();
      }
    });
}

/** Runs `fn` with a fault proxy in front of `server`. */
async function withProxy(
  server: S3Server,
  decide: (operation: string, nth: number, path: string) => Fault,
  fn: (proxy: FaultProxy) => Promise<void>,
): Promise<void> {
  const proxy = await FaultProxy.start(
    server.endpoint,
    (request, nth) => decide(request.operation, nth, request.path),
  );
  try {
    await fn(proxy);
  } finally {
    await proxy.stop();
  }
}

/** Writes `bytes` random (incompressible) bytes to `path`. */
async function randomFile(path: string, bytes: number): Promise<string> {
  const file = await Deno.open(path, { write: true, createNew: true });
  try {
    for (let written = 0; written < bytes;) {
      const chunk = crypto.getRandomValues(new Uint8Array(Math.min(65536, bytes - written)));
      for (let n = 0; n < chunk.length;) n += await file.write(chunk.subarray(n));
      written += chunk.length;
    }
  } finally {
    file.close();
  }
  return path;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

Deno.test({
  name: "S3Store stores real cores with gzip and zstd, lists, verifies and deletes them",
  ignore: noGcc,
  fn: withS3(async (server) => {
    const { segv, abort } = await sampleCores();
    const store = new S3Store(config(server.endpoint), "node-a", { ...FAST, pageSize: 1 });
    assertEquals(store.kind, "s3");
    assertEquals(store.location, "s3://cores/cores/");
    assertEquals(await store.freeBytes(), undefined);
    const stored = [];
    for (
      const [crash, compression] of [[segv, "zstd"], [abort, "gzip"]] as const
    ) {
      const { sourceBytes, ...object } = await store.put(crash.core, {
        instance: "prod",
        pod: `prod-milvus-${crash.name}-0`,
        container: "main",
        time: TIME,
        compression,
        metadata: { score: 8.5, signal: crash.name },
      });
      const file = `20261122T010203Z_prod-milvus-${crash.name}-0_main.core.${
        compression === "gzip" ? "gz" : "zst"
      }`;
      assertEquals(object.key, `prod/${file}`);
      assertEquals(object.uri, `s3://cores/cores/prod/${file}`);
      assertEquals(object.compression, compression);
      assertEquals(object.metadata, { score: 8.5, signal: crash.name });
      const original = await Deno.readFile(crash.core);
      assertEquals(sourceBytes, original.length);
      // What the server holds is what the record says, and decompresses to the core.
      const downloaded = await server.download(`cores/${object.key}`);
      assertEquals(downloaded.length, object.bytes);
      assertEquals(sha256(downloaded), object.sha256);
      const restored = compression === "gzip"
        ? gunzipSync(downloaded)
        : zstdDecompressSync(downloaded);
      assertEquals(sha256(restored), sha256(original));
      assertEquals(
        JSON.parse(new TextDecoder().decode(await server.download(`cores/${object.key}.json`))),
        object,
      );
      assertEquals(await store.verify(object), true);
      assertEquals(await store.verify({ ...object, bytes: object.bytes + 1 }), false);
      stored.push(object);
    }
    // Both small cores went up as one PutObject each: no upload was left, no marker written.
    assertEquals(await server.uploads(), []);
    assertEquals(await server.keys(), [
      `cores/${stored[1]!.key}`,
      `cores/${stored[1]!.key}.json`,
      `cores/${stored[0]!.key}`,
      `cores/${stored[0]!.key}.json`,
    ]);
    // An explanation beside a core is no core's record, and goes when the core goes.
    await store.putText(`${stored[0]!.key}.ai.json`, '{"status":"explained"}\n');
    assertEquals(
      new TextDecoder().decode(await server.download(`cores/${stored[0]!.key}.ai.json`)),
      '{"status":"explained"}\n',
    );
    const skipped: string[] = [];
    assertEquals(await Array.fromAsync(store.list((where) => skipped.push(where))), [
      stored[1],
      stored[0],
    ]);
    assertEquals(skipped, []);
    await store.delete(stored[0]!.key);
    assertEquals(await store.verify(stored[0]!), false);
    assertEquals(await Array.fromAsync(store.list()), [stored[1]]);
    await store.delete(stored[0]!.key);
    await store.delete(stored[1]!.key);
    assertEquals(await server.keys(), []);
    assertEquals(await Array.fromAsync(store.list()), []);
  }),
});

Deno.test({
  name: "S3Store.put() streams a core larger than a part as a multipart upload",
  fn: withS3(async (server, dir) => {
    const path = await randomFile(`${dir}/core`, 2 * MIN_PART_SIZE + 123_456);
    await withProxy(server, () => "pass", async (proxy) => {
      const store = new S3Store(config(proxy.endpoint), "node-a", FAST);
      const object = await store.put(path, {
        instance: "prod",
        pod: "querynode-0",
        container: "main",
        time: TIME,
        compression: "zstd",
      });
      // Random bytes do not compress: three parts of 5 MiB, 5 MiB and the rest.
      assert(object.bytes > 2 * MIN_PART_SIZE, `${object.bytes} bytes`);
      assertEquals(proxy.count("CreateMultipartUpload"), 1);
      assertEquals(proxy.count("UploadPart"), 3);
      assertEquals(proxy.count("CompleteMultipartUpload"), 1);
      assertEquals(proxy.count("AbortMultipartUpload"), 0);
      const partSizes = proxy.seen.filter((r) => r.operation === "UploadPart").map((r) =>
        r.query.get("partNumber")
      );
      assertEquals(partSizes, ["1", "2", "3"]);
      const downloaded = await server.download(`cores/${object.key}`);
      assertEquals(sha256(downloaded), object.sha256);
      assertEquals(sha256(zstdDecompressSync(downloaded)), sha256(await Deno.readFile(path)));
      assertEquals(await store.verify(object), true);
      // The upload completed and its marker is gone: only the object and its record remain.
      assertEquals(await server.uploads(), []);
      assertEquals(await server.keys(), [`cores/${object.key}`, `cores/${object.key}.json`]);
    });
  }),
});

Deno.test({
  name: "S3Store.put() retries a 500, a 503 SlowDown, a dropped connection and a lost answer",
  fn: withS3(async (server, dir) => {
    const path = await randomFile(`${dir}/core`, 2 * MIN_PART_SIZE + 1);
    const faults = (operation: string, nth: number, path: string): Fault => {
      if (operation === "ListMultipartUploads" && nth === 1) return "slowdown";
      if (operation === "UploadPart" && nth === 2) return "error";
      // S3 completes the upload but the answer never arrives: the retry finds no upload,
      // and the store checks that the object is there.
      if (operation === "CompleteMultipartUpload" && nth === 1) return "lose";
      if (operation === "PutObject" && path.endsWith(".json") && nth <= 3) return "drop";
      return "pass";
    };
    await withProxy(server, faults, async (proxy) => {
      const store = new S3Store(config(proxy.endpoint), "node-a", FAST);
      const object = await store.put(path, {
        instance: "prod",
        pod: "querynode-0",
        container: "main",
        time: TIME,
        compression: "gzip",
      });
      assertEquals(proxy.count("ListMultipartUploads"), 2);
      assertEquals(proxy.count("UploadPart"), 4);
      assertEquals(proxy.count("CompleteMultipartUpload"), 2);
      assertEquals(proxy.count("HeadObject"), 1);
      assertEquals(proxy.count("AbortMultipartUpload"), 0);
      assertEquals(
        proxy.seen.filter((r) => r.path.includes(".json")).map((r) => r.fault),
        ["drop", "drop", "pass"],
      );
      const downloaded = await server.download(`cores/${object.key}`);
      assertEquals(sha256(downloaded), object.sha256);
      assertEquals(sha256(gunzipSync(downloaded)), sha256(await Deno.readFile(path)));
      assertEquals(
        await Array.fromAsync(store.list()),
        [object].map(({ sourceBytes: _, ...o }) => o),
      );
      assertEquals(await server.uploads(), []);
    });
  }),
});

Deno.test({
  name: "S3Store.put() fails with UnavailableError when UploadPart always fails, leaving nothing",
  fn: withS3(async (server, dir) => {
    const path = await randomFile(`${dir}/core`, 2 * MIN_PART_SIZE);
    const before = sha256(await Deno.readFile(path));
    await withProxy(server, (op) => op === "UploadPart" ? "error" : "pass", async (proxy) => {
      const store = new S3Store(config(proxy.endpoint), "node-a", FAST);
      const error = await assertRejects(
        () =>
          store.put(path, {
            instance: "prod",
            pod: "querynode-0",
            container: "main",
            time: TIME,
            compression: "gzip",
          }),
        UnavailableError,
      );
      assertEquals(
        error.message,
        `Cannot store core "${path}" as "s3://cores/cores/prod/20261122T010203Z_querynode-0_main.core.gz": ` +
          `UploadPart to ${proxy.endpoint} answered 500 InternalError: ` +
          "We encountered an internal error. Please try again. (5 attempts)",
      );
      assertEquals(proxy.count("UploadPart"), 5);
      assertEquals(proxy.count("CompleteMultipartUpload"), 0);
      assertEquals(proxy.count("AbortMultipartUpload"), 1);
      assertEquals(await server.uploads(), []);
      assertEquals(await server.keys(), []);
      assertEquals(await Array.fromAsync(store.list()), []);
      assertEquals(sha256(await Deno.readFile(path)), before);
    });
  }),
});

Deno.test({
  name: "S3Store.put() deletes the core again when its metadata cannot be stored",
  fn: withS3(async (server, dir) => {
    const path = await randomFile(`${dir}/core`, 1000);
    const faults = (operation: string, _nth: number, path: string): Fault =>
      operation === "PutObject" && path.endsWith(".json") ? "error" : "pass";
    await withProxy(server, faults, async (proxy) => {
      const store = new S3Store(config(proxy.endpoint), "node-a", FAST);
      await assertRejects(
        () => store.put(path, PUT),
        UnavailableError,
        `Cannot store the metadata of core "${path}" as ` +
          `"s3://cores/cores/prod/20261122T010203Z_p_c.core.gz.json": PutObject to ${proxy.endpoint} ` +
          "answered 500 InternalError",
      );
      assertEquals(proxy.count("DeleteObject"), 1);
      assertEquals(await server.keys(), []);
      assertEquals(await Array.fromAsync(store.list()), []);
    });
  }),
});

Deno.test({
  name: "S3Store.put() aborts the upload and fails with InputError when the source changes",
  fn: withS3(async (server, dir) => {
    const path = await randomFile(`${dir}/core`, 2 * MIN_PART_SIZE);
    await withProxy(server, () => "pass", async (proxy) => {
      const store = new S3Store(config(proxy.endpoint), "node-a", FAST);
      await assertRejects(
        () =>
          store.put(path, {
            instance: "prod",
            pod: "p",
            container: "c",
            time: TIME,
            compression: "zstd",
            expectedSourceBytes: 2 * MIN_PART_SIZE + 1,
          }),
        InputError,
        `Cannot read core "${path}": it ended at ${2 * MIN_PART_SIZE} of ${
          2 * MIN_PART_SIZE + 1
        } bytes (the file changed)`,
      );
      // The first part had gone up before the source ended short.
      assert(proxy.count("UploadPart") >= 1);
      assertEquals(proxy.count("AbortMultipartUpload"), 1);
      assertEquals(await server.uploads(), []);
      assertEquals(await server.keys(), []);
    });
  }),
});

Deno.test({
  name: "S3Store reports unknown credentials in one line and does not retry them",
  fn: withS3(async (server, dir) => {
    const path = await randomFile(`${dir}/core`, 1000);
    await withProxy(server, () => "pass", async (proxy) => {
      const store = new S3Store(
        config(proxy.endpoint, { accessKeyId: "AKIAWRONG", secretAccessKey: "nope" }),
        "node-a",
        FAST,
      );
      const error = await assertRejects(
        () => store.put(path, PUT),
        UnavailableError,
        `PutObject to ${proxy.endpoint} answered 403 InvalidAccessKeyId: ` +
          "The AWS Access Key Id you provided does not exist in our records",
      );
      assert(!error.message.includes("\n"));
      assertStringIncludes(error.message, "s3://cores/cores/prod/20261122T010203Z_p_c.core.gz");
      assert(!error.message.includes("nope"), "the secret stays out of messages");
      assertEquals(proxy.count("PutObject"), 1);
      await assertRejects(
        () => Array.fromAsync(store.list()),
        UnavailableError,
        `S3 request for "s3://cores/" failed: ListObjectsV2 to ${proxy.endpoint} answered 403`,
      );
      await assertRejects(() => store.sweep(), UnavailableError, "InvalidAccessKeyId");
      assertEquals(await server.keys(), []);
    });
  }),
});

Deno.test({
  name: "S3Store reports an unreachable endpoint after its attempts, storing nothing",
  fn: () =>
    withTempDir(async (dir) => {
      const path = await randomFile(`${dir}/core`, 1000);
      const endpoint = `http://127.0.0.1:${freePort()}`;
      const store = new S3Store(config(endpoint), "node-a", FAST);
      await assertRejects(
        () => store.put(path, PUT),
        UnavailableError,
        `Cannot store core "${path}" as "s3://cores/cores/prod/20261122T010203Z_p_c.core.gz": ` +
          `PutObject to ${endpoint} failed: `,
      );
      await assertRejects(() => Array.fromAsync(store.list()), UnavailableError, "(5 attempts)");
      assertEquals(await store.verify({ key: "prod/x", bytes: 1 } as StoredObject), false);
    }),
});

Deno.test({
  name: "S3Store keeps hostile instance, pod and file names inside its prefix",
  fn: withS3(async (server, dir) => {
    const path = await randomFile(`${dir}/core`, 1000);
    const store = new S3Store(config(server.endpoint), "node-a", FAST);
    const first = await store.put(path, {
      instance: "../../etc",
      pod: "a b\nc",
      container: "x/../y",
      time: TIME,
      compression: "gzip",
    });
    assertEquals(first.key, ".._.._etc/20261122T010203Z_a_b_c_x_.._y.core.gz");
    const second = await store.put(path, {
      instance: "..",
      pod: "p",
      container: "c",
      time: TIME,
      compression: "zstd",
      name: "../../../outside me",
    });
    assertEquals(second.key, "_/.._.._.._outside_me");
    for (const object of [first, second]) assert(isSafeKey(object.key), object.key);
    const keys = await server.keys();
    assertEquals(keys.length, 4);
    for (const key of keys) assert(key.startsWith("cores/") && isSafeKey(key), key);
    await assertRejects(() => store.delete("../outside"), InputError, "not a key of this store");
    await assertRejects(() => store.delete("/etc/passwd"), InputError);
    assertEquals(await store.verify({ ...first, key: "../x" }), false);
    assertEquals(
      (await Array.fromAsync(store.list())).map((o) => o.key).sort(),
      [first.key, second.key].sort(),
    );
  }),
});

Deno.test({
  name: "S3Store.list() skips broken and misplaced records and tells why",
  fn: withS3(async (server, dir) => {
    const path = await randomFile(`${dir}/core`, 1000);
    const store = new S3Store(config(server.endpoint), "node-a", FAST);
    const object = await store.put(path, PUT);
    const put = (key: string, body: string) =>
      fetch(`${server.endpoint}/cores/${key}`, { method: "PUT", body }).then((r) => r.text());
    await put("cores/prod/broken.json", "{");
    await put("cores/prod/moved.json", JSON.stringify({ ...object, key: "prod/elsewhere" }));
    // Not records: deeper, outside the prefix, or not JSON.
    await put("cores/prod/deeper/x.json", "{");
    await put("other/prod/x.json", "{");
    await put("cores/prod/notes.txt", "{");
    const skipped: [string, string][] = [];
    const listed = await Array.fromAsync(store.list((where, reason) => {
      skipped.push([where, reason]);
    }));
    assertEquals(listed.map((o) => o.key), [object.key]);
    assertEquals(skipped.map(([where]) => where), [
      "s3://cores/cores/prod/broken.json",
      "s3://cores/cores/prod/moved.json",
    ]);
    assertStringIncludes(skipped[0]![1], "JSON");
    assertEquals(skipped[1]![1], 'its key "prod/elsewhere" is not where it is stored');
  }),
});

Deno.test({
  name: "S3Store.sweep() aborts gone writers' leftovers at once and other nodes' after an hour",
  fn: withS3(async (server) => {
    const put = (key: string) =>
      fetch(`${server.endpoint}/cores/${key}`, { method: "PUT", body: "" }).then((r) => r.text());
    const mine = await server.startUpload("cores/prod/a.core.gz");
    await put(`cores/.uploads/node-a-${Deno.pid}/${mine}`);
    // Another collector of this node, still running (pid 1), keeps its upload.
    const live = await server.startUpload("cores/prod/f.core.gz");
    await put(`cores/.uploads/node-a-1/${live}`);
    const theirs = await server.startUpload("cores/prod/b.core.gz");
    await put(`cores/.uploads/node-b-7/${theirs}`);
    const theirsOld = await server.startUpload("cores/prod/c.core.gz");
    await server.ageUpload(theirsOld, new Date(Date.now() - 2 * 3600_000));
    const unmarkedNew = await server.startUpload("cores/prod/d.core.gz");
    const outside = await server.startUpload("other/e.core.gz");
    await server.ageUpload(outside, new Date(Date.now() - 2 * 3600_000));
    const store = new S3Store(config(server.endpoint), "node-a", { ...FAST, pageSize: 1 });
    assertEquals(await store.sweep(), 2);
    assertEquals(
      (await server.uploads()).map((u) => u.uploadId).sort(),
      [
        live,
        theirs,
        unmarkedNew,
        outside,
      ].sort(),
    );
    assertEquals(await server.keys(), [
      `cores/.uploads/node-a-1/${live}`,
      `cores/.uploads/node-b-7/${theirs}`,
    ]);
    assertEquals(await store.sweep(), 0);
    // An hour later, every leftover under the prefix goes.
    const later = new S3Store(config(server.endpoint), "node-c", {
      ...FAST,
      now: () => new Date(Date.now() + 2 * 3600_000),
    });
    assertEquals(await later.sweep(), 3);
    assertEquals((await server.uploads()).map((u) => u.uploadId), [outside]);
    assertEquals(await server.keys(), []);
  }),
});

Deno.test({
  name: "S3Store.put() first aborts an interrupted upload of the same key",
  fn: withS3(async (server, dir) => {
    const path = await randomFile(`${dir}/core`, 1000);
    const leftover = await server.startUpload("cores/prod/retry.core.gz");
    const other = await server.startUpload("cores/prod/retry.core.gz.other");
    const store = new S3Store(config(server.endpoint), "node-a", FAST);
    await store.put(path, {
      instance: "prod",
      pod: "p",
      container: "c",
      time: TIME,
      compression: "gzip",
      name: "retry.core.gz",
    });
    const uploads = (await server.uploads()).map((u) => u.uploadId);
    assert(!uploads.includes(leftover));
    assertEquals(uploads, [other]);
  }),
});

Deno.test({
  name: "S3Store addresses the bucket virtual-host style unless forcePathStyle is set",
  fn: withS3(async (server, dir) => {
    const pathStyle = new S3Store(config("http://minio:9000/base/"), "n");
    assertEquals(
      pathStyle.url("cores/a b+c.json"),
      "http://minio:9000/base/cores/cores/a%20b%2Bc.json",
    );
    assertEquals(
      pathStyle.url(undefined, { "list-type": "2", prefix: "cores/" }),
      "http://minio:9000/base/cores?list-type=2&prefix=cores%2F",
    );
    const virtual = new S3Store(
      config("https://s3.eu-west-1.amazonaws.com", { forcePathStyle: false }),
      "n",
    );
    assertEquals(virtual.url("cores/x"), "https://cores.s3.eu-west-1.amazonaws.com/cores/x");
    assertEquals(
      virtual.url(undefined, { uploads: "" }),
      "https://cores.s3.eu-west-1.amazonaws.com/?uploads=",
    );

    // For real: the proxy stands in for DNS, the way an HTTP proxy would reach the bucket's host.
    const path = await randomFile(`${dir}/core`, 1000);
    await withProxy(server, () => "pass", async (proxy) => {
      const client = Deno.createHttpClient({ proxy: { url: proxy.endpoint } });
      try {
        const store = new S3Store(
          config(`http://s3.localhost:${server.port}`, { bucket: "vh", forcePathStyle: false }),
          "node-a",
          { ...FAST, fetch: (input, init) => fetch(input, { ...init, client }) },
        );
        const object = await store.put(path, PUT);
        assertEquals(await store.verify(object), true);
        assertEquals((await Array.fromAsync(store.list())).map((o) => o.key), [object.key]);
        assertEquals(
          new Set(proxy.seen.map((r) => r.host)),
          new Set([`vh.s3.localhost:${server.port}`]),
        );
        assert(proxy.seen.every((r) => !r.path.startsWith("/vh")), "no bucket in the path");
        assertEquals(await server.keys(), [`cores/${object.key}`, `cores/${object.key}.json`]);
      } finally {
        client.close();
      }
    });
  }, "vh"),
});

Deno.test({
  name: "S3Store takes credentials, region and endpoint from AWS_* variables",
  fn: withS3(async (server, dir) => {
    const path = await randomFile(`${dir}/core`, 1000);
    const env: Record<string, string> = {
      AWS_ACCESS_KEY_ID: S3RVER_KEY,
      AWS_SECRET_ACCESS_KEY: S3RVER_KEY,
      AWS_SESSION_TOKEN: "token",
      AWS_ENDPOINT_URL: server.endpoint,
    };
    const store = new S3Store(
      config("", { accessKeyId: "", secretAccessKey: "", region: "", prefix: "/agent" }),
      "node-a",
      { ...FAST, env: (name) => env[name] },
    );
    assertEquals(store.endpoint, server.endpoint);
    assertEquals(store.location, "s3://cores/agent/");
    const object = await store.put(path, PUT);
    assertEquals(object.uri, "s3://cores/agent/prod/20261122T010203Z_p_c.core.gz");
    assertEquals(await server.keys(), [`agent/${object.key}`, `agent/${object.key}.json`]);
    const aws = new S3Store(config("", { region: "" }), "n", {
      env: (name) => ({ AWS_DEFAULT_REGION: "eu-north-1" } as Record<string, string>)[name],
    });
    assertEquals(aws.endpoint, "https://s3.eu-north-1.amazonaws.com");
  }),
});

Deno.test("S3Store rejects a configuration it cannot use with a one-line ConfigError", () => {
  const none = { env: () => undefined };
  const cases: [Partial<S3Config>, string][] = [
    [{ bucket: "" }, "Missing storage.s3.bucket"],
    [{ bucket: "a/b" }, 'Invalid storage.s3.bucket "a/b"'],
    [{ endpoint: "minio:9000" }, 'Invalid storage.s3.endpoint "minio:9000"'],
    [{ endpoint: "ftp://x" }, 'Invalid storage.s3.endpoint "ftp://x"'],
    [
      { endpoint: "https://agent:hunter2@minio:9000" },
      'Invalid storage.s3.endpoint "https://***@minio:9000": credentials do not go in the URL',
    ],
    [{ endpoint: "https://:hunter2@minio" }, 'Invalid storage.s3.endpoint "https://***@minio"'],
    [{ prefix: "a/../b" }, 'Invalid storage.s3.prefix "a/../b"'],
    [{ partSize: 1024 }, "Invalid storage.s3.partSize 1024: S3 parts are 5MiB to 5GiB"],
    [{ accessKeyId: "", secretAccessKey: "" }, "Missing S3 credentials"],
    [{ secretAccessKey: "" }, "Incomplete S3 credentials"],
  ];
  for (const [overrides, message] of cases) {
    let error: unknown;
    try {
      new S3Store(config("http://127.0.0.1:9", overrides), "n", none);
    } catch (caught) {
      error = caught;
    }
    assert(error instanceof ConfigError, `${JSON.stringify(overrides)}: ${error}`);
    assertStringIncludes(error.message, message);
    assert(!error.message.includes("hunter2"), error.message);
  }
});
