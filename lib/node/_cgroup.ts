/**
 * Reading containers' cgroups, version 2 (one unified tree) and version 1 (a tree per
 * controller, with the unified tree beside them on hybrid hosts, where only pressure stall
 * information lives), into one shape: what cAdvisor's libcontainer reads, in seconds and
 * bytes.
 *
 * @module
 */
import type { CollectContext } from "./collector.ts";
import { USER_HZ } from "./cpu.ts";
import { readText, toNumber } from "./_read.ts";

/** The controllers read on cgroup v1, each its own tree. */
const V1_CONTROLLERS = ["memory", "cpu", "cpuacct", "blkio", "pids"] as const;
type V1Controller = typeof V1_CONTROLLERS[number];

/** Where a host's cgroups are. */
export type CgroupLayout =
  | { version: 2; root: string }
  | {
    version: 1;
    /** Each controller's tree (`cpu` may be `cpu,cpuacct` behind a symlink). */
    roots: Partial<Record<V1Controller, string>>;
    /** The unified tree of a hybrid host, for pressure stall information. */
    unified?: string;
  };

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * The layout under `base` (`/sys/fs/cgroup`): v2 when its root has `cgroup.controllers`,
 * else v1 when any controller's tree is there; undefined when neither.
 */
export async function cgroupLayout(base: string): Promise<CgroupLayout | undefined> {
  if (await isFile(`${base}/cgroup.controllers`)) return { version: 2, root: base };
  const roots: Partial<Record<V1Controller, string>> = {};
  for (const controller of V1_CONTROLLERS) {
    if (await isDirectory(`${base}/${controller}`)) roots[controller] = `${base}/${controller}`;
  }
  if (Object.keys(roots).length === 0) return undefined;
  const unified = await isFile(`${base}/unified/cgroup.controllers`)
    ? `${base}/unified`
    : undefined;
  return { version: 1, roots, ...(unified ? { unified } : {}) };
}

/** The tree whose directories are walked to find containers: the unified one, or v1's memory. */
export function walkRoot(layout: CgroupLayout): string | undefined {
  return layout.version === 2 ? layout.root : layout.roots.memory ?? layout.roots.cpu;
}

/** Pressure stall totals of one resource, in seconds. */
export interface Pressure {
  /** Some tasks waited (`some`). */
  waiting?: number;
  /** No task could make progress (`full`). */
  stalled?: number;
}

/** One block device's I/O of a cgroup. */
export interface DeviceIo {
  /** `MAJOR:MINOR`. */
  device: string;
  readBytes?: number;
  writeBytes?: number;
  reads?: number;
  writes?: number;
}

/** What one cgroup's files say, in seconds and bytes; a value the kernel lacks is absent. */
export interface CgroupStats {
  cpuUsage?: number;
  cpuUser?: number;
  cpuSystem?: number;
  /** Only when a CPU quota is set, as cAdvisor. */
  throttling?: { periods?: number; throttledPeriods?: number; throttledSeconds?: number };
  memoryUsage?: number;
  /** `usage - inactive_file`, at least 0, as cAdvisor. */
  memoryWorkingSet?: number;
  memoryRss?: number;
  memoryCache?: number;
  memoryMappedFile?: number;
  memorySwap?: number;
  memoryMaxUsage?: number;
  /** v1's `memory.failcnt` (v2 has no such count). */
  memoryFailcnt?: number;
  oomKills?: number;
  io: DeviceIo[];
  /** Tasks (threads) now, `pids.current`. */
  threads?: number;
  /** `pids.max`, 0 for no limit (cAdvisor's "infinity"). */
  threadsMax?: number;
  /** Processes (`cgroup.procs` lines). */
  processes?: number;
  pressure: Partial<Record<"cpu" | "memory" | "io", Pressure>>;
}

/** `key value` lines (cpu.stat, memory.stat, memory.events...) as numbers. */
export function keyValues(text: string | undefined): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text?.split("\n") ?? []) {
    const [key, value, extra] = line.trim().split(/\s+/);
    if (key === undefined || extra !== undefined) continue;
    const number = toNumber(value);
    if (number !== undefined) values.set(key, number);
  }
  return values;
}

/** A pressure file's `some` and `full` totals (microseconds there), in seconds. */
export function parsePressure(text: string | undefined): Pressure | undefined {
  if (text === undefined) return undefined;
  const pressure: Pressure = {};
  for (const line of text.split("\n")) {
    const match = /^(some|full)\s.*\btotal=(\d+)/.exec(line);
    if (!match) continue;
    pressure[match[1] === "some" ? "waiting" : "stalled"] = Number(match[2]) / 1e6;
  }
  return Object.keys(pressure).length > 0 ? pressure : undefined;
}

