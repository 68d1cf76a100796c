/**
 * Byte sources for core files: positioned reads on a plain file, and forward-only
 * reads through a streaming decompressor for `.gz`, `.zst` and `.lz4` cores, which
 * decompress only as far as the last byte asked for.
 *
 * @module
 */
import type { Readable } from "node:stream";
import { InputError, UnavailableError } from "../errors.ts";
import type { Compressed } from "../compression/mod.ts";

/**
 * `node:fs` and the decompressors, loaded on the first compressed core: their Node-compat
 * start-up (~45 ms) is not paid by the analysis of a plain core.
 */
function streamModules(): Promise<StreamModules> {
  return loadedStreamModules ??= Promise.all([
    import("node:fs"),
    import("../compression/mod.ts"),
  ]).then(([fs, compression]) => ({
    createReadStream: fs.createReadStream,
    createDecompressor: compression.createDecompressor,
    decodeZstd: compression.decodeZstd,
    ZstdDataError: compression.ZstdDataError,
  }));
}

interface StreamModules {
  createReadStream: typeof import("node:fs").createReadStream;
  createDecompressor: typeof import("../compression/mod.ts").createDecompressor;
  decodeZstd: typeof import("../compression/mod.ts").decodeZstd;
  ZstdDataError: typeof import("../compression/mod.ts").ZstdDataError;
}

let loadedStreamModules: Promise<StreamModules> | undefined;

/** How a core file is stored on disk, told by its first bytes. */
export type Compression = "none" | "gzip" | "zstd" | "lz4";

/** Reads byte ranges of an (uncompressed) core. */
export interface ByteSource {
  /** How the file on disk is compressed. */
  readonly compression: Compression;
  /** Size of the file on disk. */
  readonly fileSize: number;
  /** When the file was last modified (when the kernel finished writing a core), if known. */
  readonly modifiedAt: Date | null;
  /** Whether `read` accepts any offset; a streaming source only accepts non-decreasing ones. */
  readonly seekable: boolean;
  /**
   * Reads `length` bytes at `offset` of the uncompressed core. Returns fewer bytes only
   * when the data ends first.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Reads into `into` at `offset`, synchronously, and returns how many bytes came (fewer only
   * at the end of the data): only a plain file offers it, for the handful of small reads (a
   * page each) where an asynchronous operation would cost more than the read itself.
   */
  readSync?(offset: number, into: Uint8Array): number;
  /** Releases the file and any decompressor. */
  close(): void;
}

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const LZ4_MAGIC = [0x04, 0x22, 0x4d, 0x18];
/** `lz4 -l`: the format before frames, which systemd-coredump never writes. */
const LZ4_LEGACY_MAGIC = [0x02, 0x21, 0x4c, 0x18];
const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];

function startsWith(bytes: Uint8Array, magic: number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}

/**
 * Opens a core file and picks the source by its magic bytes, not its name.
 *
 * @throws {InputError} when the file cannot be opened or uses an unsupported compression.
 */
export async function openSource(path: string): Promise<ByteSource> {
  let file: Deno.FsFile;
  try {
    // Checked before opening: opening a FIFO would block until a writer came.
    const info = await Deno.stat(path);
    if (info.isDirectory) throw new InputError(`Cannot read core "${path}": is a directory`);
    if (!info.isFile) throw new InputError(`Cannot read core "${path}": not a regular file`);
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`Cannot read core "${path}": ${describeFsError(error)}`, { cause: error });
  }
  try {
    const info = await file.stat();
    const head = await readAt(file, 0, 8);
    const compression = startsWith(head, GZIP_MAGIC)
      ? "gzip"
      : startsWith(head, ZSTD_MAGIC)
      ? "zstd"
      : startsWith(head, LZ4_MAGIC)
      ? "lz4"
      : undefined;
    if (compression) {
      file.close();
      return new StreamSource(await streamModules(), path, info.size, compression, info.mtime);
    }
    if (startsWith(head, XZ_MAGIC)) {
      throw new InputError(
        `Cannot read core "${path}": xz-compressed cores are not supported (use gzip, zstd or lz4)`,
      );
    }
    if (startsWith(head, LZ4_LEGACY_MAGIC)) {
      throw new InputError(
        `Cannot read core "${path}": legacy lz4 format (lz4 -l) is not supported (use the lz4 frame format)`,
      );
    }
    return new FileSource(path, file, info.size, info.mtime);
  } catch (error) {
    file.close();
    throw error;
  }
}

