/**
 * `netstat`: the kernel's protocol counters and socket use, three node_exporter collectors
 * over `/proc/net`: netstat (`/proc/net/{snmp,netstat,snmp6}`, the fields of its default
 * `--collector.netstat.fields`, untyped as it exports them), sockstat (`/proc/net/sockstat`,
 * `sockstat6`) and tcpstat (`node_tcp_connection_states{state}`, counted here from
 * `/proc/net/tcp` and `tcp6`, where node_exporter asks inet_diag over netlink, which Deno
 * cannot open). Read from the host's network namespace, as the network collector explains.
 *
 * One difference with tcpstat: for a listening socket inet_diag reports the backlog limit as
 * its send queue, so node_exporter's `tx_queued_bytes` adds every listener's backlog limit
 * (4096 each by default); `/proc/net/tcp` shows 0 for them, so ours counts bytes only.
 *
 * @module
 */
import type { CollectContext, NodeCollector } from "./collector.ts";
import { readHostNet } from "./network.ts";
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

/** node_netstat_*, node_sockstat_*, node_tcp_connection_states{state}. */
export const netstatCollector: NodeCollector = {
  name: "netstat",
  description: "IP, TCP, UDP and ICMP counters, sockets in use, TCP connection states (/proc/net)",
  capabilities: {
    reads: [
      "proc/1/net/snmp",
      "proc/1/net/netstat",
      "proc/1/net/snmp6",
      "proc/1/net/sockstat",
      "proc/1/net/sockstat6",
      "proc/1/net/tcp",
      "proc/1/net/tcp6",
    ],
    optional: ["proc/1/net/snmp6", "proc/1/net/sockstat6", "proc/1/net/tcp6"],
  },
  async collect(context) {
    const out = new Families();
    let read = 0;
    for (const file of ["netstat", "snmp"]) {
      const { path, text } = await readHostNet(context, file);
      if (text === undefined) continue;
      read++;
      for (const [key, value] of parsePairs(text, (p) => context.warn(path, p))) {
        netstat(out, key, value);
      }
    }
    const snmp6 = await readHostNet(context, "snmp6", { optional: true });
    for (const line of snmp6.text?.split("\n") ?? []) {
      const [name, value] = line.trim().split(/\s+/);
      const six = name?.indexOf("6") ?? -1;
      if (six < 0) continue;
      netstat(out, `${name!.slice(0, six + 1)}_${name!.slice(six + 1)}`, toNumber(value));
    }
    for (const file of ["sockstat", "sockstat6"]) {
      const { path, text } = await readHostNet(context, file, { optional: file === "sockstat6" });
      if (text === undefined) continue;
      read++;
      sockstat(out, text, (problem) => context.warn(path, problem));
    }
    if (await tcpStates(context, out)) read++;
    if (read === 0) throw new Error(`cannot read ${context.paths.proc}/net`);
    return out.list();
  },
};

function netstat(out: Families, key: string, value: number | undefined): void {
  if (value === undefined || !NETSTAT_FIELDS.test(key)) return;
  const [protocol, name] = key.split("_", 2) as [string, string];
  out.add(`node_netstat_${key}`, `Statistic ${protocol}${name}.`, "untyped", value);
}

/**
 * The `Proto: Name Name…` / `Proto: value value…` line pairs of `/proc/net/snmp` and
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

/** Counts `/proc/net/tcp{,6}` by state, read in pieces; whether `tcp` was there. */
async function tcpStates(context: CollectContext, out: Families): Promise<boolean> {
  const counts = new Map<string, number>();
  let queued = { rx: 0, tx: 0 };
  let sockets = 0;
  let found = false;
  for (const file of ["tcp", "tcp6"]) {
    const count = (line: string) => {
      // "  0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 …"
      const fields = line.trim().split(/\s+/, 5);
      const state = TCP_STATES[parseInt(fields[3] ?? "", 16)];
      const [tx, rx] = (fields[4] ?? "").split(":").map((hex) => parseInt(hex, 16));
      if (state === undefined || tx === undefined || rx === undefined) return;
      counts.set(state, (counts.get(state) ?? 0) + 1);
      queued = { rx: queued.rx + (rx || 0), tx: queued.tx + (tx || 0) };
      sockets++;
    };
    const own = `${context.paths.proc}/1/net/${file}`;
    const fallback = `${context.paths.proc}/net/${file}`;
    try {
      if (await forEachLine(own, count) || await forEachLine(fallback, count)) found = true;
      else if (file === "tcp") context.warn(fallback, "no such file");
    } catch (error) {
      context.warn(own, error instanceof Error ? error.message : String(error));
    }
  }
  for (const [state, count] of counts) {
    out.add("node_tcp_connection_states", "Number of connection states.", "gauge", count, {
      state,
    });
  }
  if (sockets > 0) {
    out.add("node_tcp_connection_states", "Number of connection states.", "gauge", queued.rx, {
      state: "rx_queued_bytes",
    });
    out.add("node_tcp_connection_states", "Number of connection states.", "gauge", queued.tx, {
      state: "tx_queued_bytes",
    });
  }
  return found;
}
