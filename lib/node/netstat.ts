/**
 * `netstat`: the kernel's protocol counters and socket use, three node_exporter collectors
 * over the host's network namespace: netstat (`/proc/net/{snmp,netstat,snmp6}`, the fields of
 * its default `--collector.netstat.fields`, untyped as it exports them), sockstat
 * (`/proc/net/sockstat`, `sockstat6`) and tcpstat (`node_tcp_connection_states{state}`).
 *
 * The TCP states are asked of the kernel's sock_diag interface, as node_exporter does,
 * where the agent is in the host's network namespace (`hostNetwork`, or on the host): it
 * costs a seventh of reading `/proc/net/tcp` (see `_sock_diag.ts`). A netlink socket sees
 * the opener's namespace, and a pod's may not be the host's; `PROC/1/ns/net` cannot be
 * compared without CAP_SYS_PTRACE. So the first collections read `PROC/1/net/tcp{,6}` (the
 * host's, as the network collector explains) and compare its listening sockets' inode numbers
 * with those sock_diag sees: the same set, the same namespace, and sock_diag is used from
 * then on. There, one difference with node_exporter remains: `/proc/net/tcp` shows 0 queued
 * for a listener where inet_diag reports its backlog limit, which node_exporter adds to
 * `tx_queued_bytes`.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import type { CollectContext, NodeCollector } from "./collector.ts";
import { readHostNet } from "./network.ts";
import { openSockDiag, type TcpDumper } from "./_sock_diag.ts";
import { Families, forEachLine, pageSize, toNumber } from "./_read.ts";

/** node_exporter's (1.12) default `--collector.netstat.fields`. */
export const NETSTAT_FIELDS =
  /^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$/;

/** The kernel's TCP states (`include/net/tcp_states.h`), by number, with tcpstat's names. */
export const TCP_STATES: Record<number, string> = {
  1: "established",
  2: "syn_sent",
  3: "syn_recv",
  4: "fin_wait1",
  5: "fin_wait2",
  6: "time_wait",
  7: "close",
  8: "close_wait",
  9: "last_ack",
  10: "listen",
  11: "closing",
};

const SOCKSTAT_FIELDS = ["inuse", "orphan", "tw", "alloc", "mem", "memory"];

/**
 * Creates the collector, with its own memory of whether sock_diag sees the host's network
 * namespace. `sockDiag` is libc's by default; `null` turns it off (tests).
 */
export function createNetstatCollector(
  options: { sockDiag?: TcpDumper | null } = {},
): NodeCollector {
  const diag: Diag = {
    dumper: options.sockDiag === undefined ? openSockDiag() : options.sockDiag ?? undefined,
    sameNamespace: undefined,
  };
  return {
    name: "netstat",
    description:
      "IP, TCP, UDP and ICMP counters, sockets in use, TCP connection states (/proc/net)",
    capabilities: {
      reads: [
        "proc/1/net/snmp",
        "proc/1/net/netstat",
        "proc/1/net/snmp6",
        "proc/1/net/sockstat",
        "proc/1/net/sockstat6",
        "proc/1/net/tcp",
        "proc/1/net/tcp6",
        "netlink sock_diag (in the host's network namespace)",
      ],
      optional: [
        "proc/1/net/snmp6",
        "proc/1/net/sockstat6",
        "proc/1/net/tcp6",
        "netlink sock_diag (in the host's network namespace)",
      ],
    },
    async collect(context) {
      const out = new Families();
      let read = 0;
      for (const file of ["netstat", "snmp"]) {
        const { path, text } = readHostNet(context, file);
        if (text === undefined) continue;
        read++;
        for (const [key, value] of parsePairs(text, (p) => context.warn(path, p))) {
          netstat(out, key, value);
        }
      }
      const snmp6 = readHostNet(context, "snmp6", { optional: true });
      for (const line of snmp6.text?.split("\n") ?? []) {
        const [name, value] = line.trim().split(/\s+/);
        const six = name?.indexOf("6") ?? -1;
        if (six < 0) continue;
        netstat(out, `${name!.slice(0, six + 1)}_${name!.slice(six + 1)}`, toNumber(value));
      }
      for (const file of ["sockstat", "sockstat6"]) {
        const { path, text } = readHostNet(context, file, { optional: file === "sockstat6" });
        if (text === undefined) continue;
        read++;
        sockstat(out, text, (problem) => context.warn(path, problem));
      }
      if (await tcpStates(context, out, diag)) read++;
      if (read === 0) throw new Error(`cannot read ${context.paths.proc}/net`);
      return out.list();
    },
  };
}

/** sock_diag, and whether it sees the host's namespace (`undefined` until known). */
interface Diag {
  dumper: TcpDumper | undefined;
  sameNamespace: boolean | undefined;
}

function netstat(out: Families, key: string, value: number | undefined): void {
  if (value === undefined || !NETSTAT_FIELDS.test(key)) return;
  const [protocol, name] = key.split("_", 2) as [string, string];
  out.add(`node_netstat_${key}`, `Statistic ${protocol}${name}.`, "untyped", value);
}

/**
 * The `Proto: Name Name...` / `Proto: value value...` line pairs of `/proc/net/snmp` and
 * `netstat`, as `Proto_Name` and value. A pair whose counts differ is reported and skipped.
 */
