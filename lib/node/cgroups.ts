/**
 * `cgroups`: every pod and container of the node from its cgroups, with cAdvisor's names and
 * labels, so that dashboards and `kubectl top`-style queries written for the kubelet's
 * cAdvisor work on this agent's `/metrics`.
 *
 * ## Which cgroups
 *
 * The cgroup tree (`<sys>/fs/cgroup`: v2, or v1's memory tree) is walked at most
 * {@linkcode CGROUP_LIMITS}`.depth` levels deep. A directory named like a container id is a
 * container, and not descended into: `<id>` (cgroupfs driver, and containerd's own cgroup
 * parents), `cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope` (systemd
 * driver). A directory named like a pod, `pod<uid>` or `kubepods-<qos>-pod<uid_>.slice`, is a
 * pod: its series carry `container=""`, as cAdvisor's pod-level cgroup does. The QoS slices,
 * `kubepods` itself and the root are left to node_exporter's families.
 *
 * ## Labels
 *
 * cAdvisor's, names sorted: `container` (the name in the pod spec; `""` for the pod and for a
 * sandbox's pause container), `id` (the cgroup path, `/kubepods/burstable/pod<uid>/<id>`),
 * `image`, `name` (the container id, as cAdvisor's containerd handler prints it), `namespace`
 * and `pod`, from the CRI runtime ({@linkcode ContainerDirectory}); empty while the runtime
 * has not said, or cannot.
 *
 * ## Kata sandboxes
 *
 * When the daemon serves Kata's cAdvisor-style series (`lib/kata/cadvisor.ts`, derived from
 * the guest's own metrics), the cgroups of a Kata sandbox are left out: a sandbox whose id is
 * a directory under `kata.sandboxRoots`, or whose CRI runtime handler starts with `kata`, and
 * every container of it. Their host cgroups hold the VM (hypervisor, virtiofsd, the shim),
 * not the containers: reporting them as the containers would count the pod twice under the
 * same `container` labels. The pod-level cgroup stays (`container=""`, as for any pod): it is
 * what the pod costs the host, which the common `container!=""` queries leave out.
 *
 * ## Mapping (v2 file / v1 file)
 *
 * | series | from |
 * | --- | --- |
 * | `container_cpu_usage_seconds_total{cpu="total"}` | `cpu.stat` usage_usec / `cpuacct.usage` |
 * | `container_cpu_{user,system}_seconds_total` | `cpu.stat` user_usec, system_usec / `cpuacct.stat` (USER_HZ) |
 * | `container_cpu_cfs_{periods,throttled_periods,throttled_seconds}_total` | `cpu.stat` with a quota in `cpu.max` / `cpu.stat` with `cpu.cfs_quota_us` > 0 |
 * | `container_memory_usage_bytes` | `memory.current` / `memory.usage_in_bytes` |
 * | `container_memory_working_set_bytes` | usage - `inactive_file` / - `total_inactive_file`, at least 0 |
 * | `container_memory_rss`, `_cache`, `_mapped_file` | `memory.stat` anon, file, file_mapped / total_rss, total_cache, total_mapped_file |
 * | `container_memory_swap` | `memory.swap.current` / `memory.stat` total_swap |
 * | `container_memory_max_usage_bytes` | `memory.peak` (5.19+) / `memory.max_usage_in_bytes` |
 * | `container_memory_failcnt` | v1 `memory.failcnt` only |
 * | `container_oom_events_total` | `memory.events` oom_kill / `memory.oom_control` oom_kill (4.13+) |
 * | `container_fs_{reads,writes}_bytes_total`, `container_fs_{reads,writes}_total` (`device`) | `io.stat` / `blkio.throttle.io_service{_bytes,d}_recursive` |
 * | `container_threads`, `container_threads_max` | `pids.current`, `pids.max` (0 for `max`) |
 * | `container_processes` | lines of `cgroup.procs` |
 * | `container_pressure_{cpu,memory,io}_{waiting,stalled}_seconds_total` | `{cpu,memory,io}.pressure` some/full (v1 hosts: the unified tree, when mounted) |
 *
 * `device` is `/dev/<name>` from `<sys>/dev/block/MAJ:MIN/uevent`, else `MAJ:MIN`.
 *
 * @module
 */
