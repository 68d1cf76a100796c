/**
 * Which temporary objects of interrupted writes a store may remove. Each writer tags its
 * temporary files and upload markers with its node and its process id, so a sweep can tell
 * its own leftovers (remove at once), those of a process of this node that is gone (at
 * once: killed mid-write), those of a live process of this node (never: another collector at
 * work), and another node's (an hour after they were written: that node may still write).
 *
 * @module
 */
import { processIsGone } from "../process.ts";

/** How old another node's leftovers must be before a sweep removes them. */
export const STALE_MS = 3600_000;

/**
 * The tag of this process writing for `writer` (the node): characters outside
 * `[A-Za-z0-9_-]` become `_`, at most 48 of them, then `-PID`.
 *
 * @example Usage
 * ```ts
 * writerTag("node.a").startsWith("node_a-"); // true
 * ```
 */
export function writerTag(writer: string, pid: number = Deno.pid): string {
  // Cut so that a temporary name keeps inside a file name's 255 bytes.
  return `${writer.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 48)}-${pid}`;
}

/**
 * Whether a temporary object tagged `tag`, last written at `modifiedMs`, is a leftover to
 * remove now, for a store whose own tag is `mine`.
 *
 * @example Usage
 * ```ts ignore
 * await isLeftover("node_a-1", writerTag("node_a"), Date.now()); // true when pid 1 is gone
 * ```
 */
export async function isLeftover(
  tag: string,
  mine: string,
  modifiedMs: number | undefined,
  now = Date.now(),
  isGone: (pid: number) => Promise<boolean> = processIsGone,
): Promise<boolean> {
  if (tag === mine) return true;
  const theirs = /^(.*)-(\d+)$/.exec(tag);
  const node = /^(.*)-(\d+)$/.exec(mine)?.[1];
  if (theirs && theirs[1] === node) return await isGone(Number(theirs[2]));
  return modifiedMs !== undefined && modifiedMs < now - STALE_MS;
}
