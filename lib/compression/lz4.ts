/**
 * A streaming decoder for the LZ4 frame format (`.lz4`, magic `04 22 4D 18`), the format
 * `lz4` and systemd-coredump write, as a node `Transform`. Written for this project: no
 * dependency decodes LZ4 frames with bounded memory and verified checksums.
 *
 * What it accepts: frames of version 01 with any block maximum size (64 KiB to 4 MiB),
 * independent or linked blocks, uncompressed blocks, block checksums, content size and
 * content checksum (both verified), concatenated frames and skippable frames
 * (`0x184D2A50`-`0x184D2A5F`) anywhere in the stream. What it refuses with an error: the
 * legacy format (`lz4 -l`), frames that need a dictionary, and anything corrupt or
 * truncated. Memory is bounded by the frame's block maximum size: one gathered input block
 * and one output block with the 64 KiB history window in front of it, whatever the
 * stream's length. (systemd-coredump writes linked 256 KiB blocks without checksums.)
 *
 * @module
 */
import { Transform, type TransformCallback } from "node:stream";

const FRAME_MAGIC = 0x184d2204;
const LEGACY_MAGIC = 0x184c2102;
const SKIPPABLE_MAGIC = 0x184d2a50;
/** How far back a match may reach: offsets are 16 bits. */
const WINDOW = 64 * 1024;
/** Block maximum sizes by the BD byte's 3-bit code; codes 0-3 are not defined. */
const BLOCK_MAX_SIZES = [0, 0, 0, 0, 64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024];
const UNCOMPRESSED_BIT = 0x80000000;
/** Literals and matches up to this long are copied in a loop: a call costs more. */
const SHORT_COPY = 128;

/**
 * Creates a decompressor for LZ4 frame data: compressed bytes in, decompressed bytes out,
 * one output chunk per block. It waits for its reader when the output is full, so a
 * highly compressed input (zero pages) never piles up decompressed blocks in memory.
 *
 * The stream errors (with an `Error` saying what is wrong and at which input byte) on bad
 * magic, reserved bits or unknown versions, a header, block or content checksum that does
 * not match, a match reaching before the window or past the block, a content size that
 * does not match, and a stream that ends inside a frame. Empty input is an error too: it
 * holds no frame.
 *
 * @example Usage
 * ```ts ignore
 * import { createReadStream, createWriteStream } from "node:fs";
 * import { pipeline } from "node:stream/promises";
 * await pipeline(
 *   createReadStream("core.lz4"),
 *   createLz4Decompress(),
 *   createWriteStream("core"),
 * );
 * ```
 */
export function createLz4Decompress(): Transform {
  return new Lz4Decompress();
}

type Stage =
  | "magic"
  | "descriptor"
  | "descriptorRest"
  | "blockSize"
  | "block"
  | "contentChecksum"
  | "skipSize"
  | "skip";

/** What the stream is in the middle of, for the "truncated" message. */
const STAGE_NAMES: Record<Stage, string> = {
  magic: "a magic number",
  descriptor: "a frame descriptor",
  descriptorRest: "a frame descriptor",
  blockSize: "a block size",
  block: "a block",
  contentChecksum: "the content checksum",
  skipSize: "a skippable frame's size",
  skip: "a skippable frame",
};

const EMPTY = new Uint8Array(0);

class Lz4Decompress extends Transform {
  /** The input chunk being worked on, and how far into it. */
  #chunk: Uint8Array = EMPTY;
  #at = 0;
  /** Input bytes in the chunks before `#chunk`, for messages. */
  #consumed = 0;
  /** The callback of the chunk being worked on, held while the reader is behind. */
  #callback: TransformCallback | undefined;
  /** Set when `push` says the output is full: work resumes in `_read`. */
  #blocked = false;

