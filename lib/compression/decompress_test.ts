import { Readable } from "node:stream";
import { assert, assertEquals } from "../../tests/support/assert.ts";
import { haveCommand, skipNotice } from "../../tests/support/cores.ts";
import { createDecompressor } from "./mod.ts";

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