import type { Labels, MetricType } from "../prom/mod.ts";
import type { CollectContext, ContainerIdentity, NodeCollector } from "./collector.ts";
import {
  type CgroupLayout,
  cgroupLayout,
  type CgroupStats,
  readCgroup,
  walkRoot,
} from "./_cgroup.ts";
import { Families, listDir, readText } from "./_read.ts";

/** How far and how wide the walk goes: a bound on the work of one scrape. */
export const CGROUP_LIMITS = { depth: 8, cgroups: 20_000, concurrency: 16 } as const;

/** The families, with cAdvisor's types and help texts. */
export const CGROUP_FAMILIES = {
  container_cpu_usage_seconds_total: ["counter", "Cumulative cpu time consumed in seconds."],
  container_cpu_user_seconds_total: ["counter", "Cumulative user cpu time consumed in seconds."],
  container_cpu_system_seconds_total: [
    "counter",
    "Cumulative system cpu time consumed in seconds.",
  ],
  container_cpu_cfs_periods_total: ["counter", "Number of elapsed enforcement period intervals."],
  container_cpu_cfs_throttled_periods_total: ["counter", "Number of throttled period intervals."],
  container_cpu_cfs_throttled_seconds_total: [
    "counter",
    "Total time duration the container has been throttled.",
  ],
  container_memory_usage_bytes: [
    "gauge",
    "Current memory usage in bytes, including all memory regardless of when it was accessed",
  ],
  container_memory_working_set_bytes: ["gauge", "Current working set in bytes."],
  container_memory_rss: ["gauge", "Size of RSS in bytes."],
  container_memory_cache: ["gauge", "Number of bytes of page cache memory."],
  container_memory_mapped_file: ["gauge", "Size of memory mapped files in bytes."],
  container_memory_swap: ["gauge", "Container swap usage in bytes."],
  container_memory_max_usage_bytes: ["gauge", "Maximum memory usage recorded in bytes"],
  container_memory_failcnt: ["counter", "Number of memory usage hits limits"],
  container_oom_events_total: [
    "counter",
    "Count of out of memory events observed for the container",
  ],
  container_fs_reads_bytes_total: ["counter", "Cumulative count of bytes read"],
  container_fs_writes_bytes_total: ["counter", "Cumulative count of bytes written"],
  container_fs_reads_total: ["counter", "Cumulative count of reads completed"],
  container_fs_writes_total: ["counter", "Cumulative count of writes completed"],
  container_processes: ["gauge", "Number of processes running inside the container."],
  container_threads: ["gauge", "Number of threads running inside the container"],
  container_threads_max: [
    "gauge",
    "Maximum number of threads allowed inside the container, infinity if value is zero",
  ],
  container_pressure_cpu_waiting_seconds_total: [
    "counter",
    "Total time duration tasks in the container have waited due to CPU congestion.",
  ],
  container_pressure_cpu_stalled_seconds_total: [
    "counter",
    "Total time duration no tasks in the container could make progress due to CPU congestion.",
  ],
  container_pressure_memory_waiting_seconds_total: [
    "counter",
    "Total time duration tasks in the container have waited due to memory congestion.",
  ],
  container_pressure_memory_stalled_seconds_total: [
    "counter",
    "Total time duration no tasks in the container could make progress due to memory congestion.",
  ],
  container_pressure_io_waiting_seconds_total: [
    "counter",
    "Total time duration tasks in the container have waited due to IO congestion.",
  ],
  container_pressure_io_stalled_seconds_total: [
    "counter",
    "Total time duration no tasks in the container could make progress due to IO congestion.",
  ],
} as const satisfies Record<string, readonly [MetricType, string]>;

type FamilyName = keyof typeof CGROUP_FAMILIES;

/** A container runtime's cgroup name for a container: the id, bare or in a systemd scope. */
const CONTAINER_DIR = /^(?:(?:cri-containerd|crio|docker|containerd)-)?([0-9a-f]{64})(?:\.scope)?$/;

/** A pod's cgroup: cgroupfs `pod<uid>`, systemd `kubepods[-<qos>]-pod<uid_>.slice`. */
const POD_DIR =
  /^(?:pod([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})|kubepods(?:-[a-z]+)?-pod([0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12})\.slice)$/;

/**
 * The pod uid and container id a cgroup path names (`/kubepods/burstable/pod<uid>/<id>`,
 * `...-pod<uid_>.slice/cri-containerd-<id>.scope`), either missing when it names none.
 */
