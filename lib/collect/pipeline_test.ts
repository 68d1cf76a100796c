import { loadConfig } from "../config/mod.ts";
import { UnavailableError } from "../errors.ts";
import { createLogger } from "../log.ts";
import type { Store } from "../store/backend.ts";
import { CoreIndex } from "../store/core_index.ts";
import { LocalStore } from "../store/local.ts";
import { openState } from "../store/state.ts";
import { readCoreNotes } from "../core/elf_core.ts";
import { filesUnder } from "../../tests/support/files.ts";
import { assert, assertEquals, withSmallDisk, withTempDir } from "../../tests/support/assert.ts";
import {
  crash,
  haveCommand,
  haveGcc,
  sampleCores,
  skipBecause,
  skipNotice,
} from "../../tests/support/cores.ts";
import { CorePipeline, type PipelineOptions } from "./pipeline.ts";
import { ClusterFacts } from "./cluster_facts.ts";
import { KernelCrashes } from "./kernel_crashes.ts";

const noGcc = skipNotice("gcc", haveGcc());

async function setup(dir: string, flags: Record<string, unknown> = {}, store?: Store) {
  const config = await loadConfig({
    env: () => undefined,
    flags: {
      "analyzer.useGdb": false,
      "analyzer.valueThreshold": 5,
      "collector.paths": [`${dir}/in`],
      ...flags,
    },
  });
  const index = new CoreIndex(await openState(":memory:"));
  const lines: string[] = [];
  const log = createLogger({ level: "debug", format: "json", write: (l) => lines.push(l) });
  const options: PipelineOptions = {
    config,
    index,
    store: store ?? new LocalStore(`${dir}/store`, "local", "test"),
    log,
  };
  await Deno.mkdir(`${dir}/in`, { recursive: true });
  return { config, index, lines, pipeline: new CorePipeline(options), options };
}

/** Copies a sample core into the input directory under `name`. */
async function place(dir: string, name: string, sample: "segv" | "abort" = "segv") {
  const cores = await sampleCores();
  await Deno.copyFile(cores[sample].core, `${dir}/in/${name}`);
  return `${dir}/in/${name}`;
}

Deno.test({
  name: "CorePipeline stores a core with its metadata, removes the original, and is idempotent",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { index, pipeline } = await setup(dir);
      const path = await place(dir, "core.segv.4242.11.1763773323.prod-milvus-querynode-0");
      const size = (await Deno.stat(path)).size;
      const result = await pipeline.process(path);
      assertEquals(result?.outcome, "stored");
      const record = result!.record;
      assertEquals([record.state, record.pod, record.originalDeleted], [
        "stored",
        "prod-milvus-querynode-0",
        true,
      ]);
      assertEquals(record.match?.method, "hostname");
      assertEquals(
        record.storedKey,
        "unknown/20251122T010203Z_prod-milvus-querynode-0_unknown.core.gz",
      );
      assertEquals(filesUnder(`${dir}/store`), [record.storedKey!, `${record.storedKey}.json`]);
      const metadata = JSON.parse(await Deno.readTextFile(`${dir}/store/${record.storedKey}.json`));
      assertEquals(metadata.metadata.fingerprint, record.fingerprint);
      assertEquals(metadata.metadata.original.bytes, size);
      assertEquals(metadata.sha256, record.sha256);
      assertEquals((await readCoreNotes(`${dir}/store/${record.storedKey}`)).signal?.number, 11);
      assertEquals(filesUnder(`${dir}/in`), []);
      // The same core again (a copy with the same identity cannot exist; re-run on the record).
      assertEquals(await pipeline.process(path), undefined);
      assertEquals(index.counts().stored, 1);
    }),
});

