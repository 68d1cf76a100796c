/**
 * Debug bundles for container cores: in pipe mode, while the crashed process still exists,
 * the agent copies its executable and libraries (through /proc/PID/map_files) and stores
 * them with the core, once per build-id; `analyze core` then reads the core with them, from a
 * directory store or from S3, although none of the files is on this host's paths.
 */
import { assert, assertEquals, assertMatch, withTempDir } from "./support/assert.ts";
import { json, runAgent } from "./support/cli.ts";
import { containedMissing, type HeldCrash, holdContainedCrash } from "./support/contained.ts";
import { filesUnder } from "./support/files.ts";
import { S3RVER_KEY, S3Server } from "./support/s3.ts";
import { skipBecause } from "./support/cores.ts";
import { S3Store } from "../lib/store/s3.ts";
import type { CoreAnalysis } from "../lib/core/mod.ts";
import type { BundleManifest } from "../lib/collect/bundle.ts";

const missing = containedMissing();
const skip = missing !== undefined &&
  skipBecause(`no contained process can be made (${missing})`, "tests that need one are ignored");

/** The crash reason gdb gives with the container's own files. */
const SYMBOLIZED = "SIGSEGV (address not mapped) at 0x18 in handle_request() at libservice.c:3";

/** A configuration in `dir`; `storage` is more YAML lines under `storage:`. */
async function configIn(dir: string, storage: string[] = [], collector: string[] = []) {
  await Deno.mkdir(dir, { recursive: true });
  const file = `${dir}/agent.yaml`;
  await Deno.writeTextFile(
    file,
    `stateDir: ${dir}/state
collector:
  paths: [${dir}/in]
${collector.map((line) => `  ${line}\n`).join("")}storage:
  local: {path: ${dir}/store}
  maxPerGroup: 0
${storage.map((line) => `  ${line}\n`).join("")}analyzer:
  valueThreshold: 0
`,
  );
  return file;
}

/** What the kernel would run for the held crash: pipe mode, the core on stdin. */
async function pipeIn(config: string, held: HeldCrash, host: string) {
  try {
    return await runAgent(
      [
        "--config",
        config,
        "collect",
        "--from-stdin",
        `${held.pid}`,
        "11",
        "1763773400",
        "service",
        host,
      ],
      { stdinFile: held.core, timeoutMs: 120_000 },
    );
  } finally {
    await held.release();
  }
}

interface StoredRecord {
  key: string;
  metadata: { bundle?: BundleManifest; analysis: CoreAnalysis };
}

async function storedRecord(
  dir: string,
  host: string,
): Promise<{ core: string; record: StoredRecord }> {
  const name = filesUnder(`${dir}/store`).find((f) =>
    f.includes(`_${host}_`) && f.endsWith(".core.gz")
  );
  assert(name, filesUnder(`${dir}/store`).join("\n"));
  const core = `${dir}/store/${name}`;
  return { core, record: JSON.parse(await Deno.readTextFile(`${core}.json`)) };
}

Deno.test({
  name:
    "pipe mode stores a container core's executable and libraries once, and analyze core uses them",
  ignore: skip,
  fn: () =>
    withTempDir(async (dir) => {
      const config = await configIn(dir);
      const first = await holdContainedCrash(dir, "first");
      // Not on this host: the core names the container's paths.
      assertEquals(await Deno.stat("/app/service").then(() => true, () => false), false);
      const run = await pipeIn(config, first, "service-0");
      assertEquals(run.code, 0, run.stderr);
      assertEquals(filesUnder(`${dir}/state/spool`), [], "no core and no bundle left in the spool");

      const { core, record } = await storedRecord(dir, "service-0");
      const bundle = record.metadata.bundle!;
      assertEquals(
        bundle.files.map((f) => f.path).sort(),
        [
          "/app/libservice.so",
          "/app/service",
          "/lib/x86_64-linux-gnu/libc.so.6",
          "/lib64/ld-linux-x86-64.so.2",
        ],
      );
      assertEquals(bundle.skipped, []);
      for (const file of bundle.files) {
        assertEquals(file.key, `.bundles/${file.buildId}`);
        assertEquals((await Deno.stat(`${dir}/store/${file.key}`)).size, file.bytes);
      }
      // The pipeline read the core with the bundle before storing it.
      assertEquals(record.metadata.analysis.crashReason, SYMBOLIZED);

      // analyze core finds the bundle through the metadata beside the stored core.
      const analyzed = await runAgent(["--config", config, "analyze", "core", core, "-o", "json"]);
      assertEquals(analyzed.code, 0, analyzed.stderr);
      const a = json<CoreAnalysis>(analyzed);
      assertEquals(a.crashReason, SYMBOLIZED);
      assertEquals(a.stackTrace.slice(0, 2).map((f) => [f.function, f.library]), [
        ["handle_request", "/app/libservice.so"],
        ["main", "/app/service"],
      ]);
      assertEquals(
        a.buildIds.filter((m) => m.path.startsWith("/app/")).map((
          m,
        ) => [m.path, m.host, m.symbols]),
        [["/app/service", "missing", "bundle"], ["/app/libservice.so", "missing", "bundle"]],
      );
      assertEquals(a.warnings, []);
      // The store copied elsewhere (another mount, a backup): its files are found beside it.
      await new Deno.Command("cp", { args: ["-a", `${dir}/store`, `${dir}/moved`] }).output();
      const elsewhere = await configIn(`${dir}/other`);
      const moved = json<CoreAnalysis>(
        await runAgent([
          "--config",
          elsewhere,
          "analyze",
          "core",
          core.replace(`${dir}/store/`, `${dir}/moved/`),
          "-o",
          "json",
        ]),
      );
      assertEquals([moved.crashReason, moved.warnings], [SYMBOLIZED, []]);
      // The same core without its metadata: the container's files are nowhere here.
      await Deno.copyFile(core, `${dir}/alone.core.gz`);
      const alone = json<CoreAnalysis>(
        await runAgent([
          "--config",
          config,
          "analyze",
          "core",
          `${dir}/alone.core.gz`,
          "-o",
          "json",
        ]),
      );
      assertEquals(alone.gdb.used, false);
      assertEquals(
        alone.warnings[0],
        'executable "/app/service" is not on this host: pass --exe for a stack trace',
      );

      // A second crash of the same image: its files are stored already, nothing is copied again.
      const blobs = filesUnder(`${dir}/store/.bundles`);
      const second = await holdContainedCrash(dir, "second");
      const again = await pipeIn(config, second, "service-1");
      assertEquals(again.code, 0, again.stderr);
      assertEquals(filesUnder(`${dir}/store/.bundles`), blobs);
      const { record: secondRecord } = await storedRecord(dir, "service-1");
      assertEquals(
        secondRecord.metadata.bundle!.files.map((f) => f.key).sort(),
        bundle.files.map((f) => f.key).sort(),
      );
      assertEquals(secondRecord.metadata.analysis.crashReason, SYMBOLIZED);
    }),
});

