/**
 * Decompression of the formats cores arrive in: gzip and zstd (node:zlib) and lz4 (a
 * streaming LZ4 frame decoder written for this project), as node `Transform` streams that
 * fail only through `error` events, and zstd into reused buffers ({@linkcode decodeZstd}).
 * Used by the core reader (to reach a compressed core's notes and unpack it for gdb) and by
 * the store (to compress a core again).
 *
 * @module
 */
export { type Compressed, createDecompressor } from "./decompress.ts";
export { createLz4Decompress } from "./lz4.ts";
export { decodeZstd, ZstdDataError, type ZstdHandle } from "./_zstd_decode.ts";
