/**
 * Ties a core to the pod and container that crashed, and says how sure that is:
 *
 * 1. `cgroup` (high): the crashing process's cgroup names the pod's UID and the container's
 *    id. Readable only while the process exists, that is in `core_pattern` pipe mode.
 * 2. `hostname` (high when the name is a pod on this node, low when no pod list confirms
 *    it): a pod's hostname is its name, and `%h` or systemd-coredump record it.
 * 3. `kernel-log` (high when the pid agrees, medium when only the process name and the time
 *    do): the kernel logged a segfault or trap of the process (`/dev/kmsg`), and the
 *    process's cgroup, read while it dumped core, names a pod on this node. Tried right after
 *    `cgroup` when the pid agrees, after `hostname` otherwise.
 * 4. `restart-window` (medium): exactly one container on this node restarted within the
 *    correlation window of the crash time (narrowed by the process name against container
 *    names when several did).
 *
 * When candidates remain that cannot be told apart the core is left unmatched, confidence
 * `none`, and the candidates are named in the detail: never a silent guess.
 *
 * @module
 */
import type { KubeObject } from "../kube/mod.ts";
import type { RestartEvent } from "../kube/mod.ts";
import { instanceName } from "../instance.ts";
import type { CoreMatch } from "../store/mod.ts";
import type { CgroupIds, KernelCrashMatch } from "./kernel_crashes.ts";
import { parseKubepodsCgroup } from "../kubepods.ts";

export type { CgroupIds } from "./kernel_crashes.ts";

/** What correlation needs of a pod. */
export interface PodInfo {
  namespace: string;
  name: string;
  uid: string | null;
  instance: string | null;
  /** How the instance is installed, by the pod's labels; `null` when they do not say. */
  kind?: "helm" | "operator" | null;
  /** Each container's image (`milvusdb/milvus:v2.4.0`), when known. */
  containers: { name: string; id: string | null; image?: string | null }[];
}

/** What is known about a crash before correlation. */
export interface CrashFacts {
  /** Crash time (from the name, systemd, or the file's modification time). */
  time: Date;
  /** The crashing process's hostname, when recorded. */
  hostname?: string;
  /** The process name (`%e`, comm). */
  comm?: string;
  /** From the crashing process's cgroup (pipe mode). */
  cgroup?: CgroupIds;
  /** The kernel's line about the crash, when one matched (`/dev/kmsg`). */
  kernel?: KernelCrashMatch;
}

/** The result: the pod and container (or nulls) and how the match was made. */
export interface Correlation {
  namespace: string | null;
  pod: string | null;
  container: string | null;
  instance: string | null;
  match: CoreMatch;
}

