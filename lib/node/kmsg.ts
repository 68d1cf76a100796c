/**
 * `kmsg`: the kernel's log (`<dev>/kmsg`), read continuously: OOM kills, segfaults and traps,
 * hung tasks, as counters on `/metrics` and as events for the rest of the agent (a segfault is
 * a crash hint for the core pipeline).
 *
 * ## Reading
 *
 * {@linkcode KernelLog.run} opens the device without blocking (`O_NONBLOCK`: a blocked
 * `read()` could not be interrupted when the daemon stops) and reads every record there is,
 * then again every `node.interval`. Reading starts at the oldest record the kernel still
 * holds (`node:fs` has no seek to the end, and nothing logged between opening and the first
 * read is missed): records older than the start (the backlog, told by their clock against
 * the uptime at the start) count nowhere, since counters that replayed history would jump at
 * every restart of the agent, and are told as `live: false` without a cgroup (their pid may
 * be another process by now).
 * At most `node.kmsgBufferRecords` records are read before they are handled; a burst beyond
 * waits in the kernel's ring. When the ring overwrote records before they were read, the
 * kernel fails the read with `EPIPE` once and goes on at the oldest record left: that is
 * counted (`node_kernel_log_overruns_total`), and so are the records lost, from the gap in
 * sequence numbers (`node_kernel_log_records_lost_total`).
 *
 * Opening needs `CAP_SYSLOG` where `kernel.dmesg_restrict` is 1, and in a container the
 * device itself (a privileged container, or the device allowed): when it cannot be opened
 * the collector says why once and reports itself failed; the rest of the agent goes on.
 *
 * @module
 */
import * as fs from "node:fs";
import { Channel } from "../channel.ts";
import { errorMessage } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { KernelLogStats, NodeCollector } from "./collector.ts";
import {
  type KernelMessage,
  OOM_CONSTRAINTS,
  type OomConstraint,
  parseMessage,
  parseRecord,
} from "./_kmsg.ts";
import { Families, readText, toNumber } from "./_read.ts";

export { OOM_CONSTRAINTS, type OomConstraint } from "./_kmsg.ts";

/**
 * What the log is read through: non-blocking reads of whole records (the device) or of a
 * byte stream (a FIFO standing in for it in tests).
 */
export interface KmsgSource {
  /**
   * Reads into `buffer`: the bytes read, `"again"` when there is nothing now, `"overrun"`
   * when the kernel overwrote records before they were read (`EPIPE`).
   */
  read(buffer: Uint8Array): number | "again" | "overrun";
  close(): void;
}

/** The `node:fs` calls a {@linkcode KmsgSource} makes (tests hand in their own). */
export interface KmsgFs {
  openSync(path: string, flags: number): number;
  readSync(
    fd: number,
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: null,
  ): number;
  closeSync(fd: number): void;
}

/**
 * Opens `path` for non-blocking reads.
 *
 * @throws {Error} with the system's code (`EPERM`, `EACCES`, `ENOENT`) when it cannot.
 */
export function openKmsg(path: string, files: KmsgFs = fs): KmsgSource {
  const fd = files.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  return {
    read(buffer) {
      try {
        const read = files.readSync(fd, buffer, 0, buffer.length, null);
        // End of a FIFO whose writer left: nothing now, as the device would say.
        return read === 0 ? "again" : read;
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === "EAGAIN") return "again";
        if (code === "EPIPE") return "overrun";
        throw error;
      }
    },
    close: () => files.closeSync(fd),
  };
}

/** When a message was logged. */
interface Logged {
  /** When the kernel logged it (boot time plus the record's clock). */
  time: Date;
  /** Logged after the reading started (not the backlog). */
  live: boolean;
}

/** A message of the log, with when it was logged and what could be learned at once. */
export type KernelEvent =
  | (Extract<KernelMessage, { kind: "oom-kill" }> & Logged & {
    constraint: OomConstraint;
    /** The victim's memory cgroup, from the summary line (Linux 4.19+). */
    memcg?: string;
  })
  | (Extract<KernelMessage, { kind: "crash" }> & Logged & {
    /** `/proc/<pid>/cgroup` as read when the record was (the process still dumps core). */
    cgroup?: string;
  })
  | (Extract<KernelMessage, { kind: "hung-task" }> & Logged);

