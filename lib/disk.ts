/**
 * Free space on a filesystem, as `df` reports it (Deno has no statfs).
 *
 * @module
 */
import { runCommand, type Runner, text } from "./run.ts";

/**
 * Bytes available to this user on the filesystem holding `path` (or, when `path` does not
 * exist yet, its nearest existing parent); `undefined` when that cannot be told.
 *
 * @example Usage
 * ```ts ignore
 * await freeBytes("/var/lib/agent"); // 52428800000
 * ```
 */
export async function freeBytes(
  path: string,
  run: Runner = runCommand,
): Promise<number | undefined> {
  let dir = path;
  while (dir !== "/" && !(await Deno.stat(dir).then(() => true, () => false))) {
    dir = dir.replace(/\/[^/]*$/, "") || "/";
  }
  try {
    const result = await run("df", { args: ["-P", "-B1", "--", dir], timeoutMs: 10_000 });
    if (result.code !== 0) return undefined;
    const fields = text(result.stdout).trim().split("\n").at(-1)?.split(/\s+/);
    const available = Number(fields?.[3]);
    return Number.isFinite(available) ? available : undefined;
  } catch {
    return undefined;
  }
}
