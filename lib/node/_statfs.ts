/**
 * `statfs(2)` of many mount points, which Deno does not offer, two ways:
 *
 * - {@linkcode ffiStatfs}: libc's `statfs` through Deno's FFI, where libc can be opened
 *   (`libc.so.6`: glibc on x86_64 or arm64; the agent runs with every permission). About 2 µs
 *   a mount point called in place, 10 µs on one of Deno's blocking threads, where one
 *   `stat -f` process costs 2 ms of CPU whatever it is given (bench/node.ts): with it the
 *   filesystem collector cost twice node_exporter's. Filesystems that keep their counters in
 *   memory (tmpfs, ext4, xfs, btrfs...) are asked in place; any other (NFS, CIFS, FUSE, Ceph...)
 *   may wait on a server, so it is asked on a blocking thread, given
 *   {@linkcode STATFS_TIMEOUT_MS}, and not asked again while its call has not returned: a
 *   dead NFS server holds one thread, never more (node_exporter's stuck-mount rule).
 * - {@linkcode spawnStatfs}: one `stat -f` (GNU coreutils) for every mount point at once,
 *   where FFI is not there (a static or musl image, fewer permissions): one process a
 *   collection, not one per mount, each record NUL-terminated and named by the path given so
 *   that any mount point (spaces, newlines) maps back. Not `df`: it prints its own mount
 *   table's names, pads and rounds, and counts blocks of `f_frsize` where node_exporter
 *   multiplies by `f_bsize`. A run that hangs is killed; the mounts it did not answer for are
 *   then tried one process each, and the one that hangs is left alone for
 *   {@linkcode STUCK_RETRY_MS}.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import { mapLimit } from "../pool.ts";
import { text } from "../run.ts";
import type { CollectContext } from "./collector.ts";
import { toNumber } from "./_read.ts";

/** How long statfs of a mount (or the `stat -f` of them all) may take. */
export const STATFS_TIMEOUT_MS = 3000;

/** How long a mount whose `stat -f` hung is left alone before it is tried again. */
export const STUCK_RETRY_MS = 5 * 60_000;

/** Mounts tried one process each at once, when a `stat -f` run hung. */
const PROBES_AT_ONCE = 8;

/** What statfs says of a filesystem, in bytes and inodes. */
export interface Statfs {
  size: number;
  free: number;
  avail: number;
  files: number;
  filesFree: number;
}

/** A mount point to stat (its path under the root) and its filesystem type. */
export interface StatfsTarget {
  path: string;
  fsType: string;
}

/** Stats mount points; what it cannot stat is absent from the result (and warned). */
export type StatfsMany = (
  context: CollectContext,
  targets: readonly StatfsTarget[],
) => Promise<Map<string, Statfs>>;

/**
 * Filesystems whose statfs reads counters kept in memory and cannot wait on a server or a
 * device: asked in place (2 µs) rather than on a thread (10 µs); a node's hundreds of
 * kubelet tmpfs volumes make the difference.
 */
const IN_MEMORY = /^(tmpfs|ramfs|ext[234]|xfs|btrfs|vfat|exfat|f2fs)$/;

/** `struct statfs` on 64-bit Linux (x86_64, arm64): seven 8-byte fields first, 120 in all. */
const STRUCT_BYTES = 120;

/** libc's statfs, called in place and on one of Deno's blocking threads. */
export interface StatfsSymbols {
  statfs(path: Uint8Array<ArrayBuffer>, buffer: Uint8Array<ArrayBuffer>): number;
  statfsOnThread(path: Uint8Array<ArrayBuffer>, buffer: Uint8Array<ArrayBuffer>): Promise<number>;
}

/** Opens libc's statfs, or `undefined` (not Linux x86_64 or arm64, no `libc.so.6`, no FFI). */
function openLibc(): StatfsSymbols | undefined {
  if (Deno.build.os !== "linux" || !["x86_64", "aarch64"].includes(Deno.build.arch)) {
    return undefined;
  }
  try {
    return Deno.dlopen(
      "libc.so.6",
      {
        statfs: { parameters: ["buffer", "buffer"], result: "i32" },
        statfsOnThread: {
          name: "statfs",
          parameters: ["buffer", "buffer"],
          result: "i32",
          nonblocking: true,
        },
      } as const,
    ).symbols;
  } catch {
    return undefined;
  }
}

/**
 * libc's statfs by FFI, or `undefined` where it cannot be had. Tests pass their own
 * `symbols` and a shorter `timeoutMs`.
 */
