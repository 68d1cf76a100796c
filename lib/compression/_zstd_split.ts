/**
 * Cuts a zstd stream's chunks at frame boundaries. Deno's node:zlib (2.9), like Node's, ends
 * its zstd decoder when one write holds the end of a frame and more: the rest of that write is
 * taken for trailing garbage and dropped, so a stream of several frames (what `pzstd`, `zstd -T`
 * with `--rsyncable`, and the agent's own store write) unpacks to its first frame only, or fails
 * further on. Fed one frame per write at most, the decoder goes on to the next frame.
 *
 * Frames are walked by their headers (RFC 8878): the frame header, then block headers up to the
 * last block, then the optional checksum; skippable frames by their size. Nothing is buffered
 * but a header's few bytes. Bytes that are not a frame are passed on uncut, for the decoder to
 * refuse.
 *
 * @module
 */
const ZSTD_MAGIC = 0xfd2fb528;

/** Where the walk is: which bytes it needs next. */
type Step =
  | "magic"
  | "descriptor"
  | "header"
  | "block"
  | "body"
  | "checksum"
  | "skipSize"
  | "skipBody"
  | "opaque";

/** Cuts chunks of one zstd stream, in order, so that no piece spans two frames. */
export class ZstdFrameCutter {
  #step: Step = "magic";
  /** Bytes of a field being gathered (magic, descriptor, block header, skippable size). */
  #field: number[] = [];
  /** Bytes still to pass over in the current step. */
  #skip = 0;
  /** Whether the frame ends with a 4-byte checksum. */
  #checksum = false;
  /** Whether the block being passed is the frame's last. */
  #last = false;

  /** The pieces of `chunk`, in order; an empty chunk is one empty piece. */
  cut(chunk: Uint8Array): Uint8Array[] {
    const pieces: Uint8Array[] = [];
    let start = 0;
    let at = 0;
    while (at < chunk.length) {
      if (this.#step === "opaque") {
        at = chunk.length;
        break;
      }
      if (this.#skip > 0) {
        const take = Math.min(this.#skip, chunk.length - at);
        at += take;
        this.#skip -= take;
        if (this.#skip === 0) this.#passed();
      } else {
        this.#field.push(chunk[at++]!);
        this.#gathered();
      }
      if (this.#step === "magic" && this.#field.length === 0 && this.#skip === 0 && at > start) {
        // A frame ended here: what follows goes in a write of its own.
        pieces.push(chunk.subarray(start, at));
        start = at;
      }
    }
    if (at > start || pieces.length === 0) pieces.push(chunk.subarray(start, at));
    return pieces;
  }

  /** Acts on the field gathered so far, once it is complete. */
  #gathered(): void {
    const field = this.#field;
    switch (this.#step) {
      case "magic": {
        if (field.length < 4) return;
        const magic = (field[0]! | field[1]! << 8 | field[2]! << 16 | field[3]! << 24) >>> 0;
        this.#field = [];
        if (magic === ZSTD_MAGIC) this.#step = "descriptor";
        else if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) this.#step = "skipSize";
        else this.#step = "opaque";
        return;
      }
      case "descriptor": {
        const descriptor = field[0]!;
        this.#field = [];
        const singleSegment = (descriptor & 0x20) !== 0;
        const sizeFlag = descriptor >> 6;
        this.#checksum = (descriptor & 0x04) !== 0;
        this.#skip = (singleSegment ? 0 : 1) + [0, 1, 2, 4][descriptor & 0x03]! +
          (sizeFlag === 0 ? (singleSegment ? 1 : 0) : [0, 2, 4, 8][sizeFlag]!);
        this.#step = "header";
        if (this.#skip === 0) this.#passed();
        return;
      }
      case "block": {
        if (field.length < 3) return;
        const header = field[0]! | field[1]! << 8 | field[2]! << 16;
        this.#field = [];
        this.#last = (header & 1) !== 0;
        const type = (header >> 1) & 3;
        if (type === 3) {
          this.#step = "opaque";
          return;
        }
        this.#skip = type === 1 ? 1 : header >>> 3;
        this.#step = "body";
        if (this.#skip === 0) this.#passed();
        return;
      }
      case "skipSize": {
        if (field.length < 4) return;
        this.#skip = (field[0]! | field[1]! << 8 | field[2]! << 16 | field[3]! << 24) >>> 0;
        this.#field = [];
        this.#step = "skipBody";
        if (this.#skip === 0) this.#passed();
        return;
      }
    }
  }

  /** Moves on once the bytes of a step have all passed. */
  #passed(): void {
    switch (this.#step) {
      case "header":
        this.#step = "block";
        return;
      case "body":
        if (!this.#last) this.#step = "block";
        else if (this.#checksum) {
          this.#step = "checksum";
          this.#skip = 4;
        } else this.#step = "magic";
        return;
      case "checksum":
      case "skipBody":
        this.#step = "magic";
        return;
    }
  }
}
