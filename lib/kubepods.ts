/**
 * Which pod and container a process belongs to, from its cgroup path: one parser for core
 * correlation and the node's process and kernel-log collectors.
 *
 * @module
 */

/** A process's pod and container, as its cgroup path names them. */
export interface PodRef {
  /** The pod's UID (a static pod's is its config hash, 32 hex digits). */
  podUid: string;
  /** The container's ID (64 hex digits), or "" for the pod's own cgroup. */
  containerId: string;
}

/**
 * The pod and container of a `/proc/PID/cgroup` text, when a line's path is a kubepods one:
 * `/kubepods/burstable/pod<UID>/<ID>` (cgroupfs driver) or
 * `/kubepods.slice/.../kubepods-burstable-pod<UID_>.slice/cri-containerd-<ID>.scope` (systemd
 * driver; containerd, CRI-O `crio-`, Docker `docker-`). The path may be relative (`/../..`)
 * when the reader has its own cgroup namespace; the names are in it all the same.
 *
 * @example Usage
 * ```ts
 * parseKubepodsCgroup("0::/kubepods/besteffort/pod1c1bd4d1-0f6e-4b4b-9d5d-9a5b0e3f1a11/" + "a".repeat(64));
 * ```
 */
export function parseKubepodsCgroup(text: string): PodRef | undefined {
  for (const line of text.split("\n")) {
    const path = line.slice(line.indexOf(":", line.indexOf(":") + 1) + 1);
    if (!path.includes("kubepods")) continue;
    const pod =
      /[/-]pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})(?:\.slice)?(?:\/|$)/
        .exec(path);
    if (!pod) continue;
    const rest = path.slice(pod.index + pod[0].length);
    const container = /^(?:[a-z-]*-)?([0-9a-f]{64})(?:\.scope)?(?:\/|$)/.exec(rest);
    return { podUid: pod[1]!.replaceAll("_", "-"), containerId: container?.[1] ?? "" };
  }
  return undefined;
}
