import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { InputError, UnavailableError } from "../errors.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  withSmallDisk,
  withTempDir,
} from "../../tests/support/assert.ts";
import { haveCommand, haveGcc, sampleCores, skipNotice } from "../../tests/support/cores.ts";
import { createDecompressor } from "../compression/mod.ts";
import { storeCompressed, verifyStored } from "./compress.ts";

const noGcc = skipNotice("gcc", haveGcc());
const noZstd = skipNotice("zstd", haveCommand("zstd"));
/** Small pieces, so that a small source makes many frames and the workers compress them. */
const FRAMES = { frameBytes: 64 * 1024, workers: 2 } as const;

/** `length` bytes that compress as a core does: runs of zeros, text, counters, noise. */
function coreLike(length: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(length);
  const text = new TextEncoder().encode("milvus segment flush; querynode ");
  let state = seed;
  for (let at = 0; at < length;) {
    state = (state * 1103515245 + 12345) >>> 0;
    const run = Math.min(length - at, 512 + (state % 4096));
    const kind = state >>> 30;
    for (let i = 0; i < run; i++) {
      bytes[at + i] = kind === 0
        ? 0
        : kind === 1
        ? text[i % text.length]!
        : kind === 2
        ? (at + i) >> 4
        : (state = (state * 1103515245 + 12345) >>> 0) >>> 24;
    }
    at += run;
  }
  return bytes;
}

/** The number of zstd frames in `path`, as `zstd -l` counts them. */
async function zstdFrames(path: string): Promise<number> {
  const out = await new Deno.Command("zstd", { args: ["-l", path], stdout: "piped" }).output();
  return Number(new TextDecoder().decode(out.stdout).split("\n")[1]!.trim().split(/\s+/)[0]);
}

/** What `path` unpacks to with this project's own decompressor. */
async function unzstd(path: string): Promise<Uint8Array> {
  const chunks = await Array.fromAsync(
    createReadStream(path).pipe(createDecompressor("zstd")) as AsyncIterable<
      Uint8Array<ArrayBuffer>
    >,
  );
  return new Uint8Array(await new Blob(chunks).arrayBuffer());
}

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

Deno.test({
  name: "storeCompressed() writes zstd in frames that zstd -d and createDecompressor() unpack",
  ignore: noZstd,
  fn: () =>
    withTempDir(async (dir) => {
      const original = coreLike(1_000_003);
      await Deno.writeFile(`${dir}/core`, original);
      await Deno.writeFile(`${dir}/core.gz`, gzipSync(original));
      const halves = [original.subarray(0, 77_777), original.subarray(77_777)];
      const sources = [
        [`${dir}/core`, {}],
        [Readable.from(halves), {}],
        [ReadableStream.from(halves), {}],
        [`${dir}/core.gz`, { sourceCompression: "gzip" }],
      ] as const;
      for (const [index, [source, extra]] of sources.entries()) {
        const path = `${dir}/stored.${index}.zst`;
        const stored = await storeCompressed(source, path, {
          compression: "zstd",
          ...FRAMES,
          ...extra,
        });
        assertEquals(stored.bytes, (await Deno.stat(path)).size);
        assertEquals(stored.sha256, await sha256(path));
        assertEquals(await zstdFrames(path), 16, `source ${index}`);
        assertEquals(
          stored.sourceBytes,
          index === 3 ? (await Deno.stat(`${dir}/core.gz`)).size : original.length,
        );
        assertEquals(await unzstd(path), original, `source ${index}`);
        await decompress("zstd", path, `${dir}/back`);
        assertEquals(await Deno.readFile(`${dir}/back`), original, `source ${index}`);
      }
      const left = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".part"));
      assertEquals(left, []);
    }),
});

Deno.test("storeCompressed() stores a core shorter than one frame without workers", () =>
  withTempDir(async (dir) => {
    const original = coreLike(1000);
    await Deno.writeFile(`${dir}/core`, original);
    await storeCompressed(`${dir}/core`, `${dir}/core.zst`, { compression: "zstd", ...FRAMES });
    assertEquals(await unzstd(`${dir}/core.zst`), original);
    await Deno.writeFile(`${dir}/empty`, new Uint8Array());
    const empty = await storeCompressed(`${dir}/empty`, `${dir}/empty.zst`, {
      compression: "zstd",
    });
    assertEquals(empty.sourceBytes, 0);
    assertEquals(await unzstd(`${dir}/empty.zst`), new Uint8Array());
  }));

Deno.test("storeCompressed() as zstd refuses a source of another length and leaves nothing", () =>
  withTempDir(async (dir) => {
    const size = 300_000;
    await Deno.writeFile(`${dir}/core`, coreLike(size));
    await Deno.mkdir(`${dir}/store`);
    for (
      const [expected, reason] of [
        [size + 1, `it ended at ${size} of ${size + 1} bytes (the file changed)`],
        [size - 70_000, `it grew past the ${size - 70_000} bytes it had (the file changed)`],
      ] as const
    ) {
      await assertRejects(
        () =>
          storeCompressed(`${dir}/core`, `${dir}/store/core.zst`, {
            compression: "zstd",
            expectedSourceBytes: expected,
            ...FRAMES,
          }),
        InputError,
        `Cannot read core "${dir}/core": ${reason}`,
      );
      assertEquals([...Deno.readDirSync(`${dir}/store`)], []);
    }
  }));

