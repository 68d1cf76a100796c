/**
 * Reading what the process watch needs of `/proc`: a process's identity (`stat`, `status`,
 * `cmdline`, `cgroup`, the `exe` and `ns/net` links), its descriptors, and its network
 * namespace's TCP tables. A process may end while it is read: every read that fails says so
 * with undefined, and the scan goes on.
 *
 * @module
 */

/** A TCP socket of a network namespace's table. */
export interface TcpSocket {
  remote: string;
  remotePort: number;
  /** The kernel's state: 1 established, 2 SYN sent, 10 listening... */
  state: number;
}

const decoder = new TextDecoder();

/** The first buffer of {@linkcode readHead}; it doubles up to the cap as the file needs. */
const FIRST_READ_BYTES = 16 << 10;

/** The first `max` bytes of a file as text, or undefined when it cannot be read. */
export async function readHead(path: string, max = 4096): Promise<string | undefined> {
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path);
    // The cap bounds the read; it is not the size to expect. A namespace's TCP tables are
    // read with a 4 MiB cap and hold a few KiB: a buffer of the cap for each cost the idle
    // daemon 8 MiB of native memory per scan, and its RSS grew by that until V8 collected.
    let buffer = new Uint8Array(Math.min(max, FIRST_READ_BYTES));
    let length = 0;
    while (length < max) {
      if (length === buffer.length) {
        const larger = new Uint8Array(Math.min(max, buffer.length * 2));
        larger.set(buffer);
        buffer = larger;
      }
      const n = await file.read(buffer.subarray(length));
      if (n === null) break;
      length += n;
    }
    return decoder.decode(buffer.subarray(0, length));
  } catch {
    return undefined;
  } finally {
    file?.close();
  }
}

/** A symbolic link's target, or the error's name (`PermissionDenied`, `NotFound`). */
export async function readLink(path: string): Promise<{ target?: string; error?: string }> {
  try {
    return { target: await Deno.readLink(path) };
  } catch (error) {
    return { error: error instanceof Error ? error.name : String(error) };
  }
}

/** An IPv4 or IPv6 address as `/proc/net/tcp` writes it (hex, words little-endian). */
function address(hex: string): string {
  if (hex.length === 8) {
    return [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(".");
  }
  const bytes: number[] = [];
  for (let word = 0; word < 4; word++) {
    const w = hex.slice(word * 8, word * 8 + 8);
    for (const i of [6, 4, 2, 0]) bytes.push(parseInt(w.slice(i, i + 2), 16));
  }
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255) {
    return bytes.slice(12).join(".");
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return `[${groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::")}]`;
}

/**
 * The sockets of `/proc/net/tcp` or `tcp6` text, by inode.
 *
 * @example Usage
 * ```ts
 * const line = "   0: 0100007F:0CEA 0100007F:D5C4 01 00000000:00000000 00:00000000 00000000     0        0 4242 1";
 * parseTcpTable(`header\n${line}\n`).get(4242); // { remote: "127.0.0.1", remotePort: 54724, state: 1 }
 * ```
 */
export function parseTcpTable(text: string): Map<number, TcpSocket> {
  const sockets = new Map<number, TcpSocket>();
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [remoteHex, portHex] = f[2]!.split(":");
    const inode = Number(f[9]);
    if (!remoteHex || !portHex || !(inode > 0)) continue;
    sockets.set(inode, {
      remote: address(remoteHex),
      remotePort: parseInt(portHex, 16),
      state: parseInt(f[3]!, 16),
    });
  }
  return sockets;
}

/** What `stat` and `status` say of a process. */
export interface ProcessIds {
  comm: string;
  ppid: number;
  /** Start time in clock ticks after boot: with the pid, a process's identity. */
  start: number;
  realUid: number;
  effectiveUid: number;
}

/** Reads `stat` and `status` of the process at `dir`; undefined when it is gone. */
export async function readIds(dir: string): Promise<ProcessIds | undefined> {
  const [stat, status] = await Promise.all([readHead(`${dir}/stat`), readHead(`${dir}/status`)]);
  if (stat === undefined || status === undefined) return undefined;
  // The command name is in parentheses and may hold spaces and parentheses itself.
  const open = stat.indexOf("(");
  const close = stat.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const rest = stat.slice(close + 2).split(" ");
  const uid = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
  if (!uid) return undefined;
  return {
    comm: stat.slice(open + 1, close),
    ppid: Number(rest[1]),
    start: Number(rest[19]),
    realUid: Number(uid[1]),
    effectiveUid: Number(uid[2]),
  };
}
