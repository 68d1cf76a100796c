/**
 * One pass of the process watch over a `/proc`: every process is read once (its names, users,
 * cgroup, network namespace) and checked against the patterns; descriptors are read only
 * where a pattern needs them (the standard input and output of a shell; every descriptor of
 * the processes of a network namespace holding a connection to a pool port, to find whose it
 * is). Reading other users' descriptors takes `CAP_SYS_PTRACE`; without it those checks say
 * so once (`warn`) and the others still run.
 *
 * @module
 */
import { parseCgroup } from "../collect/mod.ts";
import type { Pattern } from "./patterns.ts";
import { parseTcpTable, readHead, readIds, readLink, type TcpSocket } from "./_proc.ts";

/** A process as the watch saw it. */
export interface ProcessInfo {
  pid: number;
  comm: string;
  /** The executable's path, or "" when it cannot be read. */
  exe: string;
  /** The command line, arguments joined by spaces, at most 1024 characters. */
  cmdline: string;
  ppid: number;
  start: number;
  realUid: number;
  effectiveUid: number;
  podUid?: string;
  containerId?: string;
}

/** A process that matches a pattern. */
export interface Finding {
  pattern: Pattern;
  process: ProcessInfo;
  /** What matched, in words: `comm "xmrig"`, `connected to 10.0.0.9:3333`. */
  detail: string;
}

/** Options of {@linkcode scanProcesses}. */
export interface ScanOptions {
  /** Where `/proc` is (`node.procPath`). */
  proc: string;
  patterns: readonly Pattern[];
  /** Reports a problem with a source once per scan (a permission, an unreadable table). */
  warn(source: string, reason: string): void;
  /** Descriptors read per process at most (default 4096). */
  maxFds?: number;
}

const SUSPICIOUS_STATES = new Set([1, 2]);

function compile(source: string | undefined): RegExp | undefined {
  return source === undefined ? undefined : new RegExp(source, "i");
}