Deno.test({
  name: "pipe mode keeps a bundle within collector.bundleMaxBytes, naming what it left out",
  ignore: skip,
  fn: () =>
    withTempDir(async (dir) => {
      const config = await configIn(dir, [], ["bundleMaxBytes: 100KiB"]);
      const held = await holdContainedCrash(dir, "small");
      const run = await pipeIn(config, held, "service-0");
      assertEquals(run.code, 0, run.stderr);
      const { record } = await storedRecord(dir, "service-0");
      const bundle = record.metadata.bundle!;
      // The executable and the small library fit; glibc and the loader do not.
      assertEquals(bundle.files.map((f) => f.path).sort(), ["/app/libservice.so", "/app/service"]);
      assertEquals(bundle.skipped.map((s) => s.path).sort(), [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/ld-linux-x86-64.so.2",
      ]);
      assertMatch(bundle.skipped[0]!.reason, /past collector\.bundleMaxBytes \(102400\)$/);
      assertEquals(record.metadata.analysis.crashReason, SYMBOLIZED);
    }),
});

Deno.test({
  name: "analyze core reads a container core's bundle from S3",
  ignore: skip,
  fn: () =>
    withTempDir(async (dir) => {
      const s3 = await S3Server.start("cores");
      try {
        const config = await configIn(dir, [
          "backend: s3",
          "s3:",
          `  endpoint: ${s3.endpoint}`,
          "  bucket: cores",
          `  accessKeyId: ${S3RVER_KEY}`,
          `  secretAccessKey: ${S3RVER_KEY}`,
        ]);
        const held = await holdContainedCrash(dir, "s3");
        const run = await pipeIn(config, held, "service-0");
        assertEquals(run.code, 0, run.stderr);
        const keys = await s3.keys();
        const core = keys.find((k) => k.endsWith(".core.gz"))!;
        assertEquals(
          keys.filter((k) => k.startsWith("cores/.bundles/")).length,
          4,
          keys.join("\n"),
        );
        // An SRE downloads the core and its metadata, and analyzes it where the store is known.
        const store = new S3Store({
          endpoint: s3.endpoint,
          region: "",
          bucket: "cores",
          prefix: "cores/",
          accessKeyId: S3RVER_KEY,
          secretAccessKey: S3RVER_KEY,
          forcePathStyle: true,
          partSize: 16 * 1024 * 1024,
        });
        const key = core.slice("cores/".length);
        await store.getFile(key, `${dir}/downloaded.core.gz`);
        await store.getFile(`${key}.json`, `${dir}/downloaded.core.gz.json`);
        const analyzed = await runAgent([
          "--config",
          config,
          "analyze",
          "core",
          `${dir}/downloaded.core.gz`,
          "-o",
          "json",
        ]);
        assertEquals(analyzed.code, 0, analyzed.stderr);
        const a = json<CoreAnalysis>(analyzed);
        assertEquals(a.crashReason, SYMBOLIZED);
        assertEquals(a.warnings, []);
      } finally {
        await s3.stop();
      }
    }),
});