export function parsePairs(text: string, bad: (problem: string) => void): Map<string, number> {
  const values = new Map<string, number>();
  const lines = text.split("\n").filter((line) => line.trim() !== "");
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i]!.trim().split(/\s+/);
    const numbers = lines[i + 1]!.trim().split(/\s+/);
    const protocol = names[0]!.replace(/:$/, "");
    if (names.length !== numbers.length || numbers[0] !== names[0]) {
      bad(`field count mismatch for ${protocol}`);
      continue;
    }
    for (let j = 1; j < names.length; j++) {
      const value = toNumber(numbers[j]);
      if (value !== undefined) values.set(`${protocol}_${names[j]}`, value);
    }
  }
  return values;
}

function sockstat(out: Families, text: string, bad: (problem: string) => void): void {
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const [head, ...rest] = line.trim().split(/\s+/);
    const protocol = head?.replace(/:$/, "") ?? "";
    const fields = new Map<string, number>();
    for (let i = 0; i + 1 < rest.length; i += 2) {
      const value = toNumber(rest[i + 1]);
      if (value === undefined) bad(`malformed line "${line.slice(0, 80)}"`);
      else fields.set(rest[i]!, value);
    }
    if (protocol === "sockets") {
      const used = fields.get("used");
      if (used !== undefined) {
        out.add(
          "node_sockstat_sockets_used",
          "Number of IPv4 sockets in use.",
          "gauge",
          used,
        );
      }
      continue;
    }
    const mem = fields.get("mem");
    if (mem !== undefined) fields.set("mem_bytes", mem * pageSize());
    for (const field of [...SOCKSTAT_FIELDS, "mem_bytes"]) {
      const value = fields.get(field);
      if (value === undefined) continue;
      out.add(
        `node_sockstat_${protocol}_${field}`,
        `Number of ${protocol} sockets in state ${field}.`,
        "gauge",
        value,
      );
    }
  }
}

/** Adds node_tcp_connection_states; whether there were TCP sockets to read. */
async function tcpStates(context: CollectContext, out: Families, diag: Diag): Promise<boolean> {
  let counts: TcpCounts | undefined;
  if (diag.dumper && diag.sameNamespace) {
    try {
      counts = { states: new Map(), rx: 0, tx: 0, sockets: 0, listeners: new Set() };
      for (const family of [2, 10] as const) {
        const dump = diag.dumper(family);
        for (const [number, count] of dump.states) {
          const state = TCP_STATES[number] ?? "unknown";
          counts.states.set(state, (counts.states.get(state) ?? 0) + count);
          counts.sockets += count;
        }
        counts.rx += dump.rxQueued;
        counts.tx += dump.txQueued;
      }
    } catch (error) {
      context.warn("sock_diag", `${errorMessage(error)}: reading /proc/net/tcp instead`);
      diag.sameNamespace = false;
      counts = undefined;
    }
  }
  if (!counts) {
    counts = await procTcp(context);
    if (!counts) return false;
    if (diag.dumper && diag.sameNamespace === undefined && counts.listeners.size > 0) {
      try {
        const seen = new Set([
          ...diag.dumper(2, true).listeners,
          ...diag.dumper(10, true).listeners,
        ]);
        diag.sameNamespace = seen.size === counts.listeners.size &&
          [...seen].every((inode) => counts!.listeners.has(inode));
      } catch {
        diag.sameNamespace = false;
      }
    }
  }
  for (const [state, count] of counts.states) {
    out.add("node_tcp_connection_states", "Number of connection states.", "gauge", count, {
      state,
    });
  }
  if (counts.sockets > 0) {
    out.add("node_tcp_connection_states", "Number of connection states.", "gauge", counts.rx, {
      state: "rx_queued_bytes",
    });
    out.add("node_tcp_connection_states", "Number of connection states.", "gauge", counts.tx, {
      state: "tx_queued_bytes",
    });
  }
  return true;
}

/** Sockets by state name, bytes queued, and the listeners' inode numbers. */
interface TcpCounts {
  states: Map<string, number>;
  rx: number;
  tx: number;
  sockets: number;
  listeners: Set<number>;
}

/** Counts `PROC/1/net/tcp{,6}` by state, read in pieces; `undefined` without `tcp`. */
async function procTcp(context: CollectContext): Promise<TcpCounts | undefined> {
  const counts: TcpCounts = { states: new Map(), rx: 0, tx: 0, sockets: 0, listeners: new Set() };
  let found = false;
  for (const file of ["tcp", "tcp6"]) {
    const count = (line: string) => {
      // "  0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1076 ..."
      const fields = line.trim().split(/\s+/, 10);
      const number = parseInt(fields[3] ?? "", 16);
      const state = TCP_STATES[number];
      const [tx, rx] = (fields[4] ?? "").split(":").map((hex) => parseInt(hex, 16));
      if (state === undefined || tx === undefined || rx === undefined) return;
      counts.states.set(state, (counts.states.get(state) ?? 0) + 1);
      counts.rx += rx || 0;
      counts.tx += tx || 0;
      counts.sockets++;
      const inode = Number(fields[9]);
      if (state === "listen" && inode > 0) counts.listeners.add(inode);
    };
    const own = `${context.paths.proc}/1/net/${file}`;
    const fallback = `${context.paths.proc}/net/${file}`;
    try {
      if (await forEachLine(own, count) || await forEachLine(fallback, count)) found = true;
      else if (file === "tcp") context.warn(fallback, "no such file");
    } catch (error) {
      context.warn(own, errorMessage(error));
    }
  }
  return found ? counts : undefined;
}
