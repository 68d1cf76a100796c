/**
 * What a node collector is, node_exporter's way: one source of the host (a file under
 * `/proc`, a tree under `/sys`, a program), read when asked, turned into metric families
 * with the names Prometheus users know. A missing or malformed file degrades that collector
 * only: it says so once (one warning naming the file) and returns what it could read; a bad
 * line costs only that line's values.
 *
 * @module
 */
import type { MetricFamily } from "../prom/mod.ts";
import type { Runner } from "../run.ts";
import type { OomConstraint } from "./_kmsg.ts";

/** Where the host's trees are: the DaemonSet mounts them read-only elsewhere. */
export interface NodePaths {
  /** `/proc` (`node.procPath`, `HOST_PROC`). */
  proc: string;
  /** `/sys` (`node.sysPath`, `HOST_SYS`). */
  sys: string;
  /** `/dev` (`node.devPath`, `HOST_DEV`). */
  dev: string;
  /** The host's root filesystem, `/` (`node.rootfsPath`, `HOST_ROOT`). */
  rootfs: string;
}

/** What a collector needs to run, for `agent stats --help` and the docs. */
export interface Capabilities {
  /** Files or directories it reads, relative to the paths (`proc/stat`, `sys/block`). */
  reads: readonly string[];
  /** Of those, the ones a kernel may not have (the collector does without). */
  optional?: readonly string[];
  /** Needs root or a capability (`CAP_SYSLOG` for /dev/kmsg). */
  privilege?: string;
  /** The oldest kernel with its sources, e.g. "4.20" for pressure stall information. */
  minKernel?: string;
}

/** What the configuration tunes in the collectors (`node.*`). */
export interface NodeOptions {
  /** Processes exported by CPU use and, as many again, by memory (`node.topProcesses`). */
  topProcesses: number;
  /** The `/proc/cpuinfo` flags exported as `node_cpu_flag_info{flag}` (`node.cpuFlags`). */
  cpuFlags: readonly string[];
}

/** Counts since the reading started (the backlog never counts). */
export interface KernelLogStats {
  /** Records read. */
  records: number;
  /** Records overwritten before they were read (gaps in sequence numbers). */
  lost: number;
  /** Reads the kernel failed with `EPIPE`. */
  overruns: number;
  oomKills: Record<OomConstraint, number>;
  segfaults: number;
  hungTasks: number;
}

/** A container (or pod sandbox) as the CRI runtime names it, for cAdvisor's labels. */
export interface ContainerIdentity {
  /** The container's name in its pod; `""` for a sandbox (the pause container). */
  container: string;
  pod: string;
  namespace: string;
  podUid: string;
  /** The image by name, `""` when unknown. */
  image: string;
  /** Its pod sandbox's id (its own for a sandbox). */
  sandboxId: string;
  /** The sandbox's runtime handler (`kata`...; empty for the runtime's default). */
  runtimeHandler: string;
}

/** Who runs in the node's containers (the CRI runtime's `ContainerMetadataCache`). */
export interface ContainerDirectory {
  /** The container or sandbox with this id, if known. */
  container(id: string): ContainerIdentity | undefined;
  /** The pod with this uid, if known. */
  pod(uid: string): { name: string; namespace: string; runtimeHandler: string } | undefined;
  /** Tells which container ids have cgroups now; unknown ones make it ask the runtime. */
  notice(ids: Iterable<string>): void;
}

/** What the daemon hands collectors beyond the host's trees; each is optional. */
export interface CollectServices {
  /** Names pods and containers; without it the cgroups collector's labels stay empty. */
  containers?: ContainerDirectory;
  /**
   * Kata's sandbox directories (`kata.sandboxRoots`) when the daemon serves Kata's
   * cAdvisor-style series: the cgroups of those sandboxes are left to it.
   */
  kataSandboxRoots?: readonly string[];
  /** The daemon's running kernel log reader (`KernelLog`), for the kmsg collector. */
  kernelLog?: { stats(): KernelLogStats; unavailable(): string | undefined };
  /** Runs programs (`nvidia-smi`); default `runCommand`. */
  run?: Runner;
  /** How long a program may run, in milliseconds; default 5000. */
  commandTimeoutMs?: number;
  /** `nvidia-smi`'s path; default `nvidia-smi` on PATH. */
  nvidiaSmi?: string;
}

/** What a collector reads with, and where it reports problems. */
export interface CollectContext extends CollectServices {
  paths: NodePaths;
  options: NodeOptions;
  /** Runs a program (the filesystem collector's `stat -f`); tests pass their own. */
  run: Runner;
  /**
   * Reports a problem with a source (missing, unreadable, a malformed line); the caller
   * logs each distinct problem once.
   */
  warn(source: string, reason: string): void;
}

/**
 * One collector. A collector may keep what it needs from one collection to the next (the
 * processes' previous CPU times, the mount points that hung), bounded by what the host has
 * now: collectors that do are made by a factory, so that each user (the daemon, `agent
 * stats`, a test) has its own.
 */
export interface NodeCollector {
  /** Its name in `node.collectors`, `agent stats` and `node_scrape_collector_*{collector}`. */
  readonly name: string;
  /** One line for `agent stats --help`. */
  readonly description: string;
  readonly capabilities: Capabilities;
  /**
   * Reads its sources now. Throws only when it has nothing at all to report (its one source
   * is missing): the scrape then counts it failed (`node_scrape_collector_success` 0).
   */
  collect(context: CollectContext): Promise<MetricFamily[]>;
}