/** v2's io.stat: `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0` per device. */
export function parseIoStat(text: string | undefined): DeviceIo[] {
  const devices: DeviceIo[] = [];
  for (const line of text?.split("\n") ?? []) {
    const [device, ...fields] = line.trim().split(/\s+/);
    if (!device || !/^\d+:\d+$/.test(device)) continue;
    const values = new Map(fields.map((f) => f.split("=") as [string, string]));
    devices.push({
      device,
      ...defined("readBytes", toNumber(values.get("rbytes"))),
      ...defined("writeBytes", toNumber(values.get("wbytes"))),
      ...defined("reads", toNumber(values.get("rios"))),
      ...defined("writes", toNumber(values.get("wios"))),
    });
  }
  return devices;
}

/** v1's blkio throttle files: `8:0 Read 4096` lines (and `Total`), bytes or operations. */
export function parseBlkio(
  bytes: string | undefined,
  operations: string | undefined,
): DeviceIo[] {
  const devices = new Map<string, DeviceIo>();
  const read = (text: string | undefined, read: keyof DeviceIo, write: keyof DeviceIo) => {
    for (const line of text?.split("\n") ?? []) {
      const [device, operation, value] = line.trim().split(/\s+/);
      if (!device || !/^\d+:\d+$/.test(device)) continue;
      const number = toNumber(value);
      if (number === undefined) continue;
      const io = devices.get(device) ?? { device };
      if (operation === "Read") (io as unknown as Record<string, number>)[read] = number;
      if (operation === "Write") (io as unknown as Record<string, number>)[write] = number;
      devices.set(device, io);
    }
  };
  read(bytes, "readBytes", "writeBytes");
  read(operations, "reads", "writes");
  return [...devices.values()];
}

function defined<K extends string>(key: K, value: number | undefined): { [P in K]?: number } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: number };
}

function workingSet(usage: number | undefined, inactiveFile: number | undefined) {
  if (usage === undefined) return undefined;
  return Math.max(0, usage - (inactiveFile ?? 0));
}

function lineCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  return text.split("\n").filter((line) => line.trim() !== "").length;
}

/**
 * Reads the cgroup at `path` (relative to each tree, `/kubepods/burstable/pod.../...`). A file
 * that is missing (a controller not enabled, a container gone meanwhile) leaves its values
 * out.
 */
export async function readCgroup(
  context: Pick<CollectContext, "warn">,
  layout: CgroupLayout,
  path: string,
): Promise<CgroupStats> {
  // Problems are told by file name: containers come and go, and a source per container
  // would make the daemon's set of problems it told grow without end.
  const warn = {
    warn: (source: string, reason: string) =>
      context.warn(
        `cgroup ${source.slice(source.lastIndexOf("/") + 1)}`,
        `${reason} ("${source}")`,
      ),
  };
  return layout.version === 2 ? await readV2(warn, layout.root + path) : await readV1(
    warn,
    layout,
    path,
  );
}

async function readV2(context: Pick<CollectContext, "warn">, dir: string): Promise<CgroupStats> {
  const read = (file: string) => readText(context, `${dir}/${file}`, { optional: true });
  const [cpuStat, cpuMax, current, memoryStat, swap, events, peak, io, pids, pidsMax, procs] =
    await Promise.all([
      read("cpu.stat"),
      read("cpu.max"),
      read("memory.current"),
      read("memory.stat"),
      read("memory.swap.current"),
      read("memory.events"),
      read("memory.peak"),
      read("io.stat"),
      read("pids.current"),
      read("pids.max"),
      read("cgroup.procs"),
    ]);
  const cpu = keyValues(cpuStat);
  const memory = keyValues(memoryStat);
  const usage = toNumber(current);
  const micros = (key: string) => {
    const value = cpu.get(key);
    return value === undefined ? undefined : value / 1e6;
  };
  // `cpu.max` is "max 100000" without a quota, "50000 100000" with one.
  const quota = cpuMax?.trim().split(/\s+/)[0];
  const stats: CgroupStats = {
    ...defined("cpuUsage", micros("usage_usec")),
    ...defined("cpuUser", micros("user_usec")),
    ...defined("cpuSystem", micros("system_usec")),
    ...(quota !== undefined && quota !== "max"
      ? {
        throttling: {
          ...defined("periods", cpu.get("nr_periods")),
          ...defined("throttledPeriods", cpu.get("nr_throttled")),
          ...defined("throttledSeconds", micros("throttled_usec")),
        },
      }
      : {}),
    ...defined("memoryUsage", usage),
    ...defined("memoryWorkingSet", workingSet(usage, memory.get("inactive_file"))),
    ...defined("memoryRss", memory.get("anon")),
    ...defined("memoryCache", memory.get("file")),
    ...defined("memoryMappedFile", memory.get("file_mapped")),
    ...defined("memorySwap", toNumber(swap)),
    ...defined("memoryMaxUsage", toNumber(peak)),
    ...defined("oomKills", keyValues(events).get("oom_kill")),
    io: parseIoStat(io),
    ...defined("threads", toNumber(pids)),
    ...defined("threadsMax", pidsMax?.trim() === "max" ? 0 : toNumber(pidsMax)),
    ...defined("processes", lineCount(procs)),
    pressure: await readPressure(context, dir),
  };
  return stats;
}

