/**
 * The temporary names writes go through, and why a write failed: what the local store needs
 * of its writes without loading the compressors (`compress.ts`, loaded with the first core it
 * stores).
 *
 * @module
 */
import { basename, dirname } from "node:path";
import { errorMessage } from "../errors.ts";

/**
 * The temporary name a write to `destination` goes through:
 * `.{name}.{writer}~{random}.part` in the same folder.
 *
 * @example Usage
 * ```ts
 * temporaryName("/cores/a/x.core.zst", "node-a"); // "/cores/a/.x.core.zst.node-a~1f2e3d4c.part"
 * ```
 */
export function temporaryName(destination: string, writer = "agent"): string {
  return `${dirname(destination)}/.${basename(destination)}.${
    writer.replace(/[^A-Za-z0-9_-]/g, "_")
  }~${crypto.randomUUID().slice(0, 8)}.part`;
}

/**
 * The writer a temporary name carries, or `undefined` when it is not one.
 *
 * @example Usage
 * ```ts
 * temporaryWriter(".x.core.zst.node-a~1f2e3d4c.part"); // "node-a"
 * ```
 */
export function temporaryWriter(name: string): string | undefined {
  return /^\..+\.([A-Za-z0-9_-]+)~[0-9a-f]{8}\.part$/.exec(name)?.[1];
}

/**
 * Why a write failed, in one phrase: a full disk said as such, anything else as it is.
 *
 * @example Usage
 * ```ts
 * writeReason(new Error("ENOSPC: no space left on device")); // "no space left on the device"
 * ```
 */
export function writeReason(error: unknown): string {
  const reason = errorMessage(error);
  return /ENOSPC|No space left/i.test(reason) ? "no space left on the device" : reason;
}
