/**
 * `processes`: every process of `/proc/PID/stat`, as node_exporter's processes collector
 * counts them (`node_processes_state{state}`, `node_processes_threads`,
 * `node_processes_threads_state{thread_state}`, `node_processes_pids`, the limits), and the
 * heaviest of them by name: the `node.topProcesses` that used the most CPU since the last
 * collection (the most in all on the first), and as many by resident memory, each as
 * `agent_process_cpu_seconds_total` and `agent_process_resident_memory_bytes` with
 * `{pid, comm, namespace, pod, container, pod_uid, container_id}`. The pod and container come
 * from the process's cgroup path when it is a kubepods one; their names from the kubelet's
 * log directories under `node.rootfsPath`, else empty.
 *
 * `cmdline` is not read: it can hold credentials (`--password=`), and as a label it would
 * make every restart a new series. `comm` (the kernel's 15-character name) is what `top`
 * shows.
 *
 * Cost: one small read per process, plus one per thread of the processes that have several
 * (for the thread states, as node_exporter does). These are read synchronously: they are
 * generated from memory, never wait on a disk, and an asynchronous read costs twice the CPU
 * (a hop to Deno's blocking pool each): measured 13 µs against 25 µs per file on this
 * project's CI host. bench/node.ts compares a collection with node_exporter's.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import type { CollectContext, NodeCollector } from "./collector.ts";
import { USER_HZ } from "./cpu.ts";
import { parseKubepodsCgroup, type PodNames, readPodNames } from "./_kubepods.ts";
import { Families, pageSize, readTextNow, toNumber } from "./_read.ts";

/** What `/proc/PID/stat` says of a process (or thread). */
export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  /** utime + stime, in USER_HZ ticks. */
  ticks: number;
  threads: number;
  /** When it started, in ticks after boot: tells a reused PID from the process before. */
  start: number;
  /** Resident pages. */
  rss: number;
}

/**
 * Parses `/proc/PID/stat`: `PID (COMM) STATE PPID ...`, where COMM may hold spaces and
 * parentheses (the last `)` ends it).
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const fields = text.slice(close + 2).split(" ");
  const number = (index: number) => toNumber(fields[index]);
  const [pid, utime, stime, threads, start, rss] = [
    toNumber(text.slice(0, open).trim()),
    number(11),
    number(12),
    number(17),
    number(19),
    number(21),
  ];
  if (
    pid === undefined || fields[0] === undefined || utime === undefined || stime === undefined ||
    threads === undefined || start === undefined || rss === undefined
  ) {
    return undefined;
  }
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: fields[0],
    ticks: utime + stime,
    threads,
    start,
    rss,
  };
}

/** Creates the collector, with its own memory of the previous collection's CPU times. */
export function createProcessesCollector(): NodeCollector {
  /** PID to its start time and CPU ticks at the previous collection: as many as processes. */
  let previous = new Map<number, { start: number; ticks: number }>();
  return {
    name: "processes",
    description: "processes and threads by state; the top processes by CPU and memory (/proc/PID)",
    capabilities: {
      reads: [
        "proc/PID/stat",
        "proc/PID/task/TID/stat",
        "proc/PID/cgroup",
        "proc/sys/kernel/pid_max",
        "proc/sys/kernel/threads-max",
        "rootfs/var/log/pods",
        "rootfs/var/log/containers",
      ],
      optional: ["rootfs/var/log/pods", "rootfs/var/log/containers"],
      privilege: "the host's PID namespace in /proc (the DaemonSet's /host/proc)",
    },
    async collect(context) {
      const { proc } = context.paths;
      let names: string[];
      try {
        names = [...Deno.readDirSync(proc)].map((e) => e.name).filter((n) => /^\d+$/.test(n));
      } catch (error) {
        throw new Error(`cannot list ${proc}: ${errorMessage(error)}`);
      }
      const processes: ProcStat[] = [];
      const states = new Map<string, number>();
      const threadStates = new Map<string, number>();
      let threads = 0;
      for (const name of names) {
        const stat = readStat(context, `${proc}/${name}/stat`);
        if (!stat) continue;
        processes.push(stat);
        states.set(stat.state, (states.get(stat.state) ?? 0) + 1);
        threads += stat.threads;
        countThreads(context, stat, threadStates);
      }
      const out = new Families();
      out.add("node_processes_threads", "Allocated threads in system", "gauge", threads);
      for (const [state, count] of states) {
        out.add("node_processes_state", "Number of processes in each state.", "gauge", count, {
          state,
        });
      }
      for (const [state, count] of threadStates) {
        out.add(
          "node_processes_threads_state",
          "Number of threads in each state.",
          "gauge",
          count,
          { thread_state: state },
        );
      }
      out.add("node_processes_pids", "Number of PIDs", "gauge", processes.length);
      for (
        const [file, name, help] of [
          ["threads-max", "node_processes_max_threads", "Limit of threads in the system"],
          ["pid_max", "node_processes_max_processes", "Number of max PIDs limit"],
        ] as const
      ) {
        const path = `${proc}/sys/kernel/${file}`;
        const value = toNumber(readTextNow(context, path));
        if (value !== undefined) out.add(name, help, "gauge", value);
      }
      const top = topProcesses(processes, previous, context.options.topProcesses);
      previous = new Map(processes.map((p) => [p.pid, { start: p.start, ticks: p.ticks }]));
      await addTop(context, out, top);
      return out.list();
    },
  };
}