Deno.test("storeCompressed() as zstd names a corrupt gzip source as bad input", () =>
  withTempDir(async (dir) => {
    const packed = gzipSync(coreLike(400_000));
    packed[packed.length >> 1]! ^= 0xff;
    await Deno.writeFile(`${dir}/core.gz`, packed);
    await Deno.mkdir(`${dir}/store`);
    const error = await assertRejects(
      () =>
        storeCompressed(`${dir}/core.gz`, `${dir}/store/core.zst`, {
          compression: "zstd",
          sourceCompression: "gzip",
          ...FRAMES,
        }),
      InputError,
      `Cannot read core "${dir}/core.gz": `,
    );
    assert(!error.message.includes("\n"), error.message);
    assertEquals([...Deno.readDirSync(`${dir}/store`)], []);
  }));

Deno.test("storeCompressed() as zstd on a full disk removes the partial file", () =>
  withTempDir(async (dir) => {
    await withSmallDisk(`${dir}/small`, "256k", async () => {
      const noise = new Uint8Array(2 << 20);
      for (let i = 0; i < noise.length; i += 65536) {
        crypto.getRandomValues(noise.subarray(i, i + 65536));
      }
      await Deno.writeFile(`${dir}/core`, noise);
      await assertRejects(
        () =>
          storeCompressed(`${dir}/core`, `${dir}/small/core.zst`, {
            compression: "zstd",
            ...FRAMES,
          }),
        UnavailableError,
        `Cannot store core "${dir}/core" as "${dir}/small/core.zst": no space left on the device`,
      );
      assertEquals([...Deno.readDirSync(`${dir}/small`)], []);
      assertEquals((await Deno.stat(`${dir}/core`)).size, noise.length);
    });
  }));

Deno.test("storeCompressed() as zstd names a failing web stream as bad input", () =>
  withTempDir(async (dir) => {
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(coreLike(300_000));
        controller.error(new Error("the pipe broke"));
      },
    });
    await assertRejects(
      () => storeCompressed(source, `${dir}/core.zst`, { compression: "zstd", ...FRAMES }),
      InputError,
      "Cannot read the core from the stream: the pipe broke",
    );
    assertEquals([...Deno.readDirSync(dir)], []);
  }));

Deno.test("storeCompressed() copies a compressed core of several chunks whole, and checks its length", () =>
  withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/store`);
    // One chunk exactly, two, and two and a half: the copy reads in chunks of 1 MiB.
    for (const size of [1 << 20, 2 << 20, (5 << 20) / 2]) {
      const packed = coreLike(size, size);
      await Deno.writeFile(`${dir}/core.zst`, packed);
      const copy = await storeCompressed(`${dir}/core.zst`, `${dir}/store/core.zst`, {
        compression: "zstd",
        sourceCompression: "zstd",
        expectedSourceBytes: size,
      });
      assertEquals([copy.copied, copy.bytes, copy.sourceBytes], [true, size, size]);
      assertEquals(copy.sha256, await sha256(`${dir}/core.zst`));
      assertEquals(await Deno.readFile(`${dir}/store/core.zst`), packed);
      assertEquals(await verifyStored(`${dir}/store/core.zst`, copy), true);
      await Deno.remove(`${dir}/store/core.zst`);
      for (const expected of [size - 1, size + 1]) {
        await assertRejects(
          () =>
            storeCompressed(`${dir}/core.zst`, `${dir}/store/core.zst`, {
              compression: "zstd",
              sourceCompression: "zstd",
              expectedSourceBytes: expected,
            }),
          InputError,
          `Cannot read core "${dir}/core.zst": it `,
        );
        assertEquals([...Deno.readDirSync(`${dir}/store`)], []);
      }
    }
  }));

Deno.test("storeCompressed() reads a ByteReader (an open file, stdin) as zstd and as gzip", () =>
  withTempDir(async (dir) => {
    const original = coreLike(1_000_003);
    await Deno.writeFile(`${dir}/core`, original);
    for (const compression of ["zstd", "gzip"] as const) {
      using file = await Deno.open(`${dir}/core`);
      const path = `${dir}/stored.${compression}`;
      const stored = await storeCompressed(file, path, { compression, ...FRAMES });
      assertEquals([stored.sourceBytes, stored.sha256], [original.length, await sha256(path)]);
      await decompress(compression, path, `${dir}/back`);
      assertEquals(await Deno.readFile(`${dir}/back`), original, compression);
      await Deno.remove(`${dir}/back`);
    }
  }));

Deno.test("storeCompressed() copying onto a full disk removes the partial file", () =>
  withTempDir(async (dir) => {
    await withSmallDisk(`${dir}/small`, "256k", async () => {
      await Deno.writeFile(`${dir}/core.zst`, coreLike(3 << 20));
      await assertRejects(
        () =>
          storeCompressed(`${dir}/core.zst`, `${dir}/small/core.zst`, {
            compression: "zstd",
            sourceCompression: "zstd",
          }),
        UnavailableError,
        `Cannot store core "${dir}/core.zst" as "${dir}/small/core.zst": no space left on the device`,
      );
      assertEquals([...Deno.readDirSync(`${dir}/small`)], []);
    });
  }));
