import { Readable } from "node:stream";
import { assert, assertEquals, assertRejects } from "../../tests/support/assert.ts";
import { createDecompressor } from "../compression/mod.ts";
import { chunkFill, compressFrames, type Fill, runningWorkers } from "./_zstd_frames.ts";

const OPTIONS = { level: 1, workers: 2, frameBytes: 4096 };

/** `length` bytes of text with a counter in it: compressible, never the same twice. */
function text(length: number): Uint8Array {
  const line = (n: number) => `record ${n} of the heap: state=ok\n`;
  const out = new Uint8Array(length);
  const encoder = new TextEncoder();
  for (let at = 0, n = 0; at < length; n++) {
    at += encoder.encodeInto(line(n), out.subarray(at)).written;
  }
  return out;
}

/** A fill over `bytes` that throws `error` once `failAt` bytes have been given. */
function failingFill(bytes: Uint8Array, failAt: number, error: Error): Fill {
  const fill = chunkFill((async function* () {
    yield bytes;
  })());
  let given = 0;
  return async (buffer) => {
    if (given >= failAt) throw error;
    const length = await fill(buffer);
    given += length;
    return length;
  };
}

Deno.test("compressFrames() hands over frames in order that unpack to the source", async () => {
  const source = text(200_000);
  const frames: Uint8Array[] = [];
  await compressFrames(failingFill(source, Infinity, new Error()), async (frame) => {
    await Promise.resolve();
    frames.push(frame.slice());
  }, OPTIONS);
  assertEquals(frames.length, Math.ceil(source.length / OPTIONS.frameBytes));
  const joined = new Uint8Array(frames.reduce((sum, frame) => sum + frame.length, 0));
  frames.reduce((at, frame) => (joined.set(frame, at), at + frame.length), 0);
  // node:zlib's zstdDecompressSync stops after the first frame; the streaming decoder does not.
  const unpacked = await Array.fromAsync(
    Readable.from([joined]).pipe(createDecompressor("zstd")) as AsyncIterable<Uint8Array>,
  );
  const back = new Uint8Array(await new Blob(unpacked as Uint8Array<ArrayBuffer>[]).arrayBuffer());
  assert(back.length === source.length && back.every((byte, i) => byte === source[i]));
  assertEquals(runningWorkers(), 0);
});

Deno.test("compressFrames() stops the workers when reading fails", async () => {
  const error = new Error("the disk went away");
  const frames: number[] = [];
  const failed = await assertRejects(
    () =>
      compressFrames(failingFill(text(200_000), 40_000, error), async (frame) => {
        frames.push(frame.length);
        await Promise.resolve();
      }, OPTIONS),
    Error,
  );
  assertEquals(failed, error);
  assertEquals(runningWorkers(), 0);
});

Deno.test("compressFrames() stops reading and the workers when the sink fails", async () => {
  const error = new Error("no space left on the device");
  let written = 0;
  let read = 0;
  const fill = failingFill(text(400_000), Infinity, new Error());
  const failed = await assertRejects(
    () =>
      compressFrames(async (buffer) => {
        const length = await fill(buffer);
        read += length;
        return length;
      }, async () => {
        if (++written === 3) throw error;
        await Promise.resolve();
      }, OPTIONS),
    Error,
  );
  assertEquals(failed, error);
  assertEquals(runningWorkers(), 0);
  // Reading stopped with the failure: at most the pieces in flight were read past it.
  assert(read <= (3 + 2 * OPTIONS.workers + 1) * OPTIONS.frameBytes, `read ${read}`);
});
