import { type Config, configSchema, DEFAULTS } from "../config/mod.ts";
import { ConfigError, UnavailableError } from "../errors.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../tests/support/assert.ts";
import { LocalStore } from "./local.ts";
import { openStore } from "./open.ts";
import { LazyS3Store } from "./_lazy_s3.ts";
import type { S3FetchInit } from "./s3.ts";

/** The default `storage` section with `changes` laid over it, validated by the schema. */
function storage(changes: Record<string, unknown>): Config["storage"] {
  const input = structuredClone(DEFAULTS);
  Object.assign(input.storage, changes);
  return configSchema.parse(input).storage;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert(error instanceof ConfigError, String(error));
    assert(!error.message.includes("\n"));
    return error;
  }
  throw new Error("expected a ConfigError");
}

Deno.test("openStore() opens the local, NFS or S3 store the configuration names", () => {
  const local = openStore(storage({ local: { path: "/data/cores" } }), "node-a");
  assert(local instanceof LocalStore);
  assertEquals([local.kind, local.location, local.writer], ["local", "/data/cores", "node-a"]);

  const nfs = openStore(storage({ backend: "nfs", nfs: { path: "/mnt/nfs/cores" } }), "node-a");
  assert(nfs instanceof LocalStore);
  assertEquals([nfs.kind, nfs.location], ["nfs", "/mnt/nfs/cores"]);

  const s3 = openStore(
    storage({
      backend: "s3",
      s3: {
        ...DEFAULTS.storage.s3,
        endpoint: "http://minio.storage:9000",
        bucket: "crashes",
        accessKeyId: "agent",
        secretAccessKey: "secret",
      },
    }),
    "node-a",
  );
  assert(s3 instanceof LazyS3Store);
  assertEquals([s3.kind, s3.location], ["s3", "s3://crashes/cores/"]);
  assertEquals(s3.uri("prod/x.core.zst"), "s3://crashes/cores/prod/x.core.zst");
});

Deno.test("openStore() names the missing setting in a ConfigError", () => {
  assertStringIncludes(
    configError(() => openStore(storage({ backend: "nfs" }), "n")).message,
    "Missing storage.nfs.path",
  );
  assertStringIncludes(
    configError(() => openStore(storage({ backend: "s3" }), "n")).message,
    "Missing storage.s3.bucket",
  );
  const s3 = { ...DEFAULTS.storage.s3, bucket: "b" };
  assertStringIncludes(
    configError(() => openStore(storage({ backend: "s3", s3 }), "n", { env: () => undefined }))
      .message,
    "Missing S3 credentials: set storage.s3.accessKeyId and storage.s3.secretAccessKey, " +
      "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
  );
  assertStringIncludes(
    configError(() =>
      openStore(
        storage({
          backend: "s3",
          s3: { ...s3, accessKeyId: "a", secretAccessKey: "s", partSize: "1MiB" },
        }),
        "n",
      )
    ).message,
    "Invalid storage.s3.partSize 1048576",
  );
});

const S3 = {
  ...DEFAULTS.storage.s3,
  endpoint: "http://minio.storage:9000",
  bucket: "crashes",
  accessKeyId: "agent",
  secretAccessKey: "secret",
};

Deno.test("openStore() gives an S3 store that loads its client with the first request", async () => {
  const requests: string[] = [];
  const fetch = (url: URL, init: S3FetchInit) => {
    requests.push(`${init.method} ${url.pathname}${url.search}`);
    const empty = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
    return Promise.resolve(new Response(empty, { headers: { "content-type": "application/xml" } }));
  };
  const store = openStore(storage({ backend: "s3", s3: S3 }), "node-a", { fetch });
  assertEquals(requests, []);
  const listed = [];
  for await (const object of store.list()) listed.push(object);
  assertEquals(listed, []);
  assertEquals(requests.length, 1);
  assertStringIncludes(requests[0]!, "GET /crashes?list-type=2");
});

Deno.test("LazyS3Store fails each request with one clear error when its client cannot load", async () => {
  const store = new LazyS3Store(
    storage({ backend: "s3", s3: S3 }).s3,
    "node-a",
    {},
    () => Promise.reject(new TypeError('Module not found "file:///agent/lib/store/s3.ts"')),
  );
  assertEquals(store.uri("a/x.core.zst"), "s3://crashes/cores/a/x.core.zst");
  for (
    const request of [() => store.sweep(), () => store.hasFile("a/x"), () => store.list().next()]
  ) {
    const error = await assertRejects(request, UnavailableError);
    assertEquals(
      error.message,
      'Cannot load the S3 client: Module not found "file:///agent/lib/store/s3.ts"',
    );
  }
});
