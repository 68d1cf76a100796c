/**
 * Stores a core compressed, atomically and with bounded memory: the bytes stream from the
 * core through gzip or zstd and a SHA-256 into a temporary file beside the destination,
 * which is flushed to disk and renamed into place only when complete. On any failure (a
 * full disk, a vanished source) the partial file is removed and the source is untouched.
 * A core already compressed the way the store wants is copied as it is.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { constants, createGzip, createZstdCompress } from "node:zlib";
import { basename, dirname } from "node:path";
import { InputError, UnavailableError } from "../errors.ts";

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
  /** How the source is compressed already (from its first bytes); default none. */
  sourceCompression?: "none" | "gzip" | "zstd";
  /** Compression level; default fast (gzip 1, zstd 1), as cores are large and compress well. */
  level?: number;
}

const CHUNK = 1 << 20;

/**
 * Compresses `source` into `destination`.
 *
 * @throws {InputError} when the source cannot be read.
 * @throws {UnavailableError} when the destination cannot be written (disk full, permissions).
 */
export async function storeCompressed(
  source: string,
  destination: string,
  options: StoreOptions,
): Promise<StoredFile> {
  const temporary = `${dirname(destination)}/.${basename(destination)}.${
    crypto.randomUUID().slice(0, 8)
  }.part`;
  const hash = createHash("sha256");
  let bytes = 0;
  let sourceBytes = 0;
  const copied = options.sourceCompression === options.compression;
  const counting = new Transform({
    transform(chunk: Uint8Array, _encoding, done) {
      sourceBytes += chunk.length;
      done(null, chunk);
    },
  });
  const hashing = new Transform({
    transform(chunk: Uint8Array, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const compressor = copied
    ? new Transform({ transform: (chunk, _encoding, done) => done(null, chunk) })
    : options.compression === "gzip"
    ? createGzip({ level: options.level ?? 1, chunkSize: 64 * 1024 })
    : createZstdCompress({ params: { [constants.ZSTD_c_compressionLevel]: options.level ?? 1 } });
  const input = createReadStream(source, { highWaterMark: CHUNK });
  const output = createWriteStream(temporary, { mode: 0o600, flags: "wx", highWaterMark: CHUNK });
  // A failure anywhere destroys every stream with the same error: the first one tells whose.
  let failed: "read" | "write" | undefined;
  input.on("error", () => (failed ??= "read"));
  output.on("error", () => (failed ??= "write"));
  try {
    await pipeline(
      input,
      counting,
      compressor,
      hashing,
      output,
    );
    await syncFile(temporary);
    await Deno.rename(temporary, destination);
    await syncDirectory(dirname(destination));
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    const reason = error instanceof Error ? error.message : String(error);
    if (failed === "read") {
      throw new InputError(`Cannot read core "${source}": ${reason}`, { cause: error });
    }
    const full = /ENOSPC|No space left/i.test(reason);
    throw new UnavailableError(
      `Cannot store core "${source}" as "${destination}": ${
        full ? "no space left on the device" : reason
      }`,
      { cause: error },
    );
  }
  return { bytes, sha256: hash.digest("hex"), sourceBytes, copied };
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
export async function verifyStored(path: string, expected: StoredFile): Promise<boolean> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: CHUNK })) {
    hash.update(chunk as Uint8Array);
    bytes += (chunk as Uint8Array).length;
  }
  return bytes === expected.bytes && hash.digest("hex") === expected.sha256;
}
