import { InputError, UnavailableError } from "../errors.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  withSmallDisk,
  withTempDir,
} from "../../tests/support/assert.ts";
import { haveGcc, sampleCores, skipNotice } from "../../tests/support/cores.ts";
import { storeCompressed, verifyStored } from "./compress.ts";

const noGcc = skipNotice("gcc", haveGcc());

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function decompress(tool: string, path: string, out: string): Promise<void> {
  const run = await new Deno.Command("sh", { args: ["-c", `${tool} -dc "$0" > "$1"`, path, out] })
    .output();
  assert(run.success, `${tool} -d failed`);
}

Deno.test({
  name: "storeCompressed() writes gzip and zstd that the CLI tools unpack to the original",
  ignore: noGcc,
  fn: async () => {
    const { threads } = await sampleCores();
    const original = await sha256(threads.core);
    await withTempDir(async (dir) => {
      for (const [compression, tool] of [["gzip", "gzip"], ["zstd", "zstd"]] as const) {
        const stored = await storeCompressed(threads.core, `${dir}/core.${compression}`, {
          compression,
        });
        assertEquals(stored.sourceBytes, (await Deno.stat(threads.core)).size);
        assertEquals(stored.bytes, (await Deno.stat(`${dir}/core.${compression}`)).size);
        assert(
          stored.bytes < stored.sourceBytes / 4,
          `${compression} compresses a core: ${stored.bytes}`,
        );
        assertEquals(stored.sha256, await sha256(`${dir}/core.${compression}`));
        assertEquals(await verifyStored(`${dir}/core.${compression}`, stored), true);
        await decompress(tool, `${dir}/core.${compression}`, `${dir}/back`);
        assertEquals(await sha256(`${dir}/back`), original);
      }
      const left = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".part"));
      assertEquals(left, []);
    });
  },
});

Deno.test({
  name: "storeCompressed() copies a core already compressed as wanted, and verify catches changes",
  ignore: noGcc,
  fn: async () => {
    const { segv } = await sampleCores();
    await withTempDir(async (dir) => {
      const zst = await storeCompressed(segv.core, `${dir}/a.zst`, { compression: "zstd" });
      const copy = await storeCompressed(`${dir}/a.zst`, `${dir}/b.zst`, {
        compression: "zstd",
        sourceCompression: "zstd",
      });
      assertEquals([copy.copied, copy.bytes, copy.sha256], [true, zst.bytes, zst.sha256]);
      await Deno.writeFile(`${dir}/b.zst`, new Uint8Array([1]), { append: true });
      assertEquals(await verifyStored(`${dir}/b.zst`, copy), false);
    });
  },
});

Deno.test("storeCompressed() names a missing source as bad input and leaves nothing behind", () =>
  withTempDir(async (dir) => {
    await assertRejects(
      () => storeCompressed(`${dir}/missing`, `${dir}/out.gz`, { compression: "gzip" }),
      InputError,
      `Cannot read core "${dir}/missing"`,
    );
    assertEquals([...Deno.readDirSync(dir)], []);
  }));

Deno.test("storeCompressed() on a full disk removes the partial file and keeps the source", () =>
  withTempDir(async (dir) => {
    await withSmallDisk(`${dir}/small`, "256k", async () => {
      const source = `${dir}/core`;
      const noise = new Uint8Array(4 << 20);
      for (let i = 0; i < noise.length; i += 65536) {
        crypto.getRandomValues(noise.subarray(i, i + 65536));
      }
      await Deno.writeFile(source, noise);
      await assertRejects(
        () => storeCompressed(source, `${dir}/small/core.gz`, { compression: "gzip" }),
        UnavailableError,
        "no space left on the device",
      );
      assertEquals([...Deno.readDirSync(`${dir}/small`)], []);
      assertEquals((await Deno.stat(source)).size, noise.length);
    });
  }));

Deno.test({
  name: "storeCompressed() unpacks a gzip core before compressing it as zstd, and back",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { segv } = await sampleCores();
      const original = await Deno.readFile(segv.core);
      await storeCompressed(segv.core, `${dir}/a.gz`, { compression: "gzip" });
      await storeCompressed(`${dir}/a.gz`, `${dir}/b.zst`, {
        compression: "zstd",
        sourceCompression: "gzip",
      });
      await storeCompressed(`${dir}/b.zst`, `${dir}/c.gz`, {
        compression: "gzip",
        sourceCompression: "zstd",
      });
      const unzstd = await new Deno.Command("zstd", {
        args: ["-d", "-q", "-c", `${dir}/b.zst`],
        stdout: "piped",
      }).output();
      assertEquals(unzstd.stdout, original);
      const gunzip = await new Deno.Command("gzip", {
        args: ["-d", "-c", `${dir}/c.gz`],
        stdout: "piped",
      }).output();
      assertEquals(gunzip.stdout, original);
    }),
});