/** Processes matching `patterns` in `/proc` now. */
export async function scanProcesses(options: ScanOptions): Promise<Finding[]> {
  const { proc, patterns, warn } = options;
  const maxFds = options.maxFds ?? 4096;
  const findings: Finding[] = [];
  const byName = patterns.filter((p) => p.kind === "process").map((p) => ({
    pattern: p,
    comm: compile(p.comm),
    exe: compile(p.exe),
    cmdline: compile(p.cmdline),
  }));
  const stdio = patterns.filter((p) => p.kind === "socket-stdio").map((p) => ({
    pattern: p,
    comm: new RegExp(p.comm, "i"),
  }));
  const setuid = patterns.filter((p) => p.kind === "setuid");
  const connections = patterns.filter((p) => p.kind === "connection");
  const poolPorts = new Set(connections.flatMap((p) => p.remotePorts));

  /** The TCP tables of each network namespace, read once per scan through its first pid. */
  const tables = new Map<string, Promise<Map<number, TcpSocket>>>();
  const tableOf = (netns: string, pid: number) => {
    let table = tables.get(netns);
    if (!table) {
      table = Promise.all(["tcp", "tcp6"].map((t) => readHead(`${proc}/${pid}/net/${t}`, 1 << 22)))
        .then((texts) => {
          const merged = new Map<number, TcpSocket>();
          for (const text of texts) {
            if (text !== undefined) { for (const [k, v] of parseTcpTable(text)) merged.set(k, v); }
          }
          return merged;
        });
      tables.set(netns, table);
    }
    return table;
  };
  const socketInode = (target: string | undefined) => {
    const m = /^socket:\[(\d+)\]$/.exec(target ?? "");
    return m ? Number(m[1]) : undefined;
  };

  const processes: (ProcessInfo & { netns: string })[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(proc));
  } catch (error) {
    warn(proc, (error as Error).message);
    return [];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    const dir = `${proc}/${pid}`;
    const ids = await readIds(dir);
    // Gone, or a kernel thread (a child of kthreadd): nothing of a workload.
    if (!ids || pid === 2 || ids.ppid === 2) continue;
    const [cmdline, cgroup, exe, netns] = await Promise.all([
      readHead(`${dir}/cmdline`, 1024),
      readHead(`${dir}/cgroup`),
      readLink(`${dir}/exe`),
      readLink(`${dir}/ns/net`),
    ]);
    if (exe.error === "PermissionDenied") warn(`${proc}/PID/exe`, "permission denied");
    const { podUid, containerId } = parseCgroup(cgroup ?? "");
    const info: ProcessInfo & { netns: string } = {
      pid,
      ...ids,
      exe: exe.target?.replace(/ \(deleted\)$/, "") ?? "",
      cmdline: (cmdline ?? "").replace(/\0+$/, "").replaceAll("\0", " "),
      ...(podUid ? { podUid } : {}),
      ...(containerId ? { containerId } : {}),
      netns: netns.target ?? `pid:${pid}`,
    };
    processes.push(info);
    const { netns: _, ...process } = info;
    const file = process.exe.split("/").at(-1) ?? "";
    for (const p of byName) {
      const what = p.comm?.test(process.comm)
        ? `comm ${JSON.stringify(process.comm)}`
        : p.exe && file && p.exe.test(file)
        ? `executable ${JSON.stringify(process.exe)}`
        : p.cmdline?.test(process.cmdline)
        ? "command line"
        : undefined;
      if (what) findings.push({ pattern: p.pattern, process, detail: what });
    }
    for (const p of setuid) {
      if (process.effectiveUid !== 0 || process.realUid === 0) continue;
      if (p.inContainer && !process.podUid) continue;
      findings.push({
        pattern: p,
        process,
        detail: `effective user root, real user ${process.realUid}`,
      });
    }
    for (const p of stdio) {
      if (!p.comm.test(process.comm)) continue;
      const [input, output] = await Promise.all([
        readLink(`${dir}/fd/0`),
        readLink(`${dir}/fd/1`),
      ]);
      if (input.error === "PermissionDenied") warn(`${proc}/PID/fd`, "permission denied");
      const a = socketInode(input.target);
      const b = socketInode(output.target);
      if (a === undefined || b === undefined) continue;
      const table = await tableOf(info.netns, pid);
      const socket = table.get(a) ?? table.get(b);
      if (!socket || socket.remotePort === 0) continue;
      findings.push({
        pattern: p.pattern,
        process,
        detail:
          `standard input and output are a connection to ${socket.remote}:${socket.remotePort}`,
      });
    }
  }

  if (connections.length === 0) return findings;
  // Connections to pool ports, by network namespace; then whose they are.
  const byNetns = new Map<string, (ProcessInfo & { netns: string })[]>();
  for (const p of processes) byNetns.set(p.netns, [...(byNetns.get(p.netns) ?? []), p]);
  for (const [netns, members] of byNetns) {
    const table = await tableOf(netns, members[0]!.pid);
    const suspicious = new Map<number, TcpSocket>();
    for (const [inode, s] of table) {
      if (poolPorts.has(s.remotePort) && SUSPICIOUS_STATES.has(s.state)) suspicious.set(inode, s);
    }
    if (suspicious.size === 0) continue;
    for (const member of members) {
      let fds: Deno.DirEntry[];
      try {
        fds = (await Array.fromAsync(Deno.readDir(`${proc}/${member.pid}/fd`))).slice(0, maxFds);
      } catch (error) {
        if (error instanceof Deno.errors.PermissionDenied) {
          warn(`${proc}/PID/fd`, "permission denied");
        }
        continue;
      }
      for (const fd of fds) {
        const inode = socketInode((await readLink(`${proc}/${member.pid}/fd/${fd.name}`)).target);
        const socket = inode === undefined ? undefined : suspicious.get(inode);
        if (!socket) continue;
        const pattern = connections.find((p) => p.remotePorts.includes(socket.remotePort))!;
        const { netns: _, ...process } = member;
        findings.push({
          pattern,
          process,
          detail: `connected to ${socket.remote}:${socket.remotePort}`,
        });
      }
    }
  }
  return findings;
}