/** Turns a Deno filesystem error into a short reason. */
export function describeFsError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "is a directory";
  return error instanceof Error ? error.message : String(error);
}

async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  if (length <= 0) return new Uint8Array(0);
  const buffer = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < length) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return buffer.subarray(0, filled);
}

class FileSource implements ByteSource {
  readonly compression = "none";
  readonly seekable = true;
  constructor(
    private readonly path: string,
    private readonly file: Deno.FsFile,
    readonly fileSize: number,
    readonly modifiedAt: Date | null,
  ) {}

  async read(offset: number, length: number): Promise<Uint8Array> {
    // Past the end nothing is read (a seek to an absurd offset fails with EINVAL).
    try {
      return await readAt(this.file, offset, Math.max(0, Math.min(length, this.fileSize - offset)));
    } catch (error) {
      throw new InputError(`Cannot read core "${this.path}": ${describeFsError(error)}`, {
        cause: error,
      });
    }
  }

  readSync(offset: number, into: Uint8Array): number {
    const wanted = Math.max(0, Math.min(into.length, this.fileSize - offset));
    try {
      this.file.seekSync(offset, Deno.SeekMode.Start);
      let filled = 0;
      while (filled < wanted) {
        const n = this.file.readSync(into.subarray(filled, wanted));
        if (n === null) break;
        filled += n;
      }
      return filled;
    } catch (error) {
      throw new InputError(`Cannot read core "${this.path}": ${describeFsError(error)}`, {
        cause: error,
      });
    }
  }

  close(): void {
    this.file.close();
  }
}

/**
 * A compressed core, decompressed forward as far as asked. A read before the position
 * reached (program headers placed after the notes, which readelf accepts) starts the
 * decompression again from the beginning: rare, and cheaper than keeping what was passed.
 */
class StreamSource implements ByteSource {
  readonly seekable = false;
  #stream!: Readable;
  #chunks!: AsyncIterator<Uint8Array>;
  /** Uncompressed offset of the first byte of `#pending`. */
  #position = 0;
  #pending: Uint8Array = new Uint8Array(0);
  #ended = false;

  constructor(
    private readonly modules: StreamModules,
    private readonly path: string,
    readonly fileSize: number,
    readonly compression: Compressed,
    readonly modifiedAt: Date | null,
  ) {
    this.#open();
  }

  #open(): void {
    const { createReadStream, createDecompressor } = this.modules;
    const input = createReadStream(this.path, { highWaterMark: 256 * 1024 });
    const decompressor = createDecompressor(this.compression);
    input.on("error", (error) => decompressor.destroy(error));
    this.#stream = input.pipe(decompressor);
    this.#chunks = this.#stream[Symbol.asyncIterator]();
    this.#position = 0;
    this.#pending = new Uint8Array(0);
    this.#ended = false;
  }

  async #next(): Promise<boolean> {
    if (this.#ended) return false;
    let step: IteratorResult<Uint8Array>;
    try {
      step = await this.#chunks.next();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new InputError(
        `Cannot read core "${this.path}": ${this.compression} data is corrupt (${reason})`,
        { cause: error },
      );
    }
    if (step.done) {
      this.#ended = true;
      return false;
    }
    this.#position += this.#pending.length;
    this.#pending = step.value;
    return true;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < this.#position) {
      this.#stream.destroy();
      this.#open();
    }
    // Grown as data arrives: a length from a hostile header allocates only what exists.
    let out = new Uint8Array(Math.min(length, 1 << 20));
    let filled = 0;
    while (filled < length) {
      const start = offset + filled - this.#position;
      if (start < this.#pending.length) {
        const piece = this.#pending.subarray(start, start + length - filled);
        if (filled + piece.length > out.length) {
          const grown = new Uint8Array(
            Math.min(length, Math.max(out.length * 2, filled + piece.length)),
          );
          grown.set(out.subarray(0, filled));
          out = grown;
        }
        out.set(piece, filled);
        filled += piece.length;
        continue;
      }
      if (!(await this.#next())) break;
    }
    return out.subarray(0, filled);
  }

  close(): void {
    this.#stream.destroy();
  }
}

