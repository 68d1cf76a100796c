/**
 * Streaming decompressors for the compressions cores arrive in (gzip, zstd, lz4), safe on
 * corrupt input: every failure is an `error` event on the stream, never an exception that
 * escapes it.
 *
 * @module
 */
import type { Transform, TransformCallback } from "node:stream";
import { createGunzip, createZstdDecompress } from "node:zlib";
import { createLz4Decompress } from "./lz4.ts";
import { ZstdFrameCutter } from "./_zstd_split.ts";

/** The compressions a core can be decompressed from. */
export type Compressed = "gzip" | "zstd" | "lz4";

/**
 * Creates a streaming decompressor for `compression`.
 *
 * @example Usage
 * ```ts
 * import { Readable } from "node:stream";
 * import { gzipSync } from "node:zlib";
 * const out = Readable.from([gzipSync("core")]).pipe(createDecompressor("gzip"));
 * for await (const chunk of out) console.log(new TextDecoder().decode(chunk)); // "core"
 * ```
 */
export function createDecompressor(compression: Compressed): Transform {
  switch (compression) {
    case "gzip":
      return createGunzip();
    case "zstd":
      return guardZstd(oneFramePerWrite(createZstdDecompress()));
    case "lz4":
      return createLz4Decompress();
  }
}

/**
 * Deno's node:zlib (2.9) calls the native zstd decoder again from a `process.nextTick`
 * whenever its output buffer fills, without the try/catch its first call has: corrupt data
 * found there (a content checksum that does not match, at the end of every frame) is
 * thrown out of the tick as an uncaught exception, which ends the process. Wrapping the
 * handle's native write turns that throw into `destroy(error)`, as the first call does.
 * Where the handle is not shaped as expected the stream is returned as it is.
 */
function guardZstd(stream: Transform): Transform {
  const handle = (stream as unknown as { _handle?: Record<symbol, unknown> })._handle;
  if (!handle) return stream;
  const key = Object.getOwnPropertySymbols(handle).find((s) => s.description === "kNativeWrite");
  const write = key === undefined ? undefined : handle[key];
  if (key === undefined || typeof write !== "function") return stream;
  handle[key] = function (this: { _callbackPending?: boolean }, ...args: unknown[]) {
    try {
      return write.apply(this, args);
    } catch (error) {
      // No write is pending any more: the stream must not go on to read the output.
      this._callbackPending = false;
      stream.destroy(error instanceof Error ? error : new Error(String(error)));
      return undefined;
    }
  };
  return stream;
}

/**
 * Has `stream` decode each chunk in pieces that never span two zstd frames, one after the
 * other: fed more than one frame in a write, Deno's zstd decoder drops all but the first
 * (`_zstd_split.ts`).
 */
function oneFramePerWrite(stream: Transform): Transform {
  const cutter = new ZstdFrameCutter();
  const transform = stream._transform.bind(stream);
  stream._transform = (chunk: Uint8Array, encoding: BufferEncoding, done: TransformCallback) => {
    const pieces = cutter.cut(chunk);
    let next = 0;
    const step = (error?: Error | null) => {
      if (error || next === pieces.length) done(error);
      else transform(pieces[next++]!, encoding, step);
    };
    step();
  };
  return stream;
}
