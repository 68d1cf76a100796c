/**
 * Byte I/O helpers used across the agent: writing a whole buffer to a writer that may take
 * part of it, and reading a stream into memory with a cap.
 *
 * @module
 */

/** Writes all of `bytes` to `writer`, which may take them a part at a time. */
export async function writeAll(
  writer: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await writer.write(bytes.subarray(at));
}

/**
 * Writes all of `bytes` to `writer` synchronously.
 *
 * @example Usage
 * ```ts ignore
 * writeAllSync(Deno.stderr, new TextEncoder().encode("error: ...\n"));
 * ```
 */
export function writeAllSync(
  writer: { writeSync(p: Uint8Array): number },
  bytes: Uint8Array,
): void {
  for (let at = 0; at < bytes.length;) at += writer.writeSync(bytes.subarray(at));
}

/** What {@linkcode readCapped} does with bytes past its cap. */
export type OverCap =
  /** Stop reading and cancel the stream (the rest is never read). */
  | "cut"
  /** Read the rest and drop it (the writer, a child process, must not block). */
  | "drain"
  /** Stop and throw {@linkcode TooLarge}. */
  | "fail";

/** A stream longer than {@linkcode readCapped} accepts with `"fail"`. */
export class TooLarge extends Error {
  /** Creates the error for a cap of `max` bytes. */
  constructor(readonly max: number) {
    super(`more than ${max} bytes`);
  }
}

/**
 * Reads `stream` into one buffer of at most `max` bytes; `truncated` tells whether there was
 * more. `signal` stops the reading (what was read is returned).
 *
 * @throws {TooLarge} with `over: "fail"` when the stream holds more than `max` bytes.
 *
 * @example Usage
 * ```ts
 * const { bytes, truncated } = await readCapped(ReadableStream.from([new Uint8Array(10)]), 4);
 * // bytes.length === 4, truncated === true
 * ```
 */
export async function readCapped(
  stream: ReadableStream<Uint8Array>,
  max: number,
  options: { over?: OverCap; signal?: AbortSignal } = {},
): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  const over = options.over ?? "cut";
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let truncated = false;
  const reader = stream.getReader();
  const cancel = () => reader.cancel().catch(() => {});
  options.signal?.addEventListener("abort", cancel, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (kept + value.length > max) {
        truncated = true;
        if (over === "fail") throw new TooLarge(max);
        chunks.push(value.subarray(0, max - kept));
        kept = max;
        if (over === "cut") {
          await cancel();
          break;
        }
        continue;
      }
      chunks.push(value);
      kept += value.length;
    }
  } catch (error) {
    if (error instanceof TooLarge) await cancel();
    throw error;
  } finally {
    options.signal?.removeEventListener("abort", cancel);
    reader.releaseLock();
  }
  const bytes = new Uint8Array(kept);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return { bytes, truncated };
}
