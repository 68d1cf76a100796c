/**
 * `filesystem`: size, free space and inodes of every mounted filesystem (node_exporter's
 * filesystem collector: its names, its labels `device`, `mountpoint`, `fstype`, its default
 * exclusions of pseudo filesystems and of `/dev`, `/proc`, `/sys` and container layers).
 *
 * The mounts are the host's: `PROC/1/mountinfo` is the mount namespace of the host's init
 * (the agent's own, in a pod, holds the pod's mounts), read as the host sees them and statted
 * under `node.rootfsPath` (the DaemonSet mounts the host's `/` at `/host/root` with
 * `HostToContainer` propagation, so that later mounts show). Where PID 1 is hidden
 * (`hidepid`), `PROC/self/mountinfo` is read instead and only what lies under the root path
 * kept.
 *
 * Deno has no `statfs(2)`. The numbers come from one `stat -f` (GNU coreutils) for every
 * mount point at once: one process per collection, not one per mount, with each record
 * named by the path we gave and NUL-terminated, so that any mount point (spaces, newlines)
 * maps back. Not `df`: it prints its own mount table's names, pads and rounds, and counts
 * blocks of `f_frsize` where node_exporter multiplies by `f_bsize`. Not FFI into libc: it
 * needs `--allow-ffi` and a libc by file name (none in a static or musl image), and a hung
 * NFS server would pin one of Deno's threads per call for good, where a process is killed.
 *
 * A mount whose statfs hangs (a dead NFS server) would stall every collection: the run is
 * killed after {@linkcode STATFS_TIMEOUT_MS}, the mounts it did not answer for are tried one
 * process each to find the one that hangs, and that one is reported as
 * `node_filesystem_device_error` 1 without being statted again for
 * {@linkcode STUCK_RETRY_MS} (node_exporter's stuck-mount watcher does the same).
 *
 * @module
 */
import { mapLimit } from "../pool.ts";
import { text } from "../run.ts";
import type { CollectContext, NodeCollector } from "./collector.ts";
import { Families, readText, toNumber, unescapeOctal } from "./_read.ts";

/** node_exporter's default `--collector.filesystem.mount-points-exclude` (Debian's adds more). */
export const MOUNT_POINTS_EXCLUDE =
  /^\/(dev|proc|run\/credentials\/.+|sys|var\/lib\/docker\/.+|var\/lib\/containers\/storage\/.+)($|\/)/;

/** node_exporter's default `--collector.filesystem.fs-types-exclude`. */
export const FS_TYPES_EXCLUDE =
  /^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$/;

/** How long statfs of every mount may take before the run is killed. */
export const STATFS_TIMEOUT_MS = 3000;

/** How long a mount whose statfs hung is left alone before it is tried again. */
export const STUCK_RETRY_MS = 5 * 60_000;

/** Mounts tried one process each at once, when a run hung. */
const PROBES_AT_ONCE = 8;

/** One mount of `mountinfo`, as node_exporter labels it. */
export interface Mount {
  device: string;
  mountPoint: string;
  fsType: string;
  readOnly: boolean;
}

/**
 * The mounts of a `mountinfo` text (`proc(5)`): `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS
 * [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS`, octal escapes (`\040` for a space) decoded.
 * A line that does not parse is reported through `bad` and skipped.
 */
export function parseMountinfo(text: string, bad: (line: string) => void = () => {}): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const fields = line.trim().split(/\s+/);
    const dash = fields.indexOf("-", 6);
    if (dash < 0 || fields.length < dash + 3) {
      bad(line);
      continue;
    }
    const options = `${fields[5]},${fields[dash + 3] ?? ""}`.split(",");
    mounts.push({
      device: unescapeOctal(fields[dash + 2]!),
      mountPoint: unescapeOctal(fields[4]!),
      fsType: fields[dash + 1]!,
      readOnly: options.includes("ro"),
    });
  }
  return mounts;
}

/** What statfs said of a path. */
interface Statfs {
  size: number;
  free: number;
  avail: number;
  files: number;
  filesFree: number;
}

const FAMILIES = [
  ["size", "node_filesystem_size_bytes", "Filesystem size in bytes."],
  ["free", "node_filesystem_free_bytes", "Filesystem free space in bytes."],
  [
    "avail",
    "node_filesystem_avail_bytes",
    "Filesystem space available to non-root users in bytes.",
  ],
  ["files", "node_filesystem_files", "Filesystem total file nodes."],
  ["filesFree", "node_filesystem_files_free", "Filesystem total free file nodes."],
] as const;

