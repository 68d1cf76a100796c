/**
 * zstd decoding into reused buffers, for unpacking a whole core (for gdb) with nothing
 * allocated per chunk. node:zlib's zstd stream allocates every output chunk, which V8 frees
 * only when it collects: unpacking the 2 GiB mixed core of `bench/make_cores.ts` that way
 * peaked at 72-83 MB RSS in a bare script, with 4.0-5.2 s of user CPU. Driving the same
 * native decoder into two buffers used in turn, as the store's `FrameCompressor` does for
 * compression, peaked at 56-59 MB with 2.0-2.7 s of user CPU (wall times on the shared
 * disk varied more between runs than between the two).
 *
 * @module
 */
import { constants, createZstdDecompress } from "node:zlib";
import { ZstdFrameCutter } from "./_zstd_split.ts";

/** The native handle of node:zlib's zstd streams, as Deno 2.9 shapes it. */
export interface ZstdHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inputOffset: number,
    inputLength: number,
    output: Uint8Array,
    outputOffset: number,
    outputLength: number,
  ): void;
}

/** Bytes read from the source at a time. */
const INPUT_BYTES = 256 << 10;
/** Bytes of output handed to the sink at a time (fewer only at the end). */
const OUTPUT_BYTES = 128 << 10;

/** A zstd decoding failure: the data is corrupt (never the source's or the sink's own error). */
export class ZstdDataError extends Error {}

/**
 * Decodes the zstd stream that `read` gives (into the buffer it is passed; `null` at the
 * end) and hands the output to `sink` in order, in pieces of two buffers used in turn: while
 * the sink writes one, the decoder fills the other. A piece is valid only until the sink's
 * promise settles; the sink returns `false` to stop there. Frames are fed to the
 * decoder one at a time (`_zstd_split.ts`). Data cut short ends the output where it ends, as
 * node:zlib's stream does. Returns `false` when the decoder's handle is not shaped as
 * expected (the caller decodes another way), `true` otherwise.
 *
 * @throws {ZstdDataError} when the data is corrupt; whatever `read` or `sink` throws.
 */
export async function decodeZstd(
  read: (buffer: Uint8Array) => Promise<number | null>,
  sink: (bytes: Uint8Array) => Promise<boolean>,
): Promise<boolean> {
  const stream = createZstdDecompress();
  let failure: Error | undefined;
  stream.on("error", (error) => failure ??= error);
  const inner = stream as unknown as { _handle?: Partial<ZstdHandle>; _writeState?: unknown };
  const state = inner._writeState;
  if (typeof inner._handle?.writeSync !== "function" || !(state instanceof Uint32Array)) {
    stream.destroy();
    return false;
  }
  const handle = inner._handle as ZstdHandle;
  const cutter = new ZstdFrameCutter();
  const input = new Uint8Array(INPUT_BYTES);
  let [output, spare] = [new Uint8Array(OUTPUT_BYTES), new Uint8Array(OUTPUT_BYTES)];
  let written = 0;
  // The sink's work on the other buffer, which must settle before that buffer is reused.
  let sinking: Promise<boolean> | undefined;
  const hand = async (bytes: Uint8Array) => {
    if (sinking && !(await sinking)) return false;
    sinking = sink(bytes);
    // Awaited before anything else is handed, or in the end: never unhandled.
    sinking.catch(() => {});
    [output, spare] = [spare, output];
    written = 0;
    return true;
  };
  const decode = (piece: Uint8Array, at: number) => {
    try {
      handle.writeSync(
        constants.ZSTD_e_continue,
        piece,
        at,
        piece.length - at,
        output,
        written,
        output.length - written,
      );
    } catch (error) {
      failure ??= error instanceof Error ? error : new Error(String(error));
    }
    if (failure) throw new ZstdDataError(failure.message, { cause: failure });
    const [outputLeft, inputLeft] = state;
    written = output.length - outputLeft!;
    return { at: piece.length - inputLeft!, full: outputLeft === 0 };
  };
  try {
    for (let length = await read(input); length !== null; length = await read(input)) {
      for (const piece of cutter.cut(input.subarray(0, length))) {
        let at = 0;
        for (;;) {
          const step = decode(piece, at);
          at = step.at;
          if (step.full) {
            if (!(await hand(output))) return true;
          } else if (at === piece.length) break;
        }
      }
    }
    if (written > 0 && !(await hand(output.subarray(0, written)))) return true;
    await sinking;
    return true;
  } finally {
    await sinking?.catch(() => {});
    stream.destroy();
  }
}