  #stage: Stage = "magic";
  /** Frames seen, skippable ones included. */
  #frames = 0;
  /** Bytes gathered so far of the unit `#take` is assembling across chunks. */
  #have = 0;
  readonly #small = new Uint8Array(16);
  /** FLG, BD and the content size, as the header checksum covers them. */
  readonly #descriptor = new Uint8Array(10);
  #descriptorRest = 0;

  #blockMax = 0;
  #independent = true;
  #blockChecksum = false;
  #contentSize: bigint | undefined;
  #hash: Xxh32 | undefined;
  #produced = 0;
  #blocks = 0;
  #blockSize = 0;
  #blockCompressed = true;
  /** Input offset of the current frame's magic number and of the current block's data. */
  #frameOffset = 0;
  #blockOffset = 0;
  #skipLeft = 0;

  /** A block that spans input chunks is gathered here (block maximum + checksum). */
  #input: Uint8Array = EMPTY;
  /**
   * For linked blocks, the array the next block is decoded into, made when the block before
   * ended: it starts with the last 64 KiB of output (fewer at the start of a frame), the
   * window the block's matches reach back into, and has room for a block after them.
   */
  #next: Uint8Array = EMPTY;
  #window = 0;

  constructor() {
    super({ readableHighWaterMark: 1024 * 1024 });
  }

  override _transform(chunk: Uint8Array, _encoding: string, callback: TransformCallback): void {
    // A plain Uint8Array view, not a Buffer: the decoder's loads then see one array type.
    this.#chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#at = 0;
    this.#callback = callback;
    this.#pump();
  }