export function cgroupIdsOfPath(path: string): { podUid?: string; containerId?: string } {
  const ids: { podUid?: string; containerId?: string } = {};
  for (const segment of path.split("/")) {
    const pod = POD_DIR.exec(segment);
    if (pod) ids.podUid = pod[1] ?? pod[2]!.replaceAll("_", "-");
    const container = CONTAINER_DIR.exec(segment)?.[1];
    if (container) ids.containerId = container;
  }
  return ids;
}

/** A cgroup found by the walk. */
export interface FoundCgroup {
  /** The path from the tree's root, as cAdvisor's `id`: `/kubepods/burstable/pod.../...`. */
  path: string;
  /** The container id, for a container's cgroup. */
  containerId?: string;
  /** The pod's uid, from this cgroup's name or an ancestor's. */
  podUid?: string;
}

/**
 * Finds the pods' and containers' cgroups under `root`, at most `limits.depth` levels down
 * and `limits.cgroups` directories in all (`truncated` then says so).
 */
export async function findCgroups(
  root: string,
  limits: { depth: number; cgroups: number } = CGROUP_LIMITS,
): Promise<{ found: FoundCgroup[]; truncated: boolean }> {
  const found: FoundCgroup[] = [];
  let visited = 0;
  let truncated = false;
  const walk = async (relative: string, depth: number, podUid: string | undefined) => {
    if (depth > limits.depth) return;
    for (const entry of await listDir(root + relative)) {
      if (!entry.isDirectory) continue;
      if (++visited > limits.cgroups) {
        truncated = true;
        return;
      }
      const path = `${relative}/${entry.name}`;
      const containerId = CONTAINER_DIR.exec(entry.name)?.[1];
      if (containerId !== undefined) {
        // What a container makes below its own cgroup is the container's.
        found.push({ path, containerId, ...(podUid ? { podUid } : {}) });
        continue;
      }
      const pod = POD_DIR.exec(entry.name);
      const uid = pod ? (pod[1] ?? pod[2]!.replaceAll("_", "-")) : undefined;
      if (uid !== undefined) found.push({ path, podUid: uid });
      await walk(path, depth + 1, uid ?? podUid);
    }
  };
  await walk("", 1, undefined);
  return { found, truncated };
}

/** Ids of the Kata sandboxes: the directories under the sandbox roots. */
async function kataSandboxIds(roots: readonly string[]): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const root of roots) {
    for (const entry of await listDir(root)) if (entry.isDirectory) ids.add(entry.name);
  }
  return ids;
}

function isKata(
  found: FoundCgroup,
  identity: ContainerIdentity | undefined,
  kataIds: ReadonlySet<string>,
): boolean {
  if (found.containerId !== undefined && kataIds.has(found.containerId)) return true;
  if (identity === undefined) return false;
  return kataIds.has(identity.sandboxId) || identity.runtimeHandler.startsWith("kata");
}

/** `MAJ:MIN` -> `/dev/<name>`, read once per device per scrape. */
function deviceNames(context: CollectContext): (device: string) => Promise<string> {
  const names = new Map<string, Promise<string>>();
  return (device) => {
    let name = names.get(device);
    if (name === undefined) {
      name = readText(context, `${context.paths.sys}/dev/block/${device}/uevent`, {
        optional: true,
      }).then((text) => {
        const devname = /^DEVNAME=(.+)$/m.exec(text ?? "")?.[1];
        return devname ? `/dev/${devname}` : device;
      });
      names.set(device, name);
    }
    return name;
  };
}

