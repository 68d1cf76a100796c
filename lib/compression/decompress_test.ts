import { Readable } from "node:stream";
import { assert, assertEquals, assertRejects } from "../../tests/support/assert.ts";
import { haveCommand, skipNotice } from "../../tests/support/cores.ts";
import { createDecompressor, decodeZstd, ZstdDataError } from "./mod.ts";

const noZstd = skipNotice("zstd", haveCommand("zstd"));

/** What the zstd CLI makes of `input` with `args`. */
async function zstd(input: Uint8Array, args: string[]): Promise<Uint8Array> {
  const child = new Deno.Command("zstd", {
    args: ["-q", "-c", ...args],
    stdin: "piped",
    stdout: "piped",
  })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(input);
  await writer.close();
  const out = await child.output();
  assert(out.success, `zstd ${args.join(" ")} failed`);
  return out.stdout;
}

function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  parts.reduce((at, part) => (out.set(part, at), at + part.length), 0);
  return out;
}

Deno.test({
  name: "createDecompressor() reads every frame of a zstd stream, in chunks of any size",
  ignore: noZstd,
  fn: async () => {
    const text = (n: number) =>
      new TextEncoder().encode(
        Array.from({ length: n }, (_, i) => `line ${i} of frame ${n}\n`).join(""),
      );
    const parts = [text(3000), text(1), text(20000), new Uint8Array(), text(50)];
    const skippable = new Uint8Array([0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
    const stream = join([
      await zstd(parts[0]!, ["-1"]),
      skippable,
      await zstd(parts[1]!, ["-1", "--no-check"]),
      await zstd(parts[2]!, ["-19"]),
      await zstd(parts[3]!, ["-1"]),
      await zstd(parts[4]!, ["-1", "--no-check"]),
    ]);
    const expected = join(parts);
    for (const size of [1, 7, 1000, stream.length]) {
      const chunks = [];
      for (let at = 0; at < stream.length; at += size) chunks.push(stream.subarray(at, at + size));
      const out = await Array.fromAsync(
        Readable.from(chunks).pipe(createDecompressor("zstd")) as AsyncIterable<Uint8Array>,
      );
      const back = join(out);
      assertEquals(back.length, expected.length, `chunks of ${size}`);
      assert(back.every((byte, i) => byte === expected[i]), `chunks of ${size}`);
    }
  },
});

/** A reader of `bytes` that gives at most `size` bytes per read. */
function chunked(bytes: Uint8Array, size: number): (buffer: Uint8Array) => Promise<number | null> {
  let at = 0;
  return (buffer) => {
    if (at === bytes.length) return Promise.resolve(null);
    const piece = bytes.subarray(at, at + Math.min(size, buffer.length));
    buffer.set(piece);
    at += piece.length;
    return Promise.resolve(piece.length);
  };
}

/** `length` bytes of a counter and noise: what zstd compresses some, but not to nothing. */
function sample(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = 7;
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    bytes[i] = i % 3 === 0 ? state >>> 24 : i >> 10;
  }
  return bytes;
}

Deno.test({
  name: "decodeZstd() unpacks every frame, read in chunks of any size, in order, and can stop",
  ignore: noZstd,
  fn: async () => {
    const parts = [sample(3_000_000), sample(1), new Uint8Array(), sample(1_500_000)];
    const skippable = new Uint8Array([0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
    const stream = join([
      await zstd(parts[0]!, ["-1"]),
      skippable,
      await zstd(parts[1]!, ["-1", "--no-check"]),
      await zstd(parts[2]!, ["-1"]),
      await zstd(parts[3]!, ["-3"]),
    ]);
    const expected = join(parts);
    for (const size of [1000, 65536, stream.length]) {
      const out: Uint8Array[] = [];
      const decoded = await decodeZstd(chunked(stream, size), async (bytes) => {
        await Promise.resolve();
        out.push(bytes.slice());
        return true;
      });
      assert(decoded, "node:zlib's zstd handle is as expected");
      const back = join(out);
      assertEquals(back.length, expected.length, `chunks of ${size}`);
      assert(back.every((byte, i) => byte === expected[i]), `chunks of ${size}`);
    }
    const firsts: number[] = [];
    await decodeZstd(chunked(stream, 65536), (bytes) => {
      firsts.push(bytes.length);
      return Promise.resolve(false);
    });
    assertEquals(firsts.length, 1);
  },
});

Deno.test({
  name: "decodeZstd() names corrupt data as a ZstdDataError",
  ignore: noZstd,
  fn: async () => {
    const packed = await zstd(sample(2_000_000), ["-1"]);
    for (let i = 100; i < packed.length - 8; i += 97) packed[i]! ^= 0x5a;
    await assertRejects(
      () => decodeZstd(chunked(packed, 65536), () => Promise.resolve(true)),
      ZstdDataError,
    );
  },
});
