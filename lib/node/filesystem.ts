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
 * kept. Deno has no `statfs(2)`: `_statfs.ts` says how it is done instead, and how a mount
 * whose statfs hangs (a dead NFS server) is kept from stalling every collection.
 *
 * @module
 */
import type { CollectContext, NodeCollector } from "./collector.ts";
import { Families, readTextNow, unescapeOctal } from "./_read.ts";
import { ffiStatfs, spawnStatfs, type StatfsMany } from "./_statfs.ts";

export { STATFS_TIMEOUT_MS, STUCK_RETRY_MS } from "./_statfs.ts";

/** node_exporter's default `--collector.filesystem.mount-points-exclude` (Debian's adds more). */
export const MOUNT_POINTS_EXCLUDE =
  /^\/(dev|proc|run\/credentials\/.+|sys|var\/lib\/docker\/.+|var\/lib\/containers\/storage\/.+)($|\/)/;

/** node_exporter's default `--collector.filesystem.fs-types-exclude`. */
export const FS_TYPES_EXCLUDE =
  /^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$/;

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

/**
 * Creates the collector, with its own memory of the mounts that hung. `statfs` is libc's by
 * FFI where it can be opened, else `stat -f` processes (tests choose).
 */
export function createFilesystemCollector(
  options: { statfs?: StatfsMany } = {},
): NodeCollector {
  let statfs = options.statfs;
  return {
    name: "filesystem",
    description: "size, free space and inodes per mounted filesystem (mountinfo, statfs)",
    capabilities: {
      reads: ["proc/1/mountinfo", "rootfs (statfs of every mount point)"],
      optional: ["proc/1/mountinfo"],
      privilege: "root to statfs every mount; the host's / mounted (rootfsPath)",
    },
    async collect(context) {
      const mounts = hostMounts(context);
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
      statfs ??= ffiStatfs() ?? spawnStatfs();
      const stats = await statfs(
        context,
        wanted.map(({ mount, target }) => ({ path: target, fsType: mount.fsType })),
      );
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
function hostMounts(context: CollectContext): Mount[] {
  const { proc, rootfs } = context.paths;
  let path = `${proc}/1/mountinfo`;
  let text = readTextNow(context, path, { optional: true });
  let prefix = "";
  if (text === undefined) {
    path = `${proc}/self/mountinfo`;
    text = readTextNow(context, path);
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
