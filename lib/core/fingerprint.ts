/**
 * Crash fingerprints: cores with the same signal and the same top symbolized frames of the
 * crashing stack are one crash group, whatever the addresses (ASLR) and arguments.
 *
 * @module
 */
import { crashFrame, type Frame, frameName } from "./frames.ts";
import { sha256Hex } from "./_posix.ts";

/** A crash group's identity and what it was made of. */
export interface Fingerprint {
  /** 16 hex digits of the SHA-256 of `basis`. */
  id: string;
  /** One line per part: the signal, then up to `frames` frames from the crash frame down. */
  basis: string[];
}

/** What a fingerprint is made of: the parts of an analysis it reads. */
export interface FingerprintInput {
  signal: { name: string } | null;
  /** The signal the Go runtime turned into a panic, which the core's own signal hides. */
  go: { signal: { name: string } | null } | null;
  /** Frames of the crashing stack, innermost first. */
  stackTrace: readonly Frame[];
}

/**
 * Computes the fingerprint of an analysis.
 *
 * @example Usage
 * ```ts ignore
 * crashFingerprint(analysis).id; // "3f9a0c2d5e6b7a81"
 * ```
 */
export function crashFingerprint(analysis: FingerprintInput, frames = 5): Fingerprint {
  const signal = analysis.go?.signal?.name ?? analysis.signal?.name ?? "no-signal";
  const stack = analysis.stackTrace;
  const start = Math.max(0, stack.indexOf(crashFrame(stack)!));
  const basis = [signal, ...stack.slice(start, start + frames).map(frameName)];
  const id = sha256Hex(basis.join("\n")).slice(0, 16);
  return { id, basis };
}