Deno.test({
  name: "CorePipeline skips a core below the threshold but indexes it; keeps originals if told",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { index, pipeline } = await setup(dir, {
        "analyzer.valueThreshold": 10,
        "storage.deleteOriginal": false,
      });
      const path = await place(dir, "core.1234");
      const result = await pipeline.process(path);
      assertEquals(result?.outcome, "skipped");
      assert(result!.record.reason!.startsWith("score "), result!.record.reason!);
      assert(result!.record.reason!.endsWith(" below the threshold 10"));
      assertEquals(result!.record.crashReason !== null, true);
      assertEquals(filesUnder(`${dir}/in`), ["core.1234"]);
      assertEquals(filesUnder(`${dir}/store`), []);
      // A second pass finds it finished and leaves it alone.
      assertEquals((await pipeline.process(path))?.outcome, "done");
      assertEquals(index.counts().skipped, 1);
    }),
});

Deno.test({
  name: "CorePipeline keeps the first and the most recent cores of a crash group",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { index, pipeline } = await setup(dir, { "storage.maxPerGroup": 3 });
      const known: (number | undefined)[] = [];
      for (let i = 0; i < 5; i++) {
        const path = await place(dir, `core.segv.${100 + i}.11.${1763773300 + i}.q-0`);
        const outcome = await pipeline.process(path);
        assertEquals(outcome?.outcome, "stored");
        known.push(outcome?.score?.breakdown.find((b) => b.rule === "knownCrashGroup")?.points);
      }
      // A group that already has stored cores is worth less than a new one.
      assertEquals(known, [undefined, -0.5, -0.5, -0.5, -0.5]);
      const records = index.list().reverse();
      assertEquals(records.map((r) => r.state), ["stored", "pruned", "pruned", "stored", "stored"]);
      assertEquals(new Set(records.map((r) => r.fingerprint)).size, 1);
      assertEquals(
        filesUnder(`${dir}/store/unknown`).filter((f) => !f.endsWith(".json")).length,
        3,
      );
      assertEquals(index.groupCount("unknown", records[0]!.fingerprint!), 5);
    }),
});

Deno.test({
  name: "CorePipeline with maxPerGroup 1 stores only a group's first core",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { pipeline } = await setup(dir, { "storage.maxPerGroup": 1 });
      const outcomes = [];
      for (let i = 0; i < 3; i++) {
        const path = await place(dir, `core.segv.${100 + i}.11.${1763773300 + i}.q-0`);
        outcomes.push((await pipeline.process(path))?.record.reason ?? "stored");
      }
      assertEquals(outcomes[0], "stored");
      assert(outcomes[1]!.startsWith("crash group "), outcomes[1]);
    }),
});

Deno.test({
  name: "CorePipeline on an unavailable store keeps the core, indexes the failure, retries later",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      let broken = true;
      const real = new LocalStore(`${dir}/store`, "local", "test");
      const flaky: Store = Object.assign(Object.create(real), {
        put: (...args: Parameters<Store["put"]>) => {
          if (broken) {
            return Promise.reject(
              new UnavailableError("Cannot store: no space left on the device"),
            );
          }
          return real.put(...args);
        },
      });
      let now = new Date();
      const { index, pipeline, options } = await setup(dir, {}, flaky);
      options.now = () => now;
      const path = await place(dir, "core.7");
      const failed = await pipeline.process(path);
      assertEquals(failed?.outcome, "failed");
      assertEquals(failed?.record.attempts, 1);
      assert(failed?.record.retryAt !== null);
      assertEquals(filesUnder(`${dir}/in`), ["core.7"]);
      // Not yet due: nothing happens.
      assertEquals((await pipeline.process(path))?.outcome, "done");
      broken = false;
      now = new Date(now.getTime() + 3600_000);
      assertEquals((await pipeline.process(path))?.outcome, "stored");
      assertEquals(filesUnder(`${dir}/in`), []);
      assertEquals(index.counts(), { ...index.counts(), stored: 1, failed: 0 });
    }),
});