/** Reduces a cached pod to what correlation needs. */
export function podInfo(pod: KubeObject, instanceLabels: readonly string[]): PodInfo {
  const statuses = ((pod.status as Record<string, unknown> | undefined)?.containerStatuses ??
    []) as { name?: string; containerID?: string; image?: string }[];
  const specs = ((pod.spec as Record<string, unknown> | undefined)?.containers ?? []) as {
    name?: string;
    image?: string;
  }[];
  const labels = pod.metadata?.labels ?? {};
  return {
    namespace: pod.metadata?.namespace ?? "",
    name: pod.metadata?.name ?? "",
    uid: pod.metadata?.uid ?? null,
    instance: instanceName(labels, instanceLabels) ?? null,
    kind: installKind(labels),
    containers: statuses.map((s) => ({
      name: s.name ?? "",
      id: s.containerID?.replace(/^[a-z]+:\/\//, "") ?? null,
      // The spec's image is what was asked for, as people write it; the status may hold a digest.
      image: specs.find((c) => c.name === s.name)?.image ?? s.image ?? null,
    })),
  };
}

/** Whether a pod's labels say milvus-operator or Helm installed it. */
function installKind(labels: Record<string, string>): "helm" | "operator" | null {
  const manager = labels["app.kubernetes.io/managed-by"]?.toLowerCase();
  if (manager === "milvus-operator") return "operator";
  if (manager === "helm" || labels["helm.sh/chart"] !== undefined) return "helm";
  return null;
}

/**
 * Reads the pod UID and container id from the text of `/proc/PID/cgroup`, for the systemd
 * (`kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope`) and cgroupfs
 * (`/kubepods/burstable/pod<uid>/<id>`) layouts, cgroup v1 or v2.
 *
 * @example Usage
 * ```ts
 * parseCgroup("0::/kubepods/besteffort/pod1b2c3d4e-0000-4000-8000-000000000001/" + "a".repeat(64));
 * // { podUid: "1b2c3d4e-0000-4000-8000-000000000001", containerId: "aaaa..." }
 * ```
 */
export function parseCgroup(text: string): CgroupIds {
  const ref = parseKubepodsCgroup(text);
  if (!ref) return {};
  return { podUid: ref.podUid, ...(ref.containerId ? { containerId: ref.containerId } : {}) };
}

function result(
  pod: PodInfo | { namespace: string; name: string; instance: string | null } | null,
  container: string | null,
  match: CoreMatch,
): Correlation {
  return {
    namespace: pod?.namespace || null,
    pod: pod?.name ?? null,
    container,
    instance: pod?.instance ?? null,
    match,
  };
}

function near(restart: RestartEvent, time: Date, windowMs: number): boolean {
  if (!restart.finishedAt) return false;
  return Math.abs(Date.parse(restart.finishedAt) - time.getTime()) <= windowMs;
}

/** A process name (comm is cut to 15 bytes) names this container or its command. */
function sameName(comm: string | undefined, container: string): boolean {
  if (!comm) return false;
  return comm === container || container.startsWith(comm) || comm.startsWith(container);
}

/** Which container of `pod` crashed: the only one, the one that restarted, or by name. */
function containerOf(
  pod: PodInfo,
  facts: CrashFacts,
  restarts: readonly RestartEvent[],
  windowMs: number,
): { name: string | null; how: string } {
  if (pod.containers.length === 1) return { name: pod.containers[0]!.name, how: "only container" };
  const restarted = [
    ...new Set(
      restarts.filter((r) =>
        r.namespace === pod.namespace && r.pod === pod.name && near(r, facts.time, windowMs)
      ).map((r) => r.container),
    ),
  ];
  if (restarted.length === 1) return { name: restarted[0]!, how: "restarted at the crash time" };
  const named = pod.containers.filter((c) => sameName(facts.comm, c.name));
  if (named.length === 1) return { name: named[0]!.name, how: `process "${facts.comm}"` };
  return {
    name: null,
    how: `container unknown among ${pod.containers.map((c) => c.name).join(", ") || "none"}`,
  };
}

/** The pod the kernel's line about the crash names through the process's cgroup. */
function byKernelLog(
  facts: CrashFacts,
  pods: readonly PodInfo[],
  restarts: readonly RestartEvent[],
  windowMs: number,
): Correlation | undefined {
  const logged = facts.kernel;
  const ids = logged?.crash.cgroup;
  if (!logged || !ids?.podUid) return undefined;
  const pod = pods.find((p) => p.uid === ids.podUid);
  if (!pod) return undefined;
  const byId = pod.containers.find((c) => c.id !== null && c.id === ids.containerId);
  const container = byId
    ? { name: byId.name, how: "container id" }
    : containerOf(pod, facts, restarts, windowMs);
  const { crash } = logged;
  return result(pod, container.name, {
    method: "kernel-log",
    confidence: logged.by === "pid" ? "high" : "medium",
    detail: `pod UID ${pod.uid} from the cgroup of pid ${crash.pid} ("${crash.comm}"), which ` +
      `the kernel logged a ${crash.what} of at ${crash.time.toISOString()}` +
      `${logged.by === "comm" ? " (same name and time)" : ""}; ${container.how}`,
  });
}

/**
 * Correlates a crash with this node's pods and recent restarts.
 *
 * @param pods this node's pods (empty when no cluster is configured)
 * @param restarts recent restart events
 * @param windowMs how far a restart may be from the crash time
 */
export function correlate(
  facts: CrashFacts,
  pods: readonly PodInfo[],
  restarts: readonly RestartEvent[],
  windowMs: number,
): Correlation {
  if (facts.cgroup?.podUid) {
    const pod = pods.find((p) => p.uid === facts.cgroup!.podUid);
    if (pod) {
      const byId = pod.containers.find((c) => c.id !== null && c.id === facts.cgroup!.containerId);
      const container = byId
        ? { name: byId.name, how: "container id" }
        : containerOf(pod, facts, restarts, windowMs);
      return result(pod, container.name, {
        method: "cgroup",
        confidence: "high",
        detail: `pod UID ${pod.uid} from the process's cgroup; ${container.how}`,
      });
    }
  }
  if (facts.kernel?.by === "pid") {
    const logged = byKernelLog(facts, pods, restarts, windowMs);
    if (logged) return logged;
  }
  if (facts.hostname) {
    const named = pods.filter((p) => p.name === facts.hostname);
    if (named.length === 1) {
      const pod = named[0]!;
      const container = containerOf(pod, facts, restarts, windowMs);
      return result(pod, container.name, {
        method: "hostname",
        confidence: "high",
        detail: `hostname "${facts.hostname}" is a pod on this node; ${container.how}`,
      });
    }
    if (named.length > 1) {
      const restarted = named.filter((p) =>
        restarts.some((r) =>
          r.namespace === p.namespace && r.pod === p.name && near(r, facts.time, windowMs)
        )
      );
      if (restarted.length === 1) {
        const pod = restarted[0]!;
        const container = containerOf(pod, facts, restarts, windowMs);
        return result(pod, container.name, {
          method: "hostname",
          confidence: "high",
          detail:
            `hostname "${facts.hostname}" names pods in ${named.length} namespaces; only ${pod.namespace} restarted; ${container.how}`,
        });
      }
      return result(null, null, {
        method: "none",
        confidence: "none",
        detail: `ambiguous: hostname "${facts.hostname}" names pods in namespaces ${
          named.map((p) => p.namespace).join(", ")
        }`,
      });
    }
    if (pods.length === 0) {
      return result({ namespace: "", name: facts.hostname, instance: null }, null, {
        method: "hostname",
        confidence: "low",
        detail: `hostname "${facts.hostname}" taken as the pod name; no pod list to confirm it`,
      });
    }
  }
  if (facts.kernel?.by === "comm") {
    const logged = byKernelLog(facts, pods, restarts, windowMs);
    if (logged) return logged;
  }
  const window = restarts.filter((r) => near(r, facts.time, windowMs));
  const keys = (list: readonly RestartEvent[]) => [
    ...new Map(list.map((r) => [`${r.namespace}/${r.pod}/${r.container}`, r])).values(),
  ];
  let candidates = keys(window);
  if (candidates.length > 1) {
    const named = candidates.filter((r) => sameName(facts.comm, r.container));
    if (named.length >= 1) candidates = named;
  }
  const minutes = Math.round(windowMs / 6000) / 10;
  if (candidates.length === 1) {
    const restart = candidates[0]!;
    const pod = pods.find((p) => p.namespace === restart.namespace && p.name === restart.pod);
    return result(
      {
        namespace: restart.namespace,
        name: restart.pod,
        instance: pod?.instance ?? restart.instance,
      },
      restart.container,
      {
        method: "restart-window",
        confidence: "medium",
        detail: `the only container on this node that restarted within ${minutes} min of the crash`,
      },
    );
  }
  if (candidates.length > 1) {
    return result(null, null, {
      method: "none",
      confidence: "none",
      detail: `ambiguous: ${candidates.length} containers restarted within ${minutes} min: ${
        candidates.slice(0, 5).map((r) => `${r.namespace}/${r.pod}/${r.container}`).join(", ")
      }${candidates.length > 5 ? ", \u2026" : ""}`,
    });
  }
  return result(null, null, {
    method: "none",
    confidence: "none",
    detail: facts.hostname
      ? `hostname "${facts.hostname}" is no pod on this node and no container restarted near the crash`
      : "no hostname recorded and no container restarted near the crash",
  });
}