/** Runs `work` over `items`, `limit` at a time, results in order. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Adds one cgroup's series to `out`. */
async function emit(
  out: Families,
  stats: CgroupStats,
  base: Labels,
  device: (device: string) => Promise<string>,
): Promise<void> {
  const put = (name: FamilyName, value: number | undefined, extra: Labels = {}) => {
    if (value === undefined) return;
    const [type, help] = CGROUP_FAMILIES[name];
    out.add(name, help, type, value, sorted({ ...base, ...extra }));
  };
  put("container_cpu_usage_seconds_total", stats.cpuUsage, { cpu: "total" });
  put("container_cpu_user_seconds_total", stats.cpuUser);
  put("container_cpu_system_seconds_total", stats.cpuSystem);
  put("container_cpu_cfs_periods_total", stats.throttling?.periods);
  put("container_cpu_cfs_throttled_periods_total", stats.throttling?.throttledPeriods);
  put("container_cpu_cfs_throttled_seconds_total", stats.throttling?.throttledSeconds);
  put("container_memory_usage_bytes", stats.memoryUsage);
  put("container_memory_working_set_bytes", stats.memoryWorkingSet);
  put("container_memory_rss", stats.memoryRss);
  put("container_memory_cache", stats.memoryCache);
  put("container_memory_mapped_file", stats.memoryMappedFile);
  put("container_memory_swap", stats.memorySwap);
  put("container_memory_max_usage_bytes", stats.memoryMaxUsage);
  put("container_memory_failcnt", stats.memoryFailcnt);
  put("container_oom_events_total", stats.oomKills);
  for (const io of stats.io) {
    const labels = { device: await device(io.device) };
    put("container_fs_reads_bytes_total", io.readBytes, labels);
    put("container_fs_writes_bytes_total", io.writeBytes, labels);
    put("container_fs_reads_total", io.reads, labels);
    put("container_fs_writes_total", io.writes, labels);
  }
  put("container_processes", stats.processes);
  put("container_threads", stats.threads);
  put("container_threads_max", stats.threadsMax);
  for (const resource of ["cpu", "memory", "io"] as const) {
    const pressure = stats.pressure[resource];
    put(`container_pressure_${resource}_waiting_seconds_total`, pressure?.waiting);
    put(`container_pressure_${resource}_stalled_seconds_total`, pressure?.stalled);
  }
}

/** Labels with names in sorted order, as cAdvisor (client_golang) prints them. */
function sorted(labels: Labels): Labels {
  return Object.fromEntries(
    Object.entries(labels).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0),
  );
}

/** The cAdvisor labels of a cgroup found by the walk. */
function labelsOf(
  found: FoundCgroup,
  identity: ContainerIdentity | undefined,
  context: CollectContext,
): Labels {
  const uid = identity?.podUid || found.podUid;
  const pod = !identity?.pod && uid ? context.containers?.pod(uid) : undefined;
  const container = found.containerId !== undefined;
  return {
    container: container ? identity?.container ?? "" : "",
    id: found.path,
    image: container ? identity?.image ?? "" : "",
    name: found.containerId ?? "",
    namespace: identity?.namespace || pod?.namespace || "",
    pod: identity?.pod || pod?.name || "",
  };
}

/** container_* series of every pod and container, cAdvisor's names and labels. */
export const cgroupsCollector: NodeCollector = {
  name: "cgroups",
  description: "every pod's and container's CPU, memory, I/O, tasks and pressure (cgroups)",
  capabilities: {
    reads: ["sys/fs/cgroup", "sys/dev/block"],
    optional: ["sys/fs/cgroup/unified"],
  },
  async collect(context) {
    const base = `${context.paths.sys}/fs/cgroup`;
    const layout: CgroupLayout | undefined = await cgroupLayout(base);
    const root = layout && walkRoot(layout);
    if (layout === undefined || root === undefined) {
      throw new Error(`No cgroup filesystem at "${base}"`);
    }
    const { found, truncated } = await findCgroups(root);
    if (truncated) {
      context.warn(base, `more than ${CGROUP_LIMITS.cgroups} cgroups: the rest not read`);
    }
    context.containers?.notice(
      found.flatMap((f) => f.containerId === undefined ? [] : [f.containerId]),
    );
    const kataIds = context.kataSandboxRoots
      ? await kataSandboxIds(context.kataSandboxRoots)
      : undefined;
    const kept = found.flatMap((cgroup) => {
      const identity = cgroup.containerId === undefined
        ? undefined
        : context.containers?.container(cgroup.containerId);
      if (kataIds && cgroup.containerId !== undefined && isKata(cgroup, identity, kataIds)) {
        return [];
      }
      return [{ cgroup, identity }];
    });
    const stats = await mapLimited(
      kept,
      CGROUP_LIMITS.concurrency,
      ({ cgroup }) => readCgroup(context, layout, cgroup.path),
    );
    const out = new Families();
    const device = deviceNames(context);
    for (const [index, { cgroup, identity }] of kept.entries()) {
      await emit(out, stats[index]!, labelsOf(cgroup, identity, context), device);
    }
    return out.list();
  },
};
