/**
 * TCP sockets by state from the kernel's sock_diag netlink interface (inet_diag), as
 * node_exporter's tcpstat collector asks for them, through libc by Deno's FFI (Deno opens no
 * netlink socket). Measured on this project's CI host with a thousand sockets in TIME_WAIT:
 * 0.7 ms of CPU for IPv4 and IPv6, where reading `/proc/net/tcp` and `tcp6` costs 5.4 ms
 * (the kernel formats every socket as text, and walks its whole hash table for each file).
 *
 * A netlink socket sees the network namespace of the process that opens it: the caller makes
 * sure it is the host's (netstat.ts).
 *
 * @module
 */

/** What a dump of one address family gave. */
export interface TcpDump {
  /** Sockets by the kernel's state number (1 established ... 11 closing). */
  states: Map<number, number>;
  /** Bytes queued to be read, and to be sent (a listener's: its backlog limit). */
  rxQueued: number;
  txQueued: number;
  /** Inode numbers of the listening sockets: they tell one network namespace from another. */
  listeners: Set<number>;
}

/** Dumps the TCP sockets of one address family (`AF_INET` 2, `AF_INET6` 10). */
export type TcpDumper = (family: 2 | 10, onlyListeners?: boolean) => TcpDump;

const AF_NETLINK = 16;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_SOCK_DIAG = 4;
const SOCK_DIAG_BY_FAMILY = 20;
const NLM_F_REQUEST = 1;
const NLM_F_DUMP = 0x300;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const MSG_DONTWAIT = 0x40;
const IPPROTO_TCP = 6;
/** Every state, 1 to 11 (TCPF_ALL without request sockets, as node_exporter asks). */
const ALL_STATES = 0xfff;
const LISTEN = 10;
/** A dump larger than this many messages is cut short (a bound, not an expected size). */
const MAX_SOCKETS = 4_000_000;

/**
 * Opens libc's socket calls, or `undefined` where they cannot be had (not Linux x86_64 or
 * arm64, no `libc.so.6`, no FFI permission).
 */
export function openSockDiag(): TcpDumper | undefined {
  if (Deno.build.os !== "linux" || !["x86_64", "aarch64"].includes(Deno.build.arch)) {
    return undefined;
  }
  let libc;
  try {
    libc = Deno.dlopen(
      "libc.so.6",
      {
        socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
        send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
        recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
        close: { parameters: ["i32"], result: "i32" },
      } as const,
    ).symbols;
  } catch {
    return undefined;
  }
  const { socket, send, recv, close } = libc;
  const buffer = new Uint8Array(64 * 1024);
  const view = new DataView(buffer.buffer);
  return (family, onlyListeners = false) => {
    const fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) throw new Error("cannot open a sock_diag netlink socket");
    try {
      // struct nlmsghdr, then struct inet_diag_req_v2 with a zero socket id: every socket.
      const request = new Uint8Array(72);
      const req = new DataView(request.buffer);
      req.setUint32(0, request.length, true);
      req.setUint16(4, SOCK_DIAG_BY_FAMILY, true);
      req.setUint16(6, NLM_F_REQUEST | NLM_F_DUMP, true);
      req.setUint32(8, 1, true);
      request[16] = family;
      request[17] = IPPROTO_TCP;
      req.setUint32(20, onlyListeners ? 1 << LISTEN : ALL_STATES, true);
      if (Number(send(fd, request, BigInt(request.length), 0)) !== request.length) {
        throw new Error("cannot send a sock_diag request");
      }
      const dump: TcpDump = { states: new Map(), rxQueued: 0, txQueued: 0, listeners: new Set() };
      let sockets = 0;
      for (;;) {
        // The kernel makes each part of a dump before recv returns: it never has to wait.
        const read = Number(recv(fd, buffer, BigInt(buffer.length), MSG_DONTWAIT));
        if (read <= 0) throw new Error("sock_diag dump ended early");
        for (let at = 0; at + 16 <= read;) {
          const length = view.getUint32(at, true);
          const type = view.getUint16(at + 4, true);
          if (type === NLMSG_DONE) return dump;
          if (type === NLMSG_ERROR) {
            throw new Error(`sock_diag answered errno ${-view.getInt32(at + 16, true)}`);
          }
          if (length < 16 + 72 || at + length > read) {
            throw new Error("malformed sock_diag message");
          }
          // struct inet_diag_msg: family, state, timer, retrans, id (48 bytes), expires,
          // rqueue, wqueue, uid, inode.
          const message = at + 16;
          const state = buffer[message + 1]!;
          dump.states.set(state, (dump.states.get(state) ?? 0) + 1);
          dump.rxQueued += view.getUint32(message + 56, true);
          dump.txQueued += view.getUint32(message + 60, true);
          if (state === LISTEN) dump.listeners.add(view.getUint32(message + 68, true));
          if (++sockets > MAX_SOCKETS) return dump;
          at += (length + 3) & ~3;
        }
      }
    } finally {
      close(fd);
    }
  };
}
