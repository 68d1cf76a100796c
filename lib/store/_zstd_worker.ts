/**
 * The worker that compresses for {@linkcode compressFrames} of `_zstd_frames.ts`: each
 * message is one piece of a core, answered with that piece as one complete zstd frame. Both
 * buffers travel transferred, not copied, and go back with the answer to be used again.
 *
 * Deno's node:zlib refuses zstd's own threads (`ZSTD_c_nbWorkers`), so compressing beside
 * the main thread takes a worker.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { type FrameAnswer, FrameCompressor, type FrameRequest } from "./_zstd_frames.ts";

let compressor: FrameCompressor | undefined;

self.onmessage = (event: MessageEvent<FrameRequest>) => {
  const { id, input, length, output, level } = event.data;
  const answer: FrameAnswer = { id, input, output, frameLength: 0 };
  try {
    if (compressor?.level !== level) {
      compressor?.close();
      compressor = new FrameCompressor(level);
    }
    answer.frameLength = compressor.compress(
      new Uint8Array(input, 0, length),
      new Uint8Array(output),
    );
  } catch (error) {
    answer.error = error instanceof Error ? error.message : String(error);
  }
  self.postMessage(answer, [input, output]);
};
