import { type Config, configSchema, DEFAULTS } from "../config/mod.ts";
import { ConfigError } from "../errors.ts";
import { assert, assertEquals, assertStringIncludes } from "../../tests/support/assert.ts";
import { LocalStore } from "./local.ts";
import { openStore } from "./open.ts";
import { S3Store } from "./s3.ts";

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
  assert(s3 instanceof S3Store);
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
