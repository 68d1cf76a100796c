/**
 * A rendered body shared by every answer until it is replaced, gzipped ahead once: the Kata
 * aggregate's sandboxes, or the empty part `/metrics` serves without them. Outside `lib/kata`
 * so that the route needs none of the Kata modules for the empty one.
 *
 * @module
 */
import { constants, crc32, deflateRawSync } from "node:zlib";
import { release } from "../release.ts";

/** Input bytes deflated per step of {@linkcode SharedBody.deflating}. */
const DEFLATE_PIECE = 256 << 10;

/**
 * A body shared by every answer until the aggregate changes: its UTF-8 bytes and, once asked
 * for, its gzip member without an end. Answers are handed views of these very arrays, never
 * copies.
 *
 * When the aggregate changes, the body is retired, and its arrays are freed as soon as no
 * answer can read them any more: at once when none was given a view, otherwise when the last
 * view is collected (the server drops an answer's arrays once it has written them; V8 finds
 * such short-lived views dead in its frequent young-generation collections). Freed that way,
 * they do not wait for a collection of the old generation, which V8 would otherwise put off
 * until several cycles of bodies have piled up.
 */
export class SharedBody {
  readonly #bytes: Uint8Array<ArrayBuffer>;
  #deflated: { head: Uint8Array<ArrayBuffer>; crc: number } | undefined;
  #last: { tail: Uint8Array; end: Uint8Array<ArrayBuffer>[] } | undefined;
  /** Views handed to answers and not yet collected. */
  #views = 0;
  #retired = false;
  /** Tells each body when a view it handed out has been collected. */
  static readonly #collected = new FinalizationRegistry<SharedBody>((body) => {
    body.#views--;
    if (body.#retired && body.#views === 0) body.#free();
  });

  /** Wraps the bytes of a rendering. */
  constructor(bytes: Uint8Array<ArrayBuffer>) {
    this.#bytes = bytes;
  }

  /** The body's bytes, as a view for one answer. Throws once the body is retired. */
  get bytes(): Uint8Array<ArrayBuffer> {
    this.#check();
    return this.#view(this.#bytes);
  }

  /** The body's length in bytes. */
  get length(): number {
    return this.#bytes.length;
  }

  /**
   * Frees the body's arrays once no answer holds a view of them (at once when none does);
   * the body serves nothing afterwards. For the aggregate, when it replaces or evicts this
   * rendering.
   */
  retire(): void {
    if (this.#retired) return;
    this.#retired = true;
    if (this.#views === 0) this.#free();
  }

  #free(): void {
    release(this.#bytes);
    if (this.#deflated) release(this.#deflated.head);
  }

  /** A view of `array` for one answer, counted until it is collected. */
  #view(array: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
    const view = new Uint8Array(array.buffer, array.byteOffset, array.length);
    this.#views++;
    SharedBody.#collected.register(view, this);
    return view;
  }

  #check(): void {
    if (this.#retired) throw new Error("A retired body cannot be served");
  }

  /**
   * Deflates the body piece by piece, one step per piece, so that a caller can pause between
   * them. Each piece is deflated on its own and ends on a full flush: raw deflate streams
   * ended that way can follow one another, and a 256 KiB piece loses nothing to the 32 KiB
   * window of deflate.
   */
  *deflating(): Generator<void> {
    this.#check();
    if (this.#deflated) return;
    const raws: Uint8Array[] = [];
    let crc = 0;
    let length = 10;
    for (let at = 0; at < this.#bytes.length; at += DEFLATE_PIECE) {
      const piece = this.#bytes.subarray(at, at + DEFLATE_PIECE);
      const raw = deflateRawSync(piece, { level: 1, finishFlush: constants.Z_FULL_FLUSH });
      raws.push(raw);
      length += raw.length;
      crc = crc32(piece, crc);
      yield;
    }
    const head = new Uint8Array(length);
    head.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    let at = 10;
    for (const raw of raws) {
      head.set(raw, at);
      at += raw.length;
    }
    this.#deflated = { head, crc };
  }

  /**
   * The pieces of one gzip member holding the body followed by `tail` (the agent's own
   * metrics, different on every request). The body is deflated once, ending on a full flush,
   * and kept with the gzip header and its CRC; a request deflates only `tail` as the final
   * block and extends the CRC over it, so that a 1,000-sandbox body is neither compressed
   * nor copied again per scrape.
   */
  gzipWith(tail: Uint8Array): Uint8Array<ArrayBuffer>[] {
    this.#check();
    if (this.#deflated === undefined) { for (const _ of this.deflating()); }
    const deflated = this.#deflated!;
    // Requests sharing one rendering of the tail share its pieces too.
    if (this.#last?.tail === tail) return [this.#view(deflated.head), ...this.#last.end];
    const last = new Uint8Array(deflateRawSync(tail, { level: 1 }));
    const trailer = new Uint8Array(8);
    const view = new DataView(trailer.buffer);
    view.setUint32(0, crc32(tail, deflated.crc) >>> 0, true);
    view.setUint32(4, (this.#bytes.length + tail.length) >>> 0, true);
    this.#last = { tail, end: [last, trailer] };
    return [this.#view(deflated.head), last, trailer];
  }
}
