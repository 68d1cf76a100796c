/**
 * Reading the kernel's log records (`/dev/kmsg`, Documentation/ABI/testing/dev-kmsg) and the
 * few messages the agent acts on: OOM kills, segfaults and traps, hung tasks.
 *
 * A record is `PRI,SEQ,TS_USEC,FLAGS[,...];MESSAGE` on one line (the kernel escapes newlines
 * and other unprintable bytes as `\xNN`), then optional dictionary lines that start with a
 * space. Only facility 0 is the kernel: a process that writes to `/dev/kmsg` gets facility 1
 * or more whatever it asks for, so a forged "segfault" line is never taken for the kernel's.
 *
 * @module
 */

/** One record's header and text. */
export interface KmsgRecord {
  /** `PRI >> 3`: 0 for the kernel. */
  facility: number;
  /** `PRI & 7`: 0 emergency ... 7 debug. */
  level: number;
  /** The record's sequence number; a gap means records were overwritten before being read. */
  seq: number;
  /** Microseconds since boot (the kernel's monotonic clock). */
  usec: number;
  message: string;
}

/** Parses a record's first line; undefined for a dictionary line or anything else. */
export function parseRecord(line: string): KmsgRecord | undefined {
  const match = /^(\d+),(\d+),(\d+),[^;]*;(.*)$/.exec(line);
  if (!match) return undefined;
  const pri = Number(match[1]);
  return {
    facility: pri >> 3,
    level: pri & 7,
    seq: Number(match[2]),
    usec: Number(match[3]),
    message: match[4]!,
  };
}

/** How the kernel chose the OOM victim (`oom-kill:constraint=CONSTRAINT_...`). */
export type OomConstraint = "none" | "cpuset" | "memory_policy" | "memcg";

/** Every constraint, for counters that start at 0. */
export const OOM_CONSTRAINTS: readonly OomConstraint[] = [
  "none",
  "cpuset",
  "memory_policy",
  "memcg",
];

/** A message the agent acts on. */
export type KernelMessage =
  | {
    /** The summary line (Linux 4.19+) that comes before the kill: who and which cgroup. */
    kind: "oom-summary";
    constraint: OomConstraint;
    pid: number;
    comm: string;
    /** The victim's memory cgroup, `/kubepods/burstable/pod<uid>/<id>`. */
    memcg: string;
  }
  | {
    kind: "oom-kill";
    pid: number;
    comm: string;
    /** From the line's prefix: `Memory cgroup out of memory` is a cgroup's limit. */
    cgroupLimit: boolean;
  }
  | {
    /** `segfault at ...` (SIGSEGV) or a trap (`traps: ... divide error`, SIGFPE/SIGILL/SIGSEGV). */
    kind: "crash";
    what: "segfault" | "trap";
    pid: number;
    comm: string;
    /** The faulting address (segfaults), instruction and stack pointers, as printed. */
    address?: string;
    ip?: string;
    sp?: string;
    /** The mapping that faulted (`libc.so.6`), when the kernel names one. */
    object?: string;
    /** The message, at most 300 characters. */
    text: string;
  }
  | { kind: "hung-task"; pid: number; comm: string; seconds: number };

const CONSTRAINTS: Record<string, OomConstraint> = {
  CONSTRAINT_NONE: "none",
  CONSTRAINT_CPUSET: "cpuset",
  CONSTRAINT_MEMORY_POLICY: "memory_policy",
  CONSTRAINT_MEMCG: "memcg",
};

function field(text: string, key: string): string | undefined {
  return new RegExp(`(?:^|,)${key}=([^,]*)`).exec(text)?.[1];
}

/**
 * Recognizes the messages the agent acts on, from the kernel's formats of `mm/oom_kill.c`,
 * `arch/x86/mm/fault.c`, `arch/x86/kernel/traps.c` and `kernel/hung_task.c`.
 */
export function parseMessage(message: string): KernelMessage | undefined {
  if (message.startsWith("oom-kill:")) {
    const rest = message.slice("oom-kill:".length);
    const pid = Number(field(rest, "pid"));
    if (!Number.isInteger(pid)) return undefined;
    return {
      kind: "oom-summary",
      constraint: CONSTRAINTS[field(rest, "constraint") ?? ""] ?? "none",
      pid,
      comm: field(rest, "task") ?? "",
      memcg: field(rest, "task_memcg") ?? "",
    };
  }
  // Older kernels print "...: Kill process N (x) score S or sacrifice child" and then a bare
  // "Killed process N (x) total-vm...": only the "Killed" line counts, whatever its prefix; the
  // choice line says whose limit it was, as the summary line of newer kernels does.
  const chosen = /^(Memory cgroup out of memory|Out of memory): Kill process (\d+) \((.*?)\) score/
    .exec(message);
  if (chosen) {
    return {
      kind: "oom-summary",
      constraint: chosen[1] === "Memory cgroup out of memory" ? "memcg" : "none",
      pid: Number(chosen[2]),
      comm: chosen[3]!,
      memcg: "",
    };
  }
  const killed =
    /^(?:(Memory cgroup out of memory|Out of memory)(?: \([^)]*\))?: )?Killed process (\d+) \((.*?)\) (?:total-vm|UID)/
      .exec(message);
  if (killed) {
    return {
      kind: "oom-kill",
      pid: Number(killed[2]),
      comm: killed[3]!,
      cgroupLimit: killed[1] === "Memory cgroup out of memory",
    };
  }
  const segfault =
    /^(.+)\[(\d+)\]: segfault at ([0-9a-f]+) ip ([0-9a-f]+) sp ([0-9a-f]+) error (\d+)(?: in ([^[]+)\[)?/
      .exec(message);
  if (segfault) {
    return {
      kind: "crash",
      what: "segfault",
      pid: Number(segfault[2]),
      comm: segfault[1]!,
      address: segfault[3]!,
      ip: segfault[4]!,
      sp: segfault[5]!,
      ...(segfault[7] ? { object: segfault[7].trim() } : {}),
      text: message.slice(0, 300),
    };
  }
  const trap = /^traps: (.+)\[(\d+)\] (?:trap )?(.+?) ip:([0-9a-f]+) sp:([0-9a-f]+)/.exec(
    message,
  );
  if (trap) {
    return {
      kind: "crash",
      what: "trap",
      pid: Number(trap[2]),
      comm: trap[1]!,
      ip: trap[4]!,
      sp: trap[5]!,
      text: message.slice(0, 300),
    };
  }
  const hung = /^INFO: task (.+):(\d+) blocked for more than (\d+) seconds\./.exec(message);
  if (hung) {
    return { kind: "hung-task", pid: Number(hung[2]), comm: hung[1]!, seconds: Number(hung[3]) };
  }
  return undefined;
}