  override _read(size: number): void {
    this.#blocked = false;
    // Still mid-chunk after pumping: blocked again on a push, which restarts reading.
    if (this.#callback && !this.#pump()) return;
    // Releases a write that Transform held back while the output was full, which may
    // have been the one just finished here.
    super._read(size);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#stage === "magic" && this.#have === 0) {
      callback(this.#frames === 0 ? new Error("Empty input: no lz4 frame") : null);
      return;
    }
    callback(
      new Error(
        `Truncated lz4 stream: it ends inside ${
          STAGE_NAMES[this.#stage]
        } at input byte ${this.#consumed}`,
      ),
    );
  }

  /**
   * Works through the current chunk until it is used up (or fails), then calls its
   * callback and returns `true`; returns `false` when the reader fell behind first.
   */
  #pump(): boolean {
    let failure: Error | undefined;
    try {
      while (!this.#blocked && this.#advance());
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
    }
    if (this.#blocked && !failure) return false;
    const callback = this.#callback!;
    this.#consumed += this.#chunk.length;
    this.#chunk = EMPTY;
    this.#at = 0;
    this.#callback = undefined;
    // Last: from `_read`, the callback may write the next chunk before it returns.
    callback(failure);
    return true;
  }

  /** Input byte offset of `#at`. */
  get #position(): number {
    return this.#consumed + this.#at;
  }

  /**
   * Returns the next `n` input bytes: a view of the chunk when they are all in it, else
   * gathered into `into` across chunks; `undefined` while the input runs short.
   */
  #take(n: number, into: Uint8Array): Uint8Array | undefined {
    const available = this.#chunk.length - this.#at;
    if (this.#have === 0 && available >= n) {
      const view = this.#chunk.subarray(this.#at, this.#at + n);
      this.#at += n;
      return view;
    }
    const piece = Math.min(n - this.#have, available);
    into.set(this.#chunk.subarray(this.#at, this.#at + piece), this.#have);
    this.#at += piece;
    this.#have += piece;
    if (this.#have < n) return undefined;
    this.#have = 0;
    return into.subarray(0, n);
  }

  /** Does one step of the stage machine; `false` when it needs more input. */
  #advance(): boolean {
    switch (this.#stage) {
      case "magic": {
        const start = this.#position - this.#have;
        const bytes = this.#take(4, this.#small);
        if (!bytes) return false;
        const magic = readU32(bytes, 0);
        this.#frameOffset = start;
        if (magic === FRAME_MAGIC) {
          this.#stage = "descriptor";
        } else if (((magic & 0xfffffff0) >>> 0) === SKIPPABLE_MAGIC) {
          this.#stage = "skipSize";
        } else if (magic === LEGACY_MAGIC) {
          throw new Error(`Legacy lz4 format (lz4 -l) at input byte ${start} is not supported`);
        } else {
          throw new Error(
            `Not an lz4 frame at input byte ${start}: magic 0x${hex32(magic)}, expected 0x184d2204`,
          );
        }
        return true;
      }
      case "descriptor": {
        const bytes = this.#take(2, this.#small);
        if (!bytes) return false;
        this.#startFrame(bytes[0]!, bytes[1]!);
        return true;
      }
      case "descriptorRest": {
        const bytes = this.#take(this.#descriptorRest, this.#small);
        if (!bytes) return false;
        this.#endDescriptor(bytes);
        return true;
      }
      case "blockSize": {
        const bytes = this.#take(4, this.#small);
        if (!bytes) return false;
        const value = readU32(bytes, 0);
        if (value === 0) {
          if (this.#hash) this.#stage = "contentChecksum";
          else this.#endFrame();
          return true;
        }
        this.#blockCompressed = (value & UNCOMPRESSED_BIT) === 0;
        this.#blockSize = (value & ~UNCOMPRESSED_BIT) >>> 0;
        if (this.#blockSize > this.#blockMax) {
          throw new Error(
            `Corrupt lz4 frame: block ${this.#blocks} at input byte ${
              this.#position - 4
            } claims ${this.#blockSize} bytes, more than the frame's block maximum of ${this.#blockMax}`,
          );
        }
        this.#blockOffset = this.#position;
        this.#stage = "block";
        return true;
      }
      case "block": {
        const length = this.#blockSize + (this.#blockChecksum ? 4 : 0);
        const bytes = this.#take(length, this.#input);
        if (!bytes) return false;
        this.#block(bytes);
        return true;
      }
      case "contentChecksum": {
        const bytes = this.#take(4, this.#small);
        if (!bytes) return false;
        const stored = readU32(bytes, 0);
        const computed = this.#hash!.digest();
        if (stored !== computed) {
          throw new Error(
            `Corrupt lz4 frame: content checksum mismatch (stored 0x${hex32(stored)}, computed 0x${
              hex32(computed)
            }) for the frame at input byte ${this.#frameOffset}`,
          );
        }
        this.#endFrame();
        return true;
      }
      case "skipSize": {
        const bytes = this.#take(4, this.#small);
        if (!bytes) return false;
        this.#skipLeft = readU32(bytes, 0);
        this.#stage = "skip";
        return true;
      }
      case "skip": {
        const n = Math.min(this.#skipLeft, this.#chunk.length - this.#at);
        this.#at += n;
        this.#skipLeft -= n;
        if (this.#skipLeft > 0) return false;
        this.#frames++;
        this.#stage = "magic";
        return true;
      }
    }
  }

  /** Checks FLG and BD and works out how long the rest of the descriptor is. */
  #startFrame(flg: number, bd: number): void {
    const where = `the frame at input byte ${this.#frameOffset}`;
    const version = flg >>> 6;
    if (version !== 1) {
      throw new Error(`Unsupported lz4 frame version ${version} in ${where} (expected 1)`);
    }
    if ((flg & 0x02) !== 0 || (bd & 0x8f) !== 0) {
      throw new Error(`Corrupt lz4 frame: reserved bits set in the descriptor of ${where}`);
    }
    if ((flg & 0x01) !== 0) {
      throw new Error(`Unsupported lz4 frame: ${where} needs a dictionary`);
    }
    const code = (bd >>> 4) & 0x07;
    const blockMax = BLOCK_MAX_SIZES[code]!;
    if (blockMax === 0) {
      throw new Error(`Corrupt lz4 frame: unknown block maximum size code ${code} in ${where}`);
    }
    this.#descriptor[0] = flg;
    this.#descriptor[1] = bd;
    this.#independent = (flg & 0x20) !== 0;
    this.#blockChecksum = (flg & 0x10) !== 0;
    this.#contentSize = (flg & 0x08) !== 0 ? 0n : undefined;
    this.#hash = (flg & 0x04) !== 0 ? new Xxh32() : undefined;
    this.#blockMax = blockMax;
    this.#descriptorRest = (this.#contentSize !== undefined ? 8 : 0) + 1;
    this.#stage = "descriptorRest";
  }

  /** Verifies the header checksum, reads the content size and readies the buffers. */
  #endDescriptor(bytes: Uint8Array): void {
    const fields = bytes.length - 1;
    this.#descriptor.set(bytes.subarray(0, fields), 2);
    const expected = (xxh32(this.#descriptor.subarray(0, 2 + fields)) >>> 8) & 0xff;
    if (bytes[fields] !== expected) {
      throw new Error(
        `Corrupt lz4 frame: header checksum mismatch in the frame at input byte ${this.#frameOffset}`,
      );
    }
    if (this.#contentSize !== undefined) {
      this.#contentSize = BigInt(readU32(bytes, 0)) | (BigInt(readU32(bytes, 4)) << 32n);
    }
    const inputSize = this.#blockMax + 4;
    if (this.#input.length < inputSize) this.#input = new Uint8Array(inputSize);
    this.#next = EMPTY;
    this.#window = 0;
    this.#produced = 0;
    this.#blocks = 0;
    this.#stage = "blockSize";
  }

  /** Verifies, decodes and pushes one block. */
  #block(bytes: Uint8Array): void {
    const size = this.#blockSize;
    const where = `block ${this.#blocks} at input byte ${this.#blockOffset}`;
    if (this.#blockChecksum) {
      const stored = readU32(bytes, size);
      const computed = xxh32(bytes.subarray(0, size));
      if (stored !== computed) {
        throw new Error(
          `Corrupt lz4 frame: checksum mismatch in ${where} (stored 0x${
            hex32(stored)
          }, computed 0x${hex32(computed)})`,
        );
      }
    }
    // Each block is decoded into a new array that goes to the reader as it is, with no
    // copy on the way out.
    const start = this.#window;
    const out = this.#next.length > 0 ? this.#next : new Uint8Array(this.#blockMax);
    let end: number;
    if (this.#blockCompressed) {
      try {
        end = decodeBlock(bytes, size, out, start, out.length);
      } catch (error) {
        throw new Error(`Corrupt lz4 frame: ${where}: ${(error as Error).message}`);
      }
    } else {
      out.set(bytes.subarray(0, size), start);
      end = start + size;
    }
    if (!this.#independent) {
      // The window is copied out now, so that only the reader holds on to this array.
      this.#window = Math.min(WINDOW, end);
      this.#next = new Uint8Array(this.#window + this.#blockMax);
      this.#next.set(out.subarray(end - this.#window, end));
    }
    this.#blocks++;
    this.#produced += end - start;
    this.#hash?.update(out, start, end);
    this.#stage = "blockSize";
    if (end === start) return;
    // A short block (the last one, usually) is copied rather than pinning a whole array.
    const chunk = end - start >= this.#blockMax >>> 1
      ? out.subarray(start, end)
      : out.slice(start, end);
    if (!this.push(chunk)) this.#blocked = true;
  }

  #endFrame(): void {
    if (this.#contentSize !== undefined && this.#contentSize !== BigInt(this.#produced)) {
      throw new Error(
        `Corrupt lz4 frame: the frame at input byte ${this.#frameOffset} declares ${this.#contentSize} bytes of content but holds ${this.#produced}`,
      );
    }
    this.#next = EMPTY;
    this.#frames++;
    this.#stage = "magic";
  }
}

/**
 * Decodes one LZ4 block `src[0, srcEnd)` into `dst` from `op` on, never writing at or past
 * `limit`; matches may reach back to `dst[0]`, which holds the window. Returns where the
 * output ends.
 *
 * Every length is checked against both buffers before it is used, so corrupt input ends in
 * an error, never in a read or write out of bounds; every step consumes input, so it ends.
 */
function decodeBlock(
  src: Uint8Array,
  srcEnd: number,
  dst: Uint8Array,
  op: number,
  limit: number,
): number {
  // Short copies go four bytes at a time through DataViews (TurboFan turns these into
  // plain loads and stores), rounded up past the end when both buffers have room: the
  // extra bytes are overwritten by what follows, or lie beyond the block's end.
  const srcView = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const dstView = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  let ip = 0;
  for (;;) {
    if (ip >= srcEnd) throw new Error("it ends where a sequence should start");
    const token = src[ip++]!;
    let literals = token >>> 4;
    if (literals === 15) {
      let b: number;
      do {
        if (ip >= srcEnd) throw new Error("it ends inside a literal length");
        b = src[ip++]!;
        literals += b;
      } while (b === 255);
    }
    if (literals > 0) {
      if (literals > srcEnd - ip) {
        throw new Error(`${literals} literals overrun the block's input at byte ${ip}`);
      }
      if (literals > limit - op) {
        throw new Error(`${literals} literals overrun the block maximum size`);
      }
      if (literals <= SHORT_COPY && literals + 8 <= srcEnd - ip && literals + 8 <= limit - op) {
        for (let i = 0; i < literals; i += 8) {
          dstView.setInt32(op + i, srcView.getInt32(ip + i, true), true);
          dstView.setInt32(op + i + 4, srcView.getInt32(ip + i + 4, true), true);
        }
      } else if (literals <= SHORT_COPY) {
        for (let i = 0; i < literals; i++) dst[op + i] = src[ip + i]!;
      } else {
        dst.set(src.subarray(ip, ip + literals), op);
      }
      ip += literals;
      op += literals;
    }
    // The last sequence holds only literals: the block ends after them.
    if (ip === srcEnd) return op;
    if (srcEnd - ip < 2) throw new Error("it ends inside a match offset");
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    let length = token & 15;
    if (length === 15) {
      let b: number;
      do {
        if (ip >= srcEnd) throw new Error("it ends inside a match length");
        b = src[ip++]!;
        length += b;
      } while (b === 255);
    }
    length += 4;
    const from = op - offset;
    if (offset === 0 || from < 0) {
      throw new Error(`match offset ${offset} reaches before the start of the window`);
    }
    if (length > limit - op) {
      throw new Error(`match of ${length} bytes overruns the block maximum size`);
    }
    if (length <= SHORT_COPY && offset >= 4 && length + 8 <= limit - op) {
      // Four bytes at a time is right even when the match overlaps what it writes, as long
      // as each read lies before the write: an offset of at least 4 (8 for eight at a time).
      if (offset >= 8) {
        for (let i = 0; i < length; i += 8) {
          dstView.setInt32(op + i, dstView.getInt32(from + i, true), true);
          dstView.setInt32(op + i + 4, dstView.getInt32(from + i + 4, true), true);
        }
      } else {
        for (let i = 0; i < length; i += 4) {
          dstView.setInt32(op + i, dstView.getInt32(from + i, true), true);
        }
      }
    } else if (length < 32) {
      // Byte by byte is right for an overlapping match: it repeats the last `offset` bytes.
      for (let i = 0; i < length; i++) dst[op + i] = dst[from + i]!;
    } else if (offset >= length) {
      dst.copyWithin(op, from, from + length);
    } else if (offset === 1) {
      dst.fill(dst[from]!, op, op + length);
    } else {
      // An overlapping match repeats the `offset` bytes before it: copy them, then the
      // doubled pattern, and so on, each copy reading only bytes already written.
      let copied = 0;
      while (copied < length) {
        const n = Math.min(length - copied, offset + copied);
        dst.copyWithin(op + copied, from, from + n);
        copied += n;
      }
    }
    op += length;
  }
}

function readU32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>>
    0;
}

function hex32(value: number): string {
  return value.toString(16).padStart(8, "0");
}

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

/** xxHash32 (seed 0) of `bytes`. */
function xxh32(bytes: Uint8Array): number {
  const hash = new Xxh32();
  hash.update(bytes, 0, bytes.length);
  return hash.digest();
}

/** Streaming xxHash32 with seed 0: the checksum of LZ4 frames. */
class Xxh32 {
  #v1 = (P1 + P2) | 0;
  #v2 = P2 | 0;
  #v3 = 0;
  #v4 = -P1 | 0;
  #total = 0;
  readonly #buffer = new Uint8Array(16);
  #buffered = 0;

  update(bytes: Uint8Array, start: number, end: number): void {
    this.#total += end - start;
    let i = start;
    if (this.#buffered > 0) {
      const n = Math.min(16 - this.#buffered, end - i);
      this.#buffer.set(bytes.subarray(i, i + n), this.#buffered);
      this.#buffered += n;
      i += n;
      if (this.#buffered < 16) return;
      this.#stripes(this.#buffer, 0, 16);
      this.#buffered = 0;
    }
    const stripesEnd = i + ((end - i) & ~15);
    if (stripesEnd > i) this.#stripes(bytes, i, stripesEnd);
    if (stripesEnd < end) {
      this.#buffer.set(bytes.subarray(stripesEnd, end), 0);
      this.#buffered = end - stripesEnd;
    }
  }

  /** Consumes whole 16-byte stripes of `bytes[start, end)`. */
  #stripes(bytes: Uint8Array, start: number, end: number): void {
    let v1 = this.#v1;
    let v2 = this.#v2;
    let v3 = this.#v3;
    let v4 = this.#v4;
    // A DataView reads the little-endian lanes at any alignment, as fast as an Int32Array.
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = start; i < end; i += 16) {
      v1 = Math.imul(rotl((v1 + Math.imul(view.getInt32(i, true), P2)) | 0, 13), P1);
      v2 = Math.imul(rotl((v2 + Math.imul(view.getInt32(i + 4, true), P2)) | 0, 13), P1);
      v3 = Math.imul(rotl((v3 + Math.imul(view.getInt32(i + 8, true), P2)) | 0, 13), P1);
      v4 = Math.imul(rotl((v4 + Math.imul(view.getInt32(i + 12, true), P2)) | 0, 13), P1);
    }
    this.#v1 = v1;
    this.#v2 = v2;
    this.#v3 = v3;
    this.#v4 = v4;
  }

  digest(): number {
    let h = this.#total >= 16
      ? (rotl(this.#v1, 1) + rotl(this.#v2, 7) + rotl(this.#v3, 12) + rotl(this.#v4, 18)) | 0
      : P5;
    // The length counts modulo 2^32.
    h = (h + (this.#total >>> 0)) | 0;
    const tail = this.#buffer;
    let i = 0;
    for (; i + 4 <= this.#buffered; i += 4) {
      h = Math.imul(rotl((h + Math.imul(readI32(tail, i), P3)) | 0, 17), P4);
    }
    for (; i < this.#buffered; i++) {
      h = Math.imul(rotl((h + Math.imul(tail[i]!, P5)) | 0, 11), P1);
    }
    h ^= h >>> 15;
    h = Math.imul(h, P2);
    h ^= h >>> 13;
    h = Math.imul(h, P3);
    h ^= h >>> 16;
    return h >>> 0;
  }
}

function readI32(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
}
