/**
 * What the kernel logged about crashing processes (segfaults, traps), for core correlation:
 * the daemon's node feature records each line from `/dev/kmsg`, with the process's cgroup
 * when it could still be read (a process is alive while it dumps core); the core pipeline
 * asks for the crash that made a core (same pid, or same process name, near the core's
 * time). A core written to a directory (not piped) carries no cgroup of its own: the kernel's
 * line is then what ties it to its pod.
 *
 * @module
 */

/** Pod UID and container id found in a cgroup path. */
export interface CgroupIds {
  podUid?: string;
  containerId?: string;
}

/** One crash the kernel logged. */
export interface KernelCrash {
  /** When the kernel logged it. */
  time: Date;
  /** The process id in the host's namespace. */
  pid: number;
  /** The process name (the kernel's comm, at most 15 bytes). */
  comm: string;
  /** `segfault` or `trap`. */
  what: "segfault" | "trap";
  /** Pod and container from the process's cgroup, when it was read in time. */
  cgroup?: CgroupIds;
  /** The kernel's line, cut short. */
  line: string;
}

/** The crash a core was tied to, and how. */
export interface KernelCrashMatch {
  crash: KernelCrash;
  /**
   * `pid`: the core's pid is the logged one (the same pid namespace, or `%P`); `comm`: only
   * the name and the time agree (a container has pids of its own), and no other crash of a
   * different pod does.
   */
  by: "pid" | "comm";
}

/** The read side, as the core pipeline sees it. */
export interface KernelCrashReader {
  /**
   * The logged crash that made a core of `pid`/`comm` at `time`, within `windowMs`; none
   * when there is none, or several that name different pods.
   */
  find(
    facts: { pid?: number; comm?: string; time: Date },
    windowMs: number,
  ): KernelCrashMatch | undefined;
}

/** comm is cut to 15 bytes by the kernel; a core's name may be the whole one. */
function sameComm(logged: string, comm: string): boolean {
  return logged === comm || (logged.length >= 15 && comm.startsWith(logged));
}

/**
 * The last `max` crashes the kernel logged.
 *
 * @example Usage
 * ```ts
 * const crashes = new KernelCrashes();
 * crashes.record({ time: new Date(), pid: 42, comm: "querynode", what: "segfault", line: "..." });
 * crashes.find({ comm: "querynode", time: new Date() }, 60_000)?.by; // "comm"
 * ```
 */
export class KernelCrashes implements KernelCrashReader {
  readonly #crashes: KernelCrash[] = [];

  /** Keeps the last `max` crashes. */
  constructor(readonly max = 256) {}

  /** Records a crash, forgetting the oldest beyond `max`. */
  record(crash: KernelCrash): void {
    this.#crashes.push(crash);
    if (this.#crashes.length > this.max) {
      this.#crashes.splice(0, this.#crashes.length - this.max);
    }
  }

  /** The crashes kept, oldest first. */
  recent(): readonly KernelCrash[] {
    return this.#crashes;
  }

  find(
    facts: { pid?: number; comm?: string; time: Date },
    windowMs: number,
  ): KernelCrashMatch | undefined {
    // A crash whose cgroup was not read names no pod: it can tie a core to none.
    const near = this.#crashes.filter((c) =>
      c.cgroup?.podUid !== undefined &&
      Math.abs(c.time.getTime() - facts.time.getTime()) <= windowMs
    );
    const closest = (list: KernelCrash[]) =>
      list.reduce((a, b) =>
        Math.abs(b.time.getTime() - facts.time.getTime()) <
            Math.abs(a.time.getTime() - facts.time.getTime())
          ? b
          : a
      );
    if (facts.pid !== undefined) {
      const byPid = near.filter((c) =>
        c.pid === facts.pid && (facts.comm === undefined || sameComm(c.comm, facts.comm))
      );
      if (byPid.length > 0) return { crash: closest(byPid), by: "pid" };
    }
    if (facts.comm === undefined) return undefined;
    const byComm = near.filter((c) => sameComm(c.comm, facts.comm!));
    if (byComm.length === 0) return undefined;
    // The same program crashing in two pods near the same time: no guess.
    const pods = new Set(byComm.map((c) => c.cgroup!.podUid));
    if (pods.size > 1) return undefined;
    return { crash: closest(byComm), by: "comm" };
  }
}
