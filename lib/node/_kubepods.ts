/**
 * The names of the node's pods and containers, from the kubelet's log directories; which pod a
 * cgroup path names is `lib/kubepods.ts`.
 *
 * @module
 */
import { listDir } from "./_read.ts";

export { parseKubepodsCgroup, type PodRef } from "../kubepods.ts";

/** Names of pods (by UID) and containers (by ID) on this node. */
export interface PodNames {
  pods: Map<string, { namespace: string; pod: string }>;
  containers: Map<string, string>;
}

/**
 * Reads the names the kubelet writes into its log directories, two directory listings:
 * `/var/log/pods/<NAMESPACE>_<POD>_<UID>` and
 * `/var/log/containers/<POD>_<NAMESPACE>_<CONTAINER>-<ID>.log`. None of these names may
 * contain `_`, so the split is exact. Empty where the host's root is not mounted.
 */
export async function readPodNames(rootfs: string): Promise<PodNames> {
  const root = rootfs.replace(/\/+$/, "");
  const pods = new Map<string, { namespace: string; pod: string }>();
  for (const entry of await listDir(`${root}/var/log/pods`)) {
    const [namespace, pod, uid] = entry.name.split("_");
    if (namespace && pod && uid) pods.set(uid, { namespace, pod });
  }
  const containers = new Map<string, string>();
  for (const entry of await listDir(`${root}/var/log/containers`)) {
    const match = /^[^_]+_[^_]+_(.+)-([0-9a-f]{64})\.log$/.exec(entry.name);
    if (match) containers.set(match[2]!, match[1]!);
  }
  return { pods, containers };
}