/** Options of {@linkcode KernelLog}. */
export interface KernelLogOptions {
  /** The device, `<node.devPath>/kmsg`. */
  path: string;
  /** `node.procPath`, for the boot time and the crashing processes' cgroups. */
  proc: string;
  /** How often to look for new records (`node.interval`); default 1000 ms. */
  intervalMs?: number;
  /** Most records read before they are handled (`node.kmsgBufferRecords`); default 1024. */
  bufferRecords?: number;
  /** Opens the source; default {@linkcode openKmsg}. */
  open?: (path: string) => KmsgSource;
  /** Microseconds since boot now; default from `<proc>/uptime`. */
  uptimeUs?: () => Promise<number>;
  /** Milliseconds since the epoch now; default `Date.now`. */
  now?: () => number;
  log?: Pick<Logger, "info" | "warn">;
}

/** A partial line longer than this is no record: it is dropped. */
const MAX_CARRY = 64 << 10;
/** The kernel's records are at most 8 KiB with their dictionary (CONSOLE_EXT_LOG_MAX). */
const READ_BYTES = 16 << 10;

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Why a device cannot be opened, in one line. */
function openProblem(path: string, error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === "EPERM" || code === "EACCES") {
    return `Cannot read "${path}": permission denied (needs CAP_SYSLOG, and the device in a container)`;
  }
  if (code === "ENOENT") return `Cannot read "${path}": no such device`;
  return `Cannot read "${path}": ${errorMessage(error)}`;
}

/**
 * The kernel log, read continuously while {@linkcode run} runs; its counts in
 * {@linkcode stats}, its messages on {@linkcode events}.
 *
 * @example Usage
 * ```ts ignore
 * const kernel = new KernelLog({ path: "/dev/kmsg", proc: "/proc" });
 * kernel.events.subscribe((event) => console.log(event.kind, event.comm));
 * await kernel.run(signal);
 * ```
 */
export class KernelLog {
  /** Every OOM kill, crash and hung task, backlog included (`live` tells them apart). */
  readonly events: Channel<KernelEvent>;
  readonly #options: KernelLogOptions;
  #stats: KernelLogStats = {
    records: 0,
    lost: 0,
    overruns: 0,
    oomKills: Object.fromEntries(OOM_CONSTRAINTS.map((c) => [c, 0])) as Record<
      OomConstraint,
      number
    >,
    segfaults: 0,
    hungTasks: 0,
  };
  #unavailable: string | undefined;
  #reading = false;
  #lastSeq: number | undefined;
  /** The summary of the OOM kill being logged: its kill line follows. */
  #summary: Extract<KernelMessage, { kind: "oom-summary" }> | undefined;

  /** Creates the reader; nothing is read until {@linkcode run}. */
  constructor(options: KernelLogOptions) {
    this.#options = options;
    this.events = new Channel<KernelEvent>((error) =>
      options.log?.warn("a kernel log subscriber failed", { error: errorMessage(error) })
    );
  }

  /** Counts since the reading started. */
  stats(): KernelLogStats {
    return { ...this.#stats, oomKills: { ...this.#stats.oomKills } };
  }

  /** Why the log cannot be read, once an attempt failed. */
  unavailable(): string | undefined {
    return this.#unavailable;
  }

  /** Whether the log is being read now. */
  reading(): boolean {
    return this.#reading;
  }

  /**
   * Reads until `signal` aborts. Resolves at once when the device cannot be opened
   * ({@linkcode unavailable} then says why; logged once).
   *
   * @throws {Error} when a read fails otherwise; the caller may run it again.
   */
  async run(signal: AbortSignal): Promise<void> {
    const options = this.#options;
    const unavailable = (problem: string) => {
      if (this.#unavailable === undefined) {
        options.log?.warn("kernel log unavailable: OOM kills and segfaults are not counted", {
          reason: problem,
        });
      }
      this.#unavailable = problem;
    };
    // The clock first: records logged between it and the opening are after it, so counted.
    const now = options.now ?? Date.now;
    let startUs: number;
    try {
      startUs = await (options.uptimeUs ?? (() => uptimeUs(options.proc)))();
    } catch (error) {
      return unavailable(
        `Cannot read "${options.proc}/uptime": ${errorMessage(error)} (records cannot be dated)`,
      );
    }
    let source: KmsgSource;
    try {
      source = (options.open ?? openKmsg)(options.path);
    } catch (error) {
      return unavailable(openProblem(options.path, error));
    }
    this.#unavailable = undefined;
    const bootMs = now() - startUs / 1000;
    const limit = options.bufferRecords ?? 1024;
    const buffer = new Uint8Array(READ_BYTES);
    const decoder = new TextDecoder();
    let carry = "";
    let backlog = true;
    this.#reading = true;
    try {
      while (!signal.aborted) {
        const lines: string[] = [];
        let records = 0;
        let drained = false;
        while (records < limit) {
          const got = source.read(buffer);
          if (got === "again") {
            drained = true;
            break;
          }
          if (got === "overrun") {
            this.#stats.overruns++;
            continue;
          }
          carry += decoder.decode(buffer.subarray(0, got), { stream: true });
          const parts = carry.split("\n");
          carry = parts.pop()!;
          if (carry.length > MAX_CARRY) carry = "";
          for (const part of parts) {
            lines.push(part);
            if (!part.startsWith(" ")) records++;
          }
        }
        for (const line of lines) await this.#handle(line, backlog, startUs, bootMs);
        if (drained) {
          backlog = false;
          await abortableSleep(options.intervalMs ?? 1000, signal);
        } else {
          // More is waiting: let the daemon's other work run between batches.
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      }
    } finally {
      this.#reading = false;
      source.close();
    }
  }

  async #handle(line: string, backlog: boolean, startUs: number, bootMs: number): Promise<void> {
    const record = parseRecord(line);
    if (!record) return;
    const last = this.#lastSeq;
    if (last !== undefined && record.seq > last + 1) this.#stats.lost += record.seq - last - 1;
    this.#lastSeq = record.seq;
    this.#stats.records++;
    if (record.facility !== 0) return;
    const message = parseMessage(record.message);
    if (!message) return;
    const time = new Date(bootMs + record.usec / 1000);
    // Records read before the first pause are history, unless they were logged after the
    // start (the clock of the record against the uptime at the start).
    const live = !backlog || record.usec >= startUs;
    switch (message.kind) {
      case "oom-summary":
        this.#summary = message;
        return;
      case "oom-kill": {
        const summary = this.#summary?.pid === message.pid ? this.#summary : undefined;
        this.#summary = undefined;
        const constraint = summary?.constraint ?? (message.cgroupLimit ? "memcg" : "none");
        if (live) this.#stats.oomKills[constraint]++;
        this.events.publish({
          ...message,
          time,
          live,
          constraint,
          ...(summary?.memcg ? { memcg: summary.memcg } : {}),
        });
        return;
      }
      case "crash": {
        if (live && message.what === "segfault") this.#stats.segfaults++;
        // Only a live record's pid is still the crashing process (it is dumping core now).
        const cgroup = live
          ? await readText({ warn() {} }, `${this.#options.proc}/${message.pid}/cgroup`, {
            optional: true,
          })
          : undefined;
        this.events.publish({ ...message, time, live, ...(cgroup ? { cgroup } : {}) });
        return;
      }
      case "hung-task":
        if (live) this.#stats.hungTasks++;
        this.events.publish({ ...message, time, live });
        return;
    }
  }
}