/** Creates the collector, with its own memory of the mounts that hung. */
export function createFilesystemCollector(now: () => number = Date.now): NodeCollector {
  /** Mount point (as statted) to when it may be tried again; at most the host's mounts. */
  const stuck = new Map<string, number>();
  return {
    name: "filesystem",
    description: "size, free space and inodes per mounted filesystem (mountinfo, statfs)",
    capabilities: {
      reads: ["proc/1/mountinfo", "rootfs (statfs of every mount point, by `stat -f`)"],
      optional: ["proc/1/mountinfo"],
      privilege: "root to statfs every mount; the host's / mounted (rootfsPath)",
    },
    async collect(context) {
      const mounts = await hostMounts(context);
      const out = new Families();
      const seen = new Set<string>();
      const wanted: { mount: Mount; target: string }[] = [];
      const root = context.paths.rootfs.replace(/\/+$/, "");
      for (const mount of mounts) {
        if (MOUNT_POINTS_EXCLUDE.test(mount.mountPoint)) continue;
        if (FS_TYPES_EXCLUDE.test(mount.fsType)) continue;
        // One series per label set, the first mount's: node_exporter's rule for stacked mounts.
        const key = JSON.stringify([mount.device, mount.mountPoint, mount.fsType]);
        if (seen.has(key)) continue;
        seen.add(key);
        wanted.push({ mount, target: `${root}${mount.mountPoint}` });
      }
      for (const [target, until] of stuck) if (until <= now()) stuck.delete(target);
      const fresh = wanted.filter((w) => !stuck.has(w.target)).map((w) => w.target);
      const stats = await statfsAll(context, fresh);
      const missing = fresh.filter((target) => !stats.has(target));
      if (stats.timedOut && missing.length > 0) {
        // Which one hung: each alone; the others answer at once.
        await mapLimit(missing, PROBES_AT_ONCE, async (target) => {
          const alone = await statfsAll(context, [target]);
          const stat = alone.get(target);
          if (stat) stats.set(target, stat);
          else if (alone.timedOut) {
            stuck.set(target, now() + STUCK_RETRY_MS);
            context.warn(target, `statfs did not answer in ${STATFS_TIMEOUT_MS} ms`);
          }
        });
      }
      for (const { mount, target } of wanted) {
        const labels = {
          device: mount.device,
          mountpoint: mount.mountPoint,
          fstype: mount.fsType,
        };
        const stat = stats.get(target);
        out.add(
          "node_filesystem_device_error",
          "Whether an error occurred while getting statistics for the given device.",
          "gauge",
          stat ? 0 : 1,
          labels,
        );
        if (!stat) continue;
        for (const [field, name, help] of FAMILIES) {
          out.add(name, help, "gauge", stat[field], labels);
        }
        out.add(
          "node_filesystem_readonly",
          "Filesystem read-only status.",
          "gauge",
          mount.readOnly ? 1 : 0,
          labels,
        );
      }
      return out.list();
    },
  };
}

/** The host's mounts: its init's mount namespace, else ours under the root path. */
async function hostMounts(context: CollectContext): Promise<Mount[]> {
  const { proc, rootfs } = context.paths;
  let path = `${proc}/1/mountinfo`;
  let text = await readText(context, path, { optional: true });
  let prefix = "";
  if (text === undefined) {
    path = `${proc}/self/mountinfo`;
    text = await readText(context, path);
    if (text === undefined) throw new Error(`cannot read ${proc}/1/mountinfo nor ${path}`);
    prefix = rootfs.replace(/\/+$/, "");
  }
  const mounts = parseMountinfo(
    text,
    (line) => context.warn(path, `malformed line "${line.slice(0, 80)}"`),
  );
  if (prefix === "") return mounts;
  // Our own namespace: the host's mounts are those under the root path, named without it.
  return mounts.flatMap((mount) => {
    if (mount.mountPoint !== prefix && !mount.mountPoint.startsWith(`${prefix}/`)) return [];
    return [{ ...mount, mountPoint: mount.mountPoint.slice(prefix.length) || "/" }];
  });
}

/** statfs of `targets` by one `stat -f`, by target; `timedOut` when it was killed. */
async function statfsAll(
  context: CollectContext,
  targets: string[],
): Promise<Map<string, Statfs> & { timedOut?: boolean }> {
  const stats: Map<string, Statfs> & { timedOut?: boolean } = new Map();
  if (targets.length === 0) return stats;
  let result;
  try {
    result = await context.run("stat", {
      // %s is f_bsize, the block size node_exporter multiplies by (f_frsize is %S).
      args: ["-f", "--printf", "%n\\0%s %b %f %a %c %d\\0", "--", ...targets],
      timeoutMs: STATFS_TIMEOUT_MS,
      // Its messages in English, for the reasons read from them below.
      env: { LC_ALL: "C" },
    });
  } catch (error) {
    throw new Error(`cannot run stat -f: ${error instanceof Error ? error.message : error}`);
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