/** What {@linkcode decompressFile} wrote. */
export interface Unpacked {
  /** Bytes written to the destination. */
  bytes: number;
  /** Whether the data went on past `maxBytes` (the rest was not unpacked). */
  more: boolean;
}

/**
 * Decompresses a gzip, zstd or lz4 core into `destination`, streaming with bounded memory,
 * writing at most `maxBytes` (the size the core's program headers declare: what a bomb
 * unpacks to beyond it is never written).
 *
 * @throws {InputError} when the compressed data is corrupt.
 * @throws {UnavailableError} when the destination cannot be written (no space left).
 */
export async function decompressFile(
  path: string,
  compression: Compressed,
  destination: string,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<Unpacked> {
  const modules = await streamModules();
  if (compression === "zstd") {
    const unpacked = await unpackZstd(modules, path, destination, maxBytes);
    if (unpacked) return unpacked;
  }
  const { createReadStream, createDecompressor } = modules;
  const input = createReadStream(path, { highWaterMark: 256 * 1024 });
  const decompressor = createDecompressor(compression);
  input.on("error", (error) => decompressor.destroy(error));
  const output = await Deno.open(destination, { write: true, createNew: true, mode: 0o600 });
  let bytes = 0;
  let more = false;
  try {
    const chunks = input.pipe(decompressor)[Symbol.asyncIterator]();
    for (;;) {
      let step: IteratorResult<Uint8Array>;
      try {
        step = await chunks.next();
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new InputError(`Cannot decompress core "${path}": ${reason}`, { cause: error });
      }
      if (step.done) break;
      const piece = step.value.subarray(0, Math.max(0, maxBytes - bytes));
      await writeAll(output, piece, destination);
      bytes += piece.length;
      if (piece.length < step.value.length) {
        more = true;
        await chunks.return?.();
        break;
      }
    }
  } finally {
    output.close();
    input.destroy();
    decompressor.destroy();
  }
  return { bytes, more };
}

/**
 * {@linkcode decompressFile} for zstd, through reused buffers (`decodeZstd`); `undefined`
 * when node:zlib's decoder is not shaped for that (and nothing was written).
 */
async function unpackZstd(
  modules: StreamModules,
  path: string,
  destination: string,
  maxBytes: number,
): Promise<Unpacked | undefined> {
  const { decodeZstd, ZstdDataError } = modules;
  let input: Deno.FsFile | undefined;
  let output: Deno.FsFile | undefined;
  let bytes = 0;
  let more = false;
  // The source's failures are its fault, as corrupt data is.
  const cannotRead = (error: unknown) => {
    throw new InputError(`Cannot decompress core "${path}": ${describeFsError(error)}`, {
      cause: error,
    });
  };
  try {
    input = await Deno.open(path, { read: true }).catch(cannotRead);
    output = await Deno.open(destination, { write: true, createNew: true, mode: 0o600 });
    const file = output;
    const source = input!;
    const read = (buffer: Uint8Array) => source.read(buffer).catch(cannotRead);
    const decoded = await decodeZstd(read, async (chunk) => {
      const piece = chunk.subarray(0, Math.max(0, maxBytes - bytes));
      await writeAll(file, piece, destination);
      bytes += piece.length;
      more = piece.length < chunk.length;
      return !more;
    });
    if (!decoded) {
      output.close();
      output = undefined;
      await Deno.remove(destination);
      return undefined;
    }
  } catch (error) {
    if (!(error instanceof ZstdDataError)) throw error;
    throw new InputError(`Cannot decompress core "${path}": ${error.message}`, { cause: error });
  } finally {
    output?.close();
    input?.close();
  }
  return { bytes, more };
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array, path: string): Promise<void> {
  try {
    for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
  } catch (error) {
    const reason = /No space left|ENOSPC/i.test(String(error))
      ? "no space left on the device"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new UnavailableError(`Cannot unpack a core into "${path}": ${reason}`, { cause: error });
  }
}