/** Microseconds since boot, from `<proc>/uptime` (10 ms resolution). */
async function uptimeUs(proc: string): Promise<number> {
  const text = await Deno.readTextFile(`${proc}/uptime`);
  const seconds = toNumber(text.trim().split(/\s+/)[0]);
  if (seconds === undefined) throw new Error("not a number");
  return seconds * 1e6;
}

/** node_kernel_* counters of a running {@linkcode KernelLog} (the daemon's). */
export const kmsgCollector: NodeCollector = {
  name: "kmsg",
  description: "OOM kills, segfaults and hung tasks from the kernel log (/dev/kmsg)",
  capabilities: { reads: ["dev/kmsg"], privilege: "CAP_SYSLOG" },
  collect(context) {
    const kernel = context.kernelLog;
    if (kernel === undefined) {
      throw new Error("The kernel log is read by the daemon only (continuously)");
    }
    const unavailable = kernel.unavailable();
    if (unavailable !== undefined) throw new Error(unavailable);
    const stats = kernel.stats();
    const out = new Families();
    for (const constraint of OOM_CONSTRAINTS) {
      out.add(
        "node_kernel_oom_kills_total",
        "Processes the kernel's OOM killer killed, by how the victim was chosen (memcg: a cgroup's limit).",
        "counter",
        stats.oomKills[constraint],
        { constraint },
      );
    }
    out.add(
      "node_kernel_segfaults_total",
      "Segmentation faults the kernel logged.",
      "counter",
      stats.segfaults,
    );
    out.add(
      "node_kernel_hung_tasks_total",
      "Tasks the kernel logged as blocked for too long (hung_task_timeout_secs).",
      "counter",
      stats.hungTasks,
    );
    out.add(
      "node_kernel_log_records_total",
      "Kernel log records read.",
      "counter",
      stats.records,
    );
    out.add(
      "node_kernel_log_records_lost_total",
      "Kernel log records overwritten before they were read.",
      "counter",
      stats.lost,
    );
    out.add(
      "node_kernel_log_overruns_total",
      "Reads the kernel failed because its ring overwrote unread records (EPIPE).",
      "counter",
      stats.overruns,
    );
    return Promise.resolve(out.list());
  },
};