export function ffiStatfs(
  options: { symbols?: StatfsSymbols; timeoutMs?: number } = {},
): StatfsMany | undefined {
  const libc = options.symbols ?? openLibc();
  if (!libc) return undefined;
  const timeoutMs = options.timeoutMs ?? STATFS_TIMEOUT_MS;
  const { statfs, statfsOnThread } = libc;
  const encoder = new TextEncoder();
  /** Paths whose call has not returned: at most the host's mounts. */
  const pending = new Set<string>();
  return async (context, targets) => {
    const stats = new Map<string, Statfs>();
    await Promise.all(targets.map(async ({ path, fsType }) => {
      if (pending.has(path)) return; // Still hung since an earlier collection.
      const name = encoder.encode(`${path}\0`);
      const buffer = new Uint8Array(STRUCT_BYTES);
      let result: number | "timeout";
      if (IN_MEMORY.test(fsType)) {
        result = statfs(name, buffer);
      } else {
        pending.add(path);
        const call = statfsOnThread(name, buffer).finally(() => pending.delete(path));
        let timer: ReturnType<typeof setTimeout> | undefined;
        result = await Promise.race([
          call,
          new Promise<"timeout">((resolve) => {
            timer = setTimeout(() => resolve("timeout"), timeoutMs);
          }),
        ]);
        clearTimeout(timer);
      }
      if (result === "timeout") {
        context.warn(path, `statfs did not answer in ${timeoutMs} ms`);
      } else if (result !== 0) {
        // errno belongs to the thread that made the call: there is no reason to give.
        context.warn(path, "statfs failed");
      } else {
        const view = new DataView(buffer.buffer);
        const field = (index: number) => Number(view.getBigUint64(index * 8, true));
        // f_bsize, the block size node_exporter multiplies by (f_frsize is field 9).
        const bsize = field(1);
        stats.set(path, {
          size: field(2) * bsize,
          free: field(3) * bsize,
          avail: field(4) * bsize,
          files: field(5),
          filesFree: field(6),
        });
      }
    }));
    return stats;
  };
}

/**
 * statfs by `stat -f` processes through the context's runner: see the module's
 * documentation. `now` tells when a stuck mount may be tried again.
 */
export function spawnStatfs(now: () => number = Date.now): StatfsMany {
  /** Mount point to when it may be tried again; at most the host's mounts. */
  const stuck = new Map<string, number>();
  return async (context, targets) => {
    for (const [path, until] of stuck) if (until <= now()) stuck.delete(path);
    const fresh = targets.map((t) => t.path).filter((path) => !stuck.has(path));
    const stats = await statRun(context, fresh);
    const missing = fresh.filter((path) => !stats.has(path));
    if (stats.timedOut && missing.length > 0) {
      // Which one hung: each alone; the others answer at once.
      await mapLimit(missing, PROBES_AT_ONCE, async (path) => {
        const alone = await statRun(context, [path]);
        const stat = alone.get(path);
        if (stat) stats.set(path, stat);
        else if (alone.timedOut) {
          stuck.set(path, now() + STUCK_RETRY_MS);
          context.warn(path, `statfs did not answer in ${STATFS_TIMEOUT_MS} ms`);
        }
      });
    }
    return stats;
  };
}

/** statfs of `paths` by one `stat -f`; `timedOut` when it was killed. */
async function statRun(
  context: CollectContext,
  paths: string[],
): Promise<Map<string, Statfs> & { timedOut?: boolean }> {
  const stats: Map<string, Statfs> & { timedOut?: boolean } = new Map();
  if (paths.length === 0) return stats;
  let result;
  try {
    result = await context.run("stat", {
      // %s is f_bsize, the block size node_exporter multiplies by (f_frsize is %S).
      args: ["-f", "--printf", "%n\\0%s %b %f %a %c %d\\0", "--", ...paths],
      timeoutMs: STATFS_TIMEOUT_MS,
      // Its messages in English, for the reasons read from them below.
      env: { LC_ALL: "C" },
    });
  } catch (error) {
    throw new Error(`cannot run stat -f: ${errorMessage(error)}`);
  }
  const records = text(result.stdout).split("\0");
  for (let i = 0; i + 1 < records.length; i += 2) {
    const [bsize, blocks, bfree, bavail, files, ffree] = records[i + 1]!.split(" ").map(toNumber);
    if (
      bsize === undefined || blocks === undefined || bfree === undefined ||
      bavail === undefined || files === undefined || ffree === undefined
    ) {
      context.warn(records[i]!, `malformed statfs "${records[i + 1]!.slice(0, 80)}"`);
      continue;
    }
    stats.set(records[i]!, {
      size: blocks * bsize,
      free: bfree * bsize,
      avail: bavail * bsize,
      files,
      filesFree: ffree,
    });
  }
  for (const line of text(result.stderr).split("\n")) {
    // "stat: cannot read file system information for '/x': Permission denied"
    const match = /for '(.*)': (.*)$/.exec(line);
    if (match) context.warn(match[1]!, `statfs: ${match[2]}`);
  }
  if (result.timedOut) stats.timedOut = true;
  return stats;
}