async function readPressure(
  context: Pick<CollectContext, "warn">,
  dir: string | undefined,
): Promise<CgroupStats["pressure"]> {
  if (dir === undefined) return {};
  const pressure: CgroupStats["pressure"] = {};
  for (const resource of ["cpu", "memory", "io"] as const) {
    const parsed = parsePressure(
      await readText(context, `${dir}/${resource}.pressure`, { optional: true }),
    );
    if (parsed) pressure[resource] = parsed;
  }
  return pressure;
}

async function readV1(
  context: Pick<CollectContext, "warn">,
  layout: Extract<CgroupLayout, { version: 1 }>,
  path: string,
): Promise<CgroupStats> {
  const read = (controller: V1Controller, file: string) => {
    const root = layout.roots[controller];
    return root === undefined
      ? Promise.resolve(undefined)
      : readText(context, `${root}${path}/${file}`, { optional: true });
  };
  const [
    usageNs,
    cpuacctStat,
    cpuStat,
    quotaUs,
    memoryUsage,
    memoryStat,
    failcnt,
    maxUsage,
    oomControl,
    ioBytes,
    ioOperations,
    pids,
    pidsMax,
    procs,
  ] = await Promise.all([
    read("cpuacct", "cpuacct.usage"),
    read("cpuacct", "cpuacct.stat"),
    read("cpu", "cpu.stat"),
    read("cpu", "cpu.cfs_quota_us"),
    read("memory", "memory.usage_in_bytes"),
    read("memory", "memory.stat"),
    read("memory", "memory.failcnt"),
    read("memory", "memory.max_usage_in_bytes"),
    read("memory", "memory.oom_control"),
    read("blkio", "blkio.throttle.io_service_bytes_recursive"),
    read("blkio", "blkio.throttle.io_serviced_recursive"),
    read("pids", "pids.current"),
    read("pids", "pids.max"),
    read("memory", "cgroup.procs"),
  ]);
  const cpuacct = keyValues(cpuacctStat);
  const cpu = keyValues(cpuStat);
  const memory = keyValues(memoryStat);
  const usage = toNumber(memoryUsage);
  const ticks = (key: string) => {
    const value = cpuacct.get(key);
    return value === undefined ? undefined : value / USER_HZ;
  };
  const quota = toNumber(quotaUs);
  const nanos = toNumber(usageNs);
  const throttled = cpu.get("throttled_time");
  return {
    ...defined("cpuUsage", nanos === undefined ? undefined : nanos / 1e9),
    ...defined("cpuUser", ticks("user")),
    ...defined("cpuSystem", ticks("system")),
    ...(quota !== undefined && quota > 0
      ? {
        throttling: {
          ...defined("periods", cpu.get("nr_periods")),
          ...defined("throttledPeriods", cpu.get("nr_throttled")),
          ...defined("throttledSeconds", throttled === undefined ? undefined : throttled / 1e9),
        },
      }
      : {}),
    ...defined("memoryUsage", usage),
    ...defined("memoryWorkingSet", workingSet(usage, memory.get("total_inactive_file"))),
    ...defined("memoryRss", memory.get("total_rss")),
    ...defined("memoryCache", memory.get("total_cache")),
    ...defined("memoryMappedFile", memory.get("total_mapped_file")),
    // Present only with swap accounting on (`swapaccount=1`).
    ...defined("memorySwap", memory.get("total_swap")),
    ...defined("memoryMaxUsage", toNumber(maxUsage)),
    ...defined("memoryFailcnt", toNumber(failcnt)),
    ...defined("oomKills", keyValues(oomControl).get("oom_kill")),
    io: parseBlkio(ioBytes, ioOperations),
    ...defined("threads", toNumber(pids)),
    ...defined("threadsMax", pidsMax?.trim() === "max" ? 0 : toNumber(pidsMax)),
    ...defined("processes", lineCount(procs)),
    pressure: await readPressure(
      context,
      layout.unified === undefined ? undefined : layout.unified + path,
    ),
  };
}
