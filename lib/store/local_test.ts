import { InputError } from "../errors.ts";
import { assertEquals, assertRejects, withTempDir } from "../../tests/support/assert.ts";
import { haveGcc, sampleCores, skipNotice } from "../../tests/support/cores.ts";
import { readCoreNotes } from "../core/elf_core.ts";
import { LocalStore } from "./local.ts";
import { objectName } from "./names.ts";

const noGcc = skipNotice("gcc", haveGcc());
const TIME = new Date("2026-11-22T01:02:03.456Z");

Deno.test("objectName() is {timestamp}_{pod}_{container}.core.gz|zst with safe parts", () => {
  assertEquals(
    objectName(TIME, "prod-milvus-querynode-0", "main", "gzip"),
    "20261122T010203Z_prod-milvus-querynode-0_main.core.gz",
  );
  assertEquals(
    objectName(TIME, "../../etc", "a/b", "zstd"),
    "20261122T010203Z_.._.._etc_a_b.core.zst",
  );
});

Deno.test({
  name: "LocalStore stores a core in its instance folder with metadata, lists and deletes it",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { segv } = await sampleCores();
      const store = new LocalStore(`${dir}/cores`);
      const { sourceBytes, ...object } = await store.put(segv.core, {
        instance: "prod",
        pod: "prod-milvus-querynode-0",
        container: "main",
        time: TIME,
        compression: "zstd",
        metadata: { score: 8.5, fingerprint: "3f9a0c2d5e6b7a81" },
      });
      assertEquals(object.key, "prod/20261122T010203Z_prod-milvus-querynode-0_main.core.zst");
      assertEquals(object.uri, `file://${dir}/cores/${object.key}`);
      assertEquals(sourceBytes, (await Deno.stat(segv.core)).size);
      assertEquals(await store.verify(object), true);
      assertEquals(await store.verify({ ...object, sha256: "0".repeat(64) }), false);
      assertEquals((await readCoreNotes(`${dir}/cores/${object.key}`)).signal?.number, 11);
      // An explanation beside the core is no core's record, and goes when the core goes.
      await store.putText(`${object.key}.ai.json`, '{"status":"explained"}\n');
      assertEquals(
        await Deno.readTextFile(`${dir}/cores/${object.key}.ai.json`),
        '{"status":"explained"}\n',
      );
      const skipped: string[] = [];
      const listed = await Array.fromAsync(store.list((path) => skipped.push(path)));
      assertEquals([listed, skipped], [[object], []]);
      await store.delete(object.key);
      assertEquals(await Array.fromAsync(store.list()), []);
      assertEquals([...Deno.readDirSync(`${dir}/cores/prod`)], []);
      await store.delete(object.key);
    }),
});

Deno.test({
  name: "LocalStore keeps hostile pod and instance names inside its root and skips broken records",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { segv } = await sampleCores();
      const store = new LocalStore(`${dir}/cores`);
      const object = await store.put(segv.core, {
        instance: "../..",
        pod: "../../etc/passwd",
        container: "$(reboot)",
        time: TIME,
        compression: "gzip",
      });
      assertEquals(object.key, ".._../20261122T010203Z_.._.._etc_passwd___reboot_.core.gz");
      await Deno.writeTextFile(`${dir}/cores/.._../broken.json`, "{");
      const skipped: string[] = [];
      assertEquals((await Array.fromAsync(store.list((path) => skipped.push(path)))).length, 1);
      assertEquals(skipped, [`${dir}/cores/.._../broken.json`]);
      await assertRejects(() => store.delete("../outside"), InputError, "not a key of this store");
    }),
});

Deno.test({
  name:
    "LocalStore.put() fails on a source of unexpected length, and sweep() removes leftovers of gone writers",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { segv } = await sampleCores();
      const store = new LocalStore(`${dir}/cores`, "local", "node-a");
      const size = (await Deno.stat(segv.core)).size;
      await assertRejects(
        () =>
          store.put(segv.core, {
            instance: "prod",
            pod: "p",
            container: "c",
            time: TIME,
            compression: "gzip",
            expectedSourceBytes: size + 1,
          }),
        InputError,
        `ended at ${size} of ${size + 1} bytes`,
      );
      assertEquals([...Deno.readDirSync(`${dir}/cores/prod`)], []);
      // A process of this node that has exited, and one that still runs (pid 1).
      const exited = new Deno.Command("true").spawn();
      await exited.status;
      const part = (name: string, tag: string) => `${dir}/cores/prod/.${name}.${tag}~0123abcd.part`;
      const mine = part("x.core.gz", `node-a-${Deno.pid}`);
      const gone = part("z.core.gz", `node-a-${exited.pid}`);
      const live = part("w.core.gz", "node-a-1");
      const theirs = part("x.core.gz", "node-b-7");
      const old = part("y.core.gz", "node-b-7");
      for (const path of [mine, gone, live, theirs, old]) await Deno.writeTextFile(path, "partial");
      await Deno.utime(old, new Date(Date.now() - 7200_000), new Date(Date.now() - 7200_000));
      assertEquals(await store.sweep(), 3);
      assertEquals([...Deno.readDirSync(`${dir}/cores/prod`)].map((e) => e.name).sort(), [
        ".w.core.gz.node-a-1~0123abcd.part",
        ".x.core.gz.node-b-7~0123abcd.part",
      ]);
      const free = await store.freeBytes();
      assertEquals(typeof free === "number" && free > 0, true);
    }),
});