Deno.test({
  name: "CorePipeline on a full disk removes the partial object and keeps the original core",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      await withSmallDisk(`${dir}/store`, "64k", async () => {
        const big = await crash("bigmem", dir, ["24", "1"]);
        const { pipeline } = await setup(dir);
        await Deno.rename(big.core, `${dir}/in/core.99`);
        const result = await pipeline.process(`${dir}/in/core.99`);
        assertEquals(result?.outcome, "failed");
        assert(
          result!.record.error!.includes("no space left on the device"),
          result!.record.error!,
        );
        assert(result!.record.retryAt !== null);
        assertEquals(filesUnder(`${dir}/in`), ["core.99"]);
        assertEquals(filesUnder(`${dir}/store`), []);
      });
    }),
});

Deno.test({
  name: "CorePipeline fails for good on a core that changes while stored, and keeps it",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const real = new LocalStore(`${dir}/store`, "local", "test");
      let path = "";
      const truncating: Store = Object.assign(Object.create(real), {
        put: async (...args: Parameters<Store["put"]>) => {
          await Deno.truncate(path, 1000);
          return real.put(...args);
        },
      });
      const { pipeline } = await setup(dir, {}, truncating);
      path = await place(dir, "core.8");
      const result = await pipeline.process(path);
      assertEquals(result?.outcome, "failed");
      assertEquals(result?.record.retryAt, null);
      assert(result!.record.error!.includes("the file changed"), result!.record.error!);
      assertEquals(filesUnder(`${dir}/in`), ["core.8"]);
      assertEquals(filesUnder(`${dir}/store`).filter((f) => !f.startsWith("unknown/.")), []);
      assertEquals(await pipeline.process(`${dir}/in/vanished`), undefined);
    }),
});

Deno.test({
  name: "CorePipeline resumes a core left 'storing' under its reserved name, never a second one",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { index, pipeline } = await setup(dir);
      const path = await place(dir, "core.9");
      const info = await Deno.stat(path);
      const { fileIdentity } = await import("../store/core_index.ts");
      const { record } = index.seen({
        path,
        identity: fileIdentity(info),
        size: info.size,
        crashTime: info.mtime,
      });
      index.reserveKey(record.id, "unknown", "reserved.core.gz", (k) => `file:///${k}`);
      // A leftover of this process's earlier, interrupted write of that name.
      const leftover = `${dir}/store/unknown/.reserved.core.gz.test-${Deno.pid}~0123abcd.part`;
      await Deno.mkdir(`${dir}/store/unknown`, { recursive: true });
      await Deno.writeTextFile(leftover, "x");
      const result = await pipeline.process(path);
      assertEquals(result?.record.storedKey, "unknown/reserved.core.gz");
      assertEquals(await new LocalStore(`${dir}/store`, "local", "test").sweep(), 1);
      assertEquals(filesUnder(`${dir}/store`), [
        "unknown/reserved.core.gz",
        "unknown/reserved.core.gz.json",
      ]);
    }),
});

Deno.test({
  name: "CorePipeline keeps hostile file and pod names inside the store",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { pipeline } = await setup(dir);
      const path = await place(dir, "core $(touch pwned) ;`x` \n..");
      const result = await pipeline.process(path, { hostname: "../../etc" });
      assertEquals(result?.outcome, "stored");
      assert(!result!.record.storedKey!.includes("/../"));
      assertEquals(result!.record.storedKey!.split("/").length, 2);
      assert(filesUnder(`${dir}/store`).every((f) => f.startsWith("unknown/")));
      assertEquals(filesUnder(dir).some((f) => f.includes("pwned")), false);
    }),
});