/**
 * The `n` processes that used the most CPU since `previous` (a process not in it, or whose PID
 * was reused, counts from its start), then the `n` with the most resident memory not already
 * chosen.
 */
export function topProcesses(
  processes: readonly ProcStat[],
  previous: ReadonlyMap<number, { start: number; ticks: number }>,
  n: number,
): ProcStat[] {
  if (n <= 0) return [];
  const used = (p: ProcStat) => {
    const before = previous.get(p.pid);
    return before && before.start === p.start ? p.ticks - before.ticks : p.ticks;
  };
  const byCpu = [...processes].sort((a, b) =>
    used(b) - used(a) || b.ticks - a.ticks || a.pid - b.pid
  ).slice(0, n);
  const chosen = new Set(byCpu.map((p) => p.pid));
  const byRss = [...processes].filter((p) => !chosen.has(p.pid))
    .sort((a, b) => b.rss - a.rss || a.pid - b.pid).slice(0, n);
  return [...byCpu, ...byRss];
}

async function addTop(context: CollectContext, out: Families, top: ProcStat[]): Promise<void> {
  const refs = top.map((p) => {
    try {
      return parseKubepodsCgroup(Deno.readTextFileSync(`${context.paths.proc}/${p.pid}/cgroup`));
    } catch {
      // Gone since its stat was read: no pod to name.
      return undefined;
    }
  });
  let names: PodNames | undefined;
  if (refs.some((ref) => ref !== undefined)) names = await readPodNames(context.paths.rootfs);
  const page = pageSize();
  top.forEach((process, index) => {
    const ref = refs[index];
    const pod = ref ? names?.pods.get(ref.podUid) : undefined;
    const labels = {
      pid: String(process.pid),
      comm: process.comm,
      namespace: pod?.namespace ?? "",
      pod: pod?.pod ?? "",
      container: ref ? names?.containers.get(ref.containerId) ?? "" : "",
      pod_uid: ref?.podUid ?? "",
      container_id: ref?.containerId ?? "",
    };
    out.add(
      "agent_process_cpu_seconds_total",
      "CPU time (user and system) of the node's top processes by CPU and by memory.",
      "counter",
      process.ticks / USER_HZ,
      labels,
    );
    out.add(
      "agent_process_resident_memory_bytes",
      "Resident memory of the node's top processes by CPU and by memory.",
      "gauge",
      process.rss * page,
      labels,
    );
  });
}

/** A process's or thread's stat; `undefined` when it is gone (quietly) or unreadable. */
function readStat(context: CollectContext, path: string): ProcStat | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    // Processes end between the listing and the read (ENOENT, or ESRCH mid-exit).
    if (!(error instanceof Deno.errors.NotFound) && !/os error 3\)/.test(errorMessage(error))) {
      context.warn(`${context.paths.proc}/PID/stat`, errorMessage(error));
    }
    return undefined;
  }
  const stat = parseProcStat(text);
  if (!stat) context.warn(`${context.paths.proc}/PID/stat`, `malformed "${text.slice(0, 80)}"`);
  return stat;
}

/** Adds the states of `process`'s threads: its own state when it has one thread. */
function countThreads(
  context: CollectContext,
  process: ProcStat,
  states: Map<string, number>,
): void {
  const add = (state: string) => states.set(state, (states.get(state) ?? 0) + 1);
  if (process.threads <= 1) return void add(process.state);
  let tids: string[];
  try {
    tids = [...Deno.readDirSync(`${context.paths.proc}/${process.pid}/task`)].map((e) => e.name);
  } catch {
    return;
  }
  for (const tid of tids) {
    if (tid === String(process.pid)) {
      add(process.state);
      continue;
    }
    const thread = readStat(context, `${context.paths.proc}/${process.pid}/task/${tid}/stat`);
    if (thread) add(thread.state);
  }
}
