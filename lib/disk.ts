/**
 * Free space on a filesystem, as `df` reports it (Deno has no statfs).
 *
 * @module
 */

/**
 * Bytes available to this user on the filesystem holding `path` (or, when `path` does not
 * exist yet, its nearest existing parent); `undefined` when that cannot be told.
 *
 * @example Usage
 * ```ts ignore
 * await freeBytes("/var/lib/agent"); // 52428800000
 * ```
 */
export async function freeBytes(path: string): Promise<number | undefined> {
  let dir = path;
  while (dir !== "/" && !(await Deno.stat(dir).then(() => true, () => false))) {
    dir = dir.replace(/\/[^/]*$/, "") || "/";
  }
  try {
    const { success, stdout } = await new Deno.Command("df", {
      args: ["-P", "-B1", "--", dir],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!success) return undefined;
    const fields = new TextDecoder().decode(stdout).trim().split("\n").at(-1)?.split(/\s+/);
    const available = Number(fields?.[3]);
    return Number.isFinite(available) ? available : undefined;
  } catch {
    return undefined;
  }
}