Deno.test({
  name: "CorePipeline reads a systemd-coredump core: zstd, its name and user.coredump xattrs",
  ignore: noGcc || skipNotice("zstd and setfattr", haveCommand("zstd") && haveCommand("setfattr")),
  fn: () =>
    withTempDir(async (dir) => {
      const { index, pipeline } = await setup(dir, { "storage.compression": "zstd" });
      const { segv } = await sampleCores();
      const name = `core.segv.1000.${"5e3f".repeat(8)}.4242.1763773323000000.zst`;
      const path = `${dir}/in/${name}`;
      const zstd = await new Deno.Command("zstd", {
        args: ["-q", "-3", "-o", path, segv.core],
      }).output();
      assert(zstd.success);
      const xattr = await new Deno.Command("setfattr", {
        args: ["-n", "user.coredump.hostname", "-v", "prod-milvus-querynode-0", path],
        stderr: "piped",
      }).output();
      if (!xattr.success) {
        skipBecause(
          "the temporary directory's filesystem takes no user xattrs",
          "the systemd-coredump test ends before reading them",
        );
        return;
      }
      const compressed = await Deno.readFile(path);
      const result = await pipeline.process(path);
      assertEquals(result?.outcome, "stored");
      const record = index.byId(result!.record.id)!;
      assertEquals([record.pod, record.match?.method, record.crashTime], [
        "prod-milvus-querynode-0",
        "hostname",
        "2025-11-22T01:02:03.000Z",
      ]);
      assertEquals(result?.analysis?.compression, "zstd");
      // Already compressed as the store wants: stored as it was, byte for byte.
      assertEquals(await Deno.readFile(`${dir}/store/${record.storedKey}`), compressed);
    }),
});

Deno.test({
  name: "CorePipeline drops what it stored of a core replaced mid-way, then takes the new one",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { abort } = await sampleCores();
      const real = new LocalStore(`${dir}/store`, "local", "test");
      let path = "";
      let replaced = false;
      const replacing: Store = Object.assign(Object.create(real), {
        put: async (...args: Parameters<Store["put"]>) => {
          const stored = await real.put(...args);
          if (!replaced) {
            replaced = true;
            await Deno.copyFile(abort.core, `${path}.new`);
            await Deno.rename(`${path}.new`, path);
          }
          return stored;
        },
      });
      const { index, pipeline } = await setup(dir, {}, replacing);
      path = await place(dir, "core.5");
      const first = await pipeline.process(path);
      assertEquals(first?.outcome, "failed");
      assert(first!.record.error!.includes("changed while being stored"), first!.record.error!);
      assertEquals(filesUnder(`${dir}/store`).filter((f) => !f.includes("/.")), []);
      const second = await pipeline.process(path);
      assertEquals(second?.outcome, "stored");
      assertEquals(second?.record.signal, "SIGABRT");
      assertEquals(index.counts().stored, 1);
      assertEquals(filesUnder(`${dir}/in`), []);
    }),
});

Deno.test({
  name: "CorePipeline ties a core without hostname or cgroup to its pod through the kernel's line",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { options } = await setup(dir);
      const uid = "1b2c3d4e-0000-4000-8000-000000000001";
      const cluster = new ClusterFacts();
      cluster.replacePods([{
        namespace: "prod",
        name: "prod-milvus-querynode-0",
        uid,
        instance: "prod-milvus",
        containers: [{ name: "querynode", id: "ab".repeat(32) }, { name: "sidecar", id: null }],
      }]);
      const kernelCrashes = new KernelCrashes();
      const path = await place(dir, "core.1234");
      // The kernel logged the crash of "segv" (the sample's comm) under the host's pid.
      kernelCrashes.record({
        time: (await Deno.stat(path)).mtime!,
        pid: 98765,
        comm: "segv",
        what: "segfault",
        cgroup: { podUid: uid, containerId: "ab".repeat(32) },
        line: "segv[98765]: segfault at 0 ip 0000000000401136 sp 00007ffc9d7a0b40 error 6",
      });
      const pipeline = new CorePipeline({ ...options, cluster, kernelCrashes });
      const result = await pipeline.process(path);
      const record = result!.record;
      assertEquals([record.pod, record.container, record.match?.method, record.match?.confidence], [
        "prod-milvus-querynode-0",
        "querynode",
        "kernel-log",
        "medium",
      ]);
    }),
});
