/**
 * Frees a large buffer at once, without waiting for a collection of V8's old generation.
 *
 * @module
 */

/**
 * Detaches the buffer under `view`, which frees its memory at once; every view of it is
 * empty afterwards.
 *
 * @example Usage
 * ```ts
 * const bytes = new Uint8Array(1 << 20);
 * release(bytes); // bytes.length is 0 now
 * ```
 */
export function release(view: Uint8Array): void {
  const buffer = view.buffer;
  if (buffer instanceof ArrayBuffer && !buffer.detached) buffer.transfer(0);
}
