/**
 * Stores a core compressed, atomically and with bounded memory: the bytes stream from the
 * core through gzip or zstd and a SHA-256 into a temporary file beside the destination,
 * which is flushed to disk and renamed into place only when complete. On any failure (a
 * full disk, a vanished source) the partial file is removed and the source is untouched.
 * A core already compressed the way the store wants is copied as it is; one compressed
 * otherwise (gzip for a zstd store, lz4) is decompressed on the way and compressed again.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { PassThrough, pipeline, Readable, Transform } from "node:stream";
import { pipeline as pipe } from "node:stream/promises";
import { constants, createGzip, createZstdCompress } from "node:zlib";
import { dirname } from "node:path";
import { createDecompressor } from "../compression/mod.ts";
import { errorMessage, InputError, UnavailableError } from "../errors.ts";
import { writeAll } from "../io.ts";
import { chunkFill, compressFrames, fileFill, type Fill, FRAME_BYTES } from "./_zstd_frames.ts";
import { temporaryName, writeReason } from "./_temporary.ts";

export { temporaryName, temporaryWriter, writeReason } from "./_temporary.ts";

/** What was stored. */
export interface StoredFile {
  /** Bytes written (compressed). */
  bytes: number;
  /** SHA-256 (hex) of the bytes written. */
  sha256: string;
  /** Bytes read from the source. */
  sourceBytes: number;
  /** Whether the source was copied as it was (already compressed as wanted). */
  copied: boolean;
}

/** Options of {@linkcode storeCompressed}. */
export interface StoreOptions {
  compression: "gzip" | "zstd";
  /**
   * How the source is compressed already (from its first bytes); default none. An lz4
   * source is decompressed before it is compressed as wanted.
   */
  sourceCompression?: "none" | "gzip" | "zstd" | "lz4";
  /**
   * Compression level; default fast (gzip 2, zstd 1), as cores are large and compress well.
   * gzip's default is 2, not 1: Deno's zlib is zlib-ng, whose level 1 is a quicker
   * algorithm than GNU `gzip -1`'s, with output about 17-25% larger; its level 2 comes
   * within 1% of `gzip -1`'s size while still using about 0.6 of its CPU time
   * (`deno task bench:store`).
   */
  level?: number;
  /** Bytes the source must have: a source that is shorter or longer fails (it changed). */
  expectedSourceBytes?: number;
  /** Most bytes a compressed source may unpack to; one that unpacks to more fails. */
  maxUnpackedBytes?: number;
  /** Who writes, in the temporary file's name, so a sweep can tell its own leftovers. */
  writer?: string;
  /** Workers compressing zstd at once; default 1. */
  workers?: number;
  /** Bytes of the source per zstd frame; default 2 MiB (smaller in tests, to get many). */
  frameBytes?: number;
}

const CHUNK = 1 << 20;
/** See {@linkcode StoreOptions.workers}. */
const DEFAULT_ZSTD_WORKERS = 1;
/** See {@linkcode StoreOptions.level}. */
const DEFAULT_GZIP_LEVEL = 2;

/** A core's bytes on their way into a store: compressed, counted and hashed as they flow. */
export interface CompressedStream {
  /** The compressed bytes. Consume it (pipe or iterate) exactly once. */
  output: Readable;
  /** Totals, complete once `output` has ended. */
  stats(): Omit<StoredFile, "copied">;
  copied: boolean;
  /** Whether the failure, if any, was reading the source (rather than what consumed it). */
  sourceFailed(): boolean;
}

/**
 * Opens a source (a path or a stream) as a stream of compressed bytes with bounded memory.
 * A source already compressed as wanted passes through as it is; an lz4 source goes through
 * the lz4 decoder first. When `expectedSourceBytes` is given, a source of any other length
 * (counted before decoding) errors the stream.
 */
export function compressedStream(
  source: string | Readable,
  options: StoreOptions,
): CompressedStream {
  const hash = createHash("sha256");
  let bytes = 0;
  let failedReading = false;
  let firstFailure: number | undefined;
  const copied = options.sourceCompression === options.compression;
  const hashing = new Transform({
    highWaterMark: CHUNK,
    transform(chunk: Uint8Array, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const compressor = copied
    ? new PassThrough()
    : options.compression === "gzip"
    ? createGzip({ level: options.level ?? DEFAULT_GZIP_LEVEL, chunkSize: 64 * 1024 })
    : createZstdCompress({ params: { [constants.ZSTD_c_compressionLevel]: options.level ?? 1 } });
  const reading = sourceReading(source, options, !copied);
  const stages = [...reading.stages, compressor, hashing];
  // The first stream to fail tells whose fault it is: the source's or the consumer's.
  stages.forEach((stream, index) =>
    stream.on("error", () => {
      if (firstFailure === undefined) {
        firstFailure = index;
        failedReading = index < reading.stages.length;
      }
    })
  );
  const output = hashing;
  // A failure anywhere destroys the whole chain, `output` included, with that error; a
  // consumer that stops early destroys `output` and so the chain.
  pipeline(stages, () => {});
  let digest: string | undefined;
  return {
    output,
    copied,
    stats: () => ({
      bytes,
      sha256: digest ??= hash.digest("hex"),
      sourceBytes: reading.sourceBytes(),
    }),
    sourceFailed: () => failedReading,
  };
}

/** The streams that read a source, and its length so far. */
interface SourceReading {
  /** To be piped in this order; the last gives the bytes to compress. */
  stages: Readable[];
  /** Bytes read from the source (before any decoding). */
  sourceBytes(): number;
}

/**
 * Reads `source`, checking its length against `expectedSourceBytes`, and when `decode` is
 * set and the source is compressed, decompresses it (at most `maxUnpackedBytes`).
 */
function sourceReading(
  source: string | Readable,
  options: StoreOptions,
  decode: boolean,
): SourceReading {
  let sourceBytes = 0;
  const expected = options.expectedSourceBytes;
  const counting = new Transform({
    highWaterMark: CHUNK,
    transform(chunk: Uint8Array, _encoding, done) {
      sourceBytes += chunk.length;
      done(lengthError(sourceBytes, expected, false), chunk);
    },
    flush(done) {
      done(lengthError(sourceBytes, expected, true));
    },
  });
  const input = typeof source === "string"
    ? createReadStream(source, { highWaterMark: CHUNK })
    : source;
  // Corrupt compressed data is the source's fault, like a read error.
  const sourceKind = decode ? options.sourceCompression ?? "none" : "none";
  const limit = options.maxUnpackedBytes;
  let unpacked = 0;
  const capping = new Transform({
    highWaterMark: CHUNK,
    transform(chunk: Uint8Array, _encoding, done) {
      unpacked += chunk.length;
      if (limit !== undefined && unpacked > limit) {
        done(new Error(`it unpacks to more than the ${limit} bytes its headers declare`));
      } else done(null, chunk);
    },
  });
  return {
    stages: sourceKind === "none"
      ? [input, counting]
      : [input, counting, createDecompressor(sourceKind), capping],
    sourceBytes: () => sourceBytes,
  };
}

/**
 * Why a source of `bytes` so far (all of it, when `ended`) is not the `expected` length,
 * or `null` when it may be.
 */
function lengthError(bytes: number, expected: number | undefined, ended: boolean): Error | null {
  if (expected === undefined) return null;
  if (bytes > expected) {
    return new Error(`it grew past the ${expected} bytes it had (the file changed)`);
  }
  if (ended && bytes !== expected) {
    return new Error(`it ended at ${bytes} of ${expected} bytes (the file changed)`);
  }
  return null;
}

/**
 * Something read into the caller's buffer, as `Deno.stdin` and `Deno.FsFile` are: read so,
 * a source costs no allocation per chunk (a web stream allocates one per read).
 */
export interface ByteReader {
  /** Reads into `buffer` and says how many bytes came; `null` at the end. */
  read(buffer: Uint8Array): Promise<number | null>;
}

/** A source of {@linkcode storeCompressed}. */
export type StoreSource = string | Readable | ReadableStream<Uint8Array> | ByteReader;

/** `source` as a node stream (a path stays a path). */
function nodeSource(source: StoreSource): string | Readable {
  if (typeof source === "string" || source instanceof Readable) return source;
  if (source instanceof ReadableStream) return Readable.fromWeb(source as never);
  const reader = source;
  return Readable.from((async function* () {
    for (;;) {
      const buffer = new Uint8Array(CHUNK);
      const length = await reader.read(buffer);
      if (length === null) return;
      yield buffer.subarray(0, length);
    }
  })());
}

/**
 * Compresses `source` (a path, a node stream, a web stream or a {@linkcode ByteReader}) into
 * `destination`.
 *
 * @throws {InputError} when the source cannot be read, or its length is not as expected.
 * @throws {UnavailableError} when the destination cannot be written (disk full, permissions).
 */
export async function storeCompressed(
  source: StoreSource,
  destination: string,
  options: StoreOptions,
): Promise<StoredFile> {
  const temporary = temporaryName(destination, options.writer);
  const what = typeof source === "string" ? `core "${source}"` : "the core from the stream";
  if (options.compression === "zstd" && options.sourceCompression !== "zstd") {
    return await storeZstd(source, destination, temporary, what, options);
  }
  if (typeof source === "string" && options.sourceCompression === options.compression) {
    return await storeCopy(source, destination, temporary, what, options);
  }
  const stream = compressedStream(nodeSource(source), options);
  const output = createWriteStream(temporary, { mode: 0o600, flags: "wx", highWaterMark: CHUNK });
  try {
    await pipe(stream.output, output);
    await syncFile(temporary);
    await Deno.rename(temporary, destination);
    await syncDirectory(dirname(destination));
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw storeError(error, stream.sourceFailed(), what, destination);
  }
  return { ...stream.stats(), copied: stream.copied };
}

/**
 * {@linkcode storeCompressed} for zstd: frames compressed in workers (`_zstd_frames.ts`)
 * while this thread reads the source into reused buffers, and hashes and writes the frames
 * in order. A plain core on disk or from a {@linkcode ByteReader} (the kernel's pipe) is read
 * straight into the pieces' buffers; one from a web stream is copied into them without
 * node:stream in between.
 */
async function storeZstd(
  source: StoreSource,
  destination: string,
  temporary: string,
  what: string,
  options: StoreOptions,
): Promise<StoredFile> {
  const hash = createHash("sha256");
  let bytes = 0;
  let sourceBytes = 0;
  let failedReading = false;
  let input: Deno.FsFile | undefined;
  let chunks: ReturnType<typeof chunkFill> | undefined;
  let stages: Readable[] = [];
  let output: Deno.FsFile | undefined;
  try {
    let fill: Fill;
    const plain = (options.sourceCompression ?? "none") === "none";
    if (plain && !(source instanceof Readable)) {
      let read: Fill;
      if (typeof source === "string") {
        failedReading = true;
        input = await Deno.open(source, { read: true });
        failedReading = false;
        read = fileFill(input);
      } else if (source instanceof ReadableStream) {
        read = chunks = chunkFill(source);
      } else {
        read = fileFill(source);
      }
      fill = async (buffer) => {
        const length = await read(buffer);
        sourceBytes += length;
        const wrong = lengthError(sourceBytes, options.expectedSourceBytes, length < buffer.length);
        if (wrong) throw wrong;
        return length;
      };
    } else {
      const reading = sourceReading(nodeSource(source), options, true);
      stages = reading.stages;
      // A failure anywhere destroys the last stream with it, which the filling then throws.
      pipeline(stages, () => {});
      const read = chunks = chunkFill(stages.at(-1)! as AsyncIterable<Uint8Array>);
      fill = async (buffer) => {
        const length = await read(buffer);
        sourceBytes = reading.sourceBytes();
        return length;
      };
    }
    output = await Deno.open(temporary, { write: true, createNew: true, mode: 0o600 });
    const file = output;
    await compressFrames(
      async (buffer) => {
        try {
          return await fill(buffer);
        } catch (error) {
          failedReading = true;
          throw error;
        }
      },
      async (frame) => {
        hash.update(frame);
        bytes += frame.length;
        await writeAll(file, frame);
      },
      {
        level: options.level ?? 1,
        workers: options.workers ?? DEFAULT_ZSTD_WORKERS,
        frameBytes: options.frameBytes ?? FRAME_BYTES,
      },
    );
    const written = output;
    output = undefined;
    await putInPlace(written, temporary, destination);
  } catch (error) {
    output?.close();
    await Deno.remove(temporary).catch(() => {});
    throw storeError(error, failedReading, what, destination);
  } finally {
    input?.close();
    await chunks?.stop();
    for (const stage of stages) stage.destroy();
  }
  return { bytes, sha256: hash.digest("hex"), sourceBytes, copied: false };
}

/**
 * {@linkcode storeCompressed} for a core on disk already compressed as wanted (the spool of
 * pipe mode): copied through two buffers used in turn, the next read while the last is hashed
 * and written. A node:stream copy allocates a new buffer per read, which V8 frees only when
 * it collects: `agent collect --from-stdin` peaked ~45 MB higher copying its spool that way.
 */
async function storeCopy(
  source: string,
  destination: string,
  temporary: string,
  what: string,
  options: StoreOptions,
): Promise<StoredFile> {
  const hash = createHash("sha256");
  let bytes = 0;
  let sourceBytes = 0;
  // What failed reading (or opening) the source, to tell its fault from the destination's.
  let readFailure: unknown;
  let input: Deno.FsFile | undefined;
  let output: Deno.FsFile | undefined;
  let reading: Promise<number> | undefined;
  try {
    input = await Deno.open(source, { read: true }).catch((error) => {
      throw readFailure = error;
    });
    output = await Deno.open(temporary, { write: true, createNew: true, mode: 0o600 });
    const fill = fileFill(input);
    const read = async (buffer: Uint8Array) => {
      try {
        const length = await fill(buffer);
        sourceBytes += length;
        const wrong = lengthError(sourceBytes, options.expectedSourceBytes, length < buffer.length);
        if (wrong) throw wrong;
        return length;
      } catch (error) {
        throw readFailure = error;
      }
    };
    let [current, next] = [new Uint8Array(CHUNK), new Uint8Array(CHUNK)];
    let length = await read(current);
    while (length > 0) {
      const chunk = current.subarray(0, length);
      reading = length < CHUNK ? undefined : read(next);
      // Settled before anything else can fail, so that its rejection is never unhandled.
      reading?.catch(() => {});
      hash.update(chunk);
      await writeAll(output, chunk);
      bytes += length;
      length = reading ? await reading : 0;
      reading = undefined;
      [current, next] = [next, current];
    }
    const written = output;
    output = undefined;
    await putInPlace(written, temporary, destination);
  } catch (error) {
    await reading?.catch(() => {});
    output?.close();
    await Deno.remove(temporary).catch(() => {});
    throw storeError(error, error === readFailure, what, destination);
  } finally {
    input?.close();
  }
  return { bytes, sha256: hash.digest("hex"), sourceBytes, copied: true };
}

/** A failed store's error: the source's fault (input) or the destination's (unavailable). */
function storeError(error: unknown, reading: boolean, what: string, destination: string): Error {
  if (reading) {
    return new InputError(`Cannot read ${what}: ${errorMessage(error)}`, { cause: error });
  }
  return new UnavailableError(`Cannot store ${what} as "${destination}": ${writeReason(error)}`, {
    cause: error,
  });
}

/** Flushes the temporary file to disk, closes it and renames it to `destination` for good. */
async function putInPlace(file: Deno.FsFile, temporary: string, destination: string) {
  try {
    await file.sync();
  } finally {
    file.close();
  }
  await Deno.rename(temporary, destination);
  await syncDirectory(dirname(destination));
}

async function syncFile(path: string): Promise<void> {
  const file = await Deno.open(path, { read: true });
  try {
    await file.sync();
  } finally {
    file.close();
  }
}

/** Makes the rename itself durable (on NFS and local filesystems alike). */
async function syncDirectory(path: string): Promise<void> {
  try {
    const dir = await Deno.open(path, { read: true });
    try {
      await dir.sync();
    } finally {
      dir.close();
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename has happened either way.
  }
}

/**
 * Hashes a stored file again and compares: the check that must pass before an original
 * core is deleted.
 */
export async function verifyStored(
  path: string,
  expected: { bytes: number; sha256: string },
): Promise<boolean> {
  const hash = createHash("sha256");
  let bytes = 0;
  // One buffer, reused: nothing is left per chunk for V8 to collect (see storeCopy).
  const buffer = new Uint8Array(CHUNK);
  using file = await Deno.open(path, { read: true });
  const fill = fileFill(file);
  for (let length = await fill(buffer); length > 0; length = await fill(buffer)) {
    hash.update(buffer.subarray(0, length));
    bytes += length;
    if (length < CHUNK) break;
  }
  return bytes === expected.bytes && hash.digest("hex") === expected.sha256;
}
